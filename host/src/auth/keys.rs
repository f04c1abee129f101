//! A provider's keys, each pinned to the one algorithm it verifies: from a JWKS document (on
//! disk, or at a URL fetched when first needed, kept for an hour and fetched again early — at
//! most every [`REFETCH_AFTER`] — when a token names a key id it lacks, as a provider that
//! rotates its keys publishes the new one before it signs with it), or an HS256 secret.
//! Symmetric keys are never taken from a JWKS, and a JWKS key whose declared algorithm does not
//! fit its type is left out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// How long fetched keys are trusted before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);

/// The soonest a JWKS URL is fetched again after the last attempt: tokens naming unknown key
/// ids cannot make the host hammer its provider.
pub const REFETCH_AFTER: Duration = Duration::from_secs(5);

/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a provider's keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A JWKS document on disk, read when the host starts.
    JwksFile(PathBuf),
    /// A JWKS document at this URL.
    JwksUrl(String),
    /// HMAC-SHA256 with this shared secret: for development, where the tokens are made locally.
    Hs256(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::JwksFile(path) => write!(f, "JwksFile({})", path.display()),
            KeySource::JwksUrl(url) => write!(f, "JwksUrl({url})"),
            // The secret never shows, not even in a debug dump of the settings.
            KeySource::Hs256(_) => f.write_str("Hs256(<secret>)"),
        }
    }
}

/// One key and the algorithm it verifies.
pub struct PinnedKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The keys of one provider, fetched again as the source calls for.
pub struct Keys {
    url: Option<String>,
    http: reqwest::Client,
    state: tokio::sync::Mutex<Fetched>,
}

#[derive(Default)]
struct Fetched {
    keys: Vec<Arc<PinnedKey>>,
    /// When the keys were last fetched, if they come from a URL.
    at: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    tried: Option<Instant>,
}

impl Keys {
    /// The keys of `source`: a file and a secret are read now (an error names what is wrong);
    /// a URL is fetched when first needed.
    pub fn new(source: &KeySource) -> Result<Keys, String> {
        let (keys, url) = match source {
            KeySource::JwksFile(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?;
                let keys = parse_jwks(&text)
                    .map_err(|e| format!("the JWKS file {}: {e}", path.display()))?;
                (keys, None)
            }
            KeySource::JwksUrl(url) => (Vec::new(), Some(url.clone())),
            KeySource::Hs256(secret) => {
                let key = DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|e| format!("the HS256 secret: {e}"))?;
                (vec![PinnedKey { kid: None, algorithm: Algorithm::HS256, key }], None)
            }
        };
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let keys = keys.into_iter().map(Arc::new).collect();
        let fetched = Fetched { keys, ..Fetched::default() };
        Ok(Keys { url, http, state: tokio::sync::Mutex::new(fetched) })
    }

    /// The key a token with key id `kid` is checked with, fetching the provider's keys first
    /// when they are missing, old, or lack that id (and were not just fetched).
    pub async fn find(&self, kid: Option<&str>) -> Option<Arc<PinnedKey>> {
        let mut state = self.state.lock().await;
        let found = pick(&state.keys, kid);
        let Some(url) = &self.url else {
            return found;
        };
        let stale = state.at.is_none_or(|at| at.elapsed() > KEYS_TTL);
        let may_fetch = state.tried.is_none_or(|tried| tried.elapsed() >= REFETCH_AFTER);
        if (found.is_none() || stale) && may_fetch {
            state.tried = Some(Instant::now());
            match self.fetch(url).await {
                Ok(keys) => {
                    state.keys = keys.into_iter().map(Arc::new).collect();
                    state.at = Some(Instant::now());
                }
                Err(e) => tracing::warn!(url = %url, error = %e, "fetching a JWKS failed"),
            }
        }
        pick(&state.keys, kid)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<PinnedKey>, String> {
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        parse_jwks(&response.text().await.map_err(|e| e.to_string())?)
    }
}

/// The key for `kid`: the one with that id, or the only key when the token names none.
fn pick(keys: &[Arc<PinnedKey>], kid: Option<&str>) -> Option<Arc<PinnedKey>> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

/// The signing keys of a JWKS document, each pinned to its algorithm.
pub fn parse_jwks(text: &str) -> Result<Vec<PinnedKey>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let keys: Vec<PinnedKey> = set
        .keys
        .iter()
        .filter(|jwk| jwk.common.public_key_use != Some(PublicKeyUse::Encryption))
        .filter_map(|jwk| {
            let algorithm = pinned_algorithm(&jwk.algorithm, jwk.common.key_algorithm)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(PinnedKey { kid: jwk.common.key_id.clone(), algorithm, key })
        })
        .collect();
    if keys.is_empty() {
        return Err(
            "it holds no public signing key Eddy can use (RSA, EC P-256/P-384, Ed25519)".into()
        );
    }
    Ok(keys)
}

/// The one algorithm a JWKS key verifies: the one it declares, if it fits the key's type, or
/// the usual one for its type. None for symmetric keys and keys that do not fit.
fn pinned_algorithm(
    params: &AlgorithmParameters,
    declared: Option<KeyAlgorithm>,
) -> Option<Algorithm> {
    use KeyAlgorithm as K;
    match (params, declared) {
        (AlgorithmParameters::RSA(_), None | Some(K::RS256)) => Some(Algorithm::RS256),
        (AlgorithmParameters::RSA(_), Some(K::RS384)) => Some(Algorithm::RS384),
        (AlgorithmParameters::RSA(_), Some(K::RS512)) => Some(Algorithm::RS512),
        (AlgorithmParameters::RSA(_), Some(K::PS256)) => Some(Algorithm::PS256),
        (AlgorithmParameters::RSA(_), Some(K::PS384)) => Some(Algorithm::PS384),
        (AlgorithmParameters::RSA(_), Some(K::PS512)) => Some(Algorithm::PS512),
        (AlgorithmParameters::EllipticCurve(ec), None | Some(K::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        (AlgorithmParameters::EllipticCurve(ec), None | Some(K::ES384))
            if ec.curve == EllipticCurve::P384 =>
        {
            Some(Algorithm::ES384)
        }
        (AlgorithmParameters::OctetKeyPair(okp), None | Some(K::EdDSA))
            if okp.curve == EllipticCurve::Ed25519 =>
        {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    }
}
