//! [`Authenticator`]: the configured providers, and the check of one token. A token is taken
//! to the provider named by its issuer, checked with the provider's key for its key id — with
//! that key's algorithm only — and then for its issuer, audience, subject, expiry and
//! not-before time (within the provider's leeway). Whatever fails, the caller hears why in
//! terms that never echo the token.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::Value;

use super::identity::Identity;
use super::keys::{KeySource, Keys};

/// One identity provider, as `[auth.providers.NAME]` configures it.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// A token must name at least one of these in `aud`.
    pub audiences: Vec<String>,
    pub keys: KeySource,
    /// Clock difference allowed when checking `exp` and `nbf`.
    pub leeway: Duration,
}

/// Why a token was not accepted. Every one of these is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a JSON Web Token Eddy accepts (a signed JWT, not alg none)")]
    Malformed,
    #[error("no identity provider of this host issues the token's issuer")]
    UnknownIssuer,
    #[error("the token's key is not one of its provider's keys")]
    UnknownKey,
    #[error("the token is signed with another algorithm than its key's")]
    WrongAlgorithm,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this host (audience)")]
    WrongAudience,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token lacks a claim it needs (exp, sub, iss and aud)")]
    MissingClaim,
    #[error("the token is invalid")]
    Invalid,
}

struct Provider {
    config: ProviderConfig,
    keys: Keys,
}

/// The host's identity providers. Cheap to clone.
#[derive(Clone, Default)]
pub struct Authenticator {
    providers: Arc<Vec<Provider>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.providers.iter().map(|p| p.config.name.as_str()).collect();
        f.debug_struct("Authenticator").field("providers", &names).finish()
    }
}

impl Authenticator {
    /// The providers of `configs`; their key files are read now.
    pub fn new(configs: &[ProviderConfig]) -> Result<Authenticator, String> {
        let providers = configs
            .iter()
            .map(|config| {
                let keys = Keys::new(&config.keys)
                    .map_err(|e| format!("auth provider {}: {e}", config.name))?;
                Ok(Provider { config: config.clone(), keys })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Authenticator { providers: Arc::new(providers) })
    }

    /// Whether any provider is configured (without one, no token can be checked).
    pub fn is_configured(&self) -> bool {
        !self.providers.is_empty()
    }

    /// The identity `token` proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        #[derive(serde::Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        // Only to pick the provider: everything is checked against its keys below.
        let unverified = jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
            .map_err(|_| AuthError::Malformed)?;
        let issuer = unverified.iss.ok_or(AuthError::MissingClaim)?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.config.issuer == issuer)
            .ok_or(AuthError::UnknownIssuer)?;
        let key = provider.keys.find(header.kid.as_deref()).await.ok_or(AuthError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(AuthError::WrongAlgorithm);
        }
        let config = &provider.config;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&config.audiences);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        let data = decode::<Value>(token, &key.key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
            ErrorKind::MissingRequiredClaim(_) => AuthError::MissingClaim,
            ErrorKind::InvalidIssuer => AuthError::UnknownIssuer,
            _ => AuthError::Invalid,
        })?;
        let claims = data.claims;
        let subject = claims["sub"].as_str().ok_or(AuthError::MissingClaim)?.to_owned();
        let expires_at = claims["exp"].as_u64().ok_or(AuthError::MissingClaim)?;
        Ok(Identity { provider: config.name.clone(), subject, issuer, expires_at, claims })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value, if it is one.
pub fn bearer_token(authorization: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(authorization).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
