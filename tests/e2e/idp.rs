//! A test identity provider: Ed25519 keys made in the test, its JWKS served over HTTP on
//! 127.0.0.1 (the keys it publishes can change, as a provider's do when it rotates them), and
//! tokens signed with any of its keys — or forged in the ways attackers try.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use eddy::auth::{KeySource, ProviderConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ISSUER: &str = "https://id.eddy.test/";
pub const AUDIENCE: &str = "eddy-e2e";

/// One signing key and its id.
pub struct Key {
    pub kid: &'static str,
    signing: SigningKey,
}

impl Key {
    /// A fresh Ed25519 key.
    pub fn new(kid: &'static str) -> Key {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random bytes");
        Key { kid, signing: SigningKey::from_bytes(&seed) }
    }

    /// The public half, as a JWKS lists it.
    pub fn jwk(&self) -> Value {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA", "use": "sig" })
    }

    /// `claims` signed with this key, naming it.
    pub fn sign(&self, claims: &Value) -> String {
        let der = self.signing.to_pkcs8_der().expect("a PKCS#8 key");
        let header = Header { kid: Some(self.kid.into()), ..Header::new(Algorithm::EdDSA) };
        encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("a token")
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970").as_secs()
}

/// The claims of a good token for `subject`, valid for `ttl`.
pub fn claims(subject: &str, ttl: Duration) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": now(),
        "exp": now() + ttl.as_secs(),
        "role": "tester",
    })
}

/// A provider on 127.0.0.1 serving the JWKS of the keys it publishes.
pub struct Provider {
    pub url: String,
    published: Arc<Mutex<Value>>,
    /// JWKS requests served.
    pub fetches: Arc<Mutex<usize>>,
}

impl Provider {
    /// Starts serving a JWKS of `keys`.
    pub async fn start(keys: &[&Key]) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(Value::Null));
        let fetches = Arc::new(Mutex::new(0));
        let provider = Provider { url, published: published.clone(), fetches: fetches.clone() };
        provider.publish(keys);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = published.lock().unwrap().to_string();
                *fetches.lock().unwrap() += 1;
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        provider
    }

    /// Publishes `keys` from now on.
    pub fn publish(&self, keys: &[&Key]) {
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        *self.published.lock().unwrap() = json!({ "keys": jwks });
    }

    /// The host's configuration of this provider.
    pub fn config(&self) -> ProviderConfig {
        ProviderConfig {
            name: "test-idp".into(),
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            keys: KeySource::JwksUrl(self.url.clone()),
            leeway: Duration::from_secs(5),
        }
    }
}

/// A token whose header says `alg: none`, unsigned.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// A token signed with HMAC keyed by `key`'s public bytes, naming `key`: the algorithm
/// confusion attack.
pub fn hmac_with_public_key(key: &Key, claims: &Value) -> String {
    let header = Header { kid: Some(key.kid.into()), ..Header::new(Algorithm::HS256) };
    let secret = key.jwk()["x"].as_str().unwrap().to_owned();
    let secret = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
    encode(&header, claims, &secret).expect("a token")
}
