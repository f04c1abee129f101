//! The identity settings of `eddy.toml`: `[admin]` (the operators' token) and the providers of
//! `[auth.providers.NAME]`, checked as `config.rs` reads the file.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::{KeySource, ProviderConfig};
use crate::edge::AdminAccess;
use crate::toml_file::{FileError, TomlFile};

/// Shortest admin token accepted: a short one can be guessed by trying.
const MIN_TOKEN_LEN: usize = 16;

/// Shortest HS256 secret accepted: 256 bits, the size of the hash.
const MIN_SECRET_LEN: usize = 32;

/// Largest clock leeway a provider may allow, in seconds.
const MAX_LEEWAY_SECS: u64 = 300;
/// `[admin]`: the token operators send; given in the file or, better, named by an environment
/// variable so the file holds no secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    token: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
}

/// `[auth.providers.NAME]`: an issuer, its audiences, and exactly one source of keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    issuer: Spanned<String>,
    audience: Spanned<OneOrMany>,
    jwks_url: Option<Spanned<String>>,
    jwks_file: Option<Spanned<String>>,
    hs256_secret: Option<Spanned<String>>,
    hs256_secret_env: Option<Spanned<String>>,
    leeway_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}
pub(super) fn admin_access(
    file: &TomlFile<'_>,
    admin: RawAdmin,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<AdminAccess, FileError> {
    let (token, span) = match (admin.token, admin.token_env) {
        (Some(token), None) => (token.get_ref().clone(), token.span()),
        (None, Some(name)) => {
            let token = env(name.get_ref()).ok_or_else(|| {
                let message = format!("token_env names {:?}, which is not set", name.get_ref());
                file.error(Some(name.span()), message)
            })?;
            (token, name.span())
        }
        (None, None) => {
            return Err(file.error(None, "[admin] needs token or token_env"));
        }
        (Some(_), Some(name)) => {
            return Err(file.error(Some(name.span()), "give token or token_env, not both"));
        }
    };
    if token.chars().count() < MIN_TOKEN_LEN || token.chars().any(|c| c.is_whitespace()) {
        let message = format!(
            "the admin token must be at least {MIN_TOKEN_LEN} characters, without spaces (e.g. \
             the output of `openssl rand -hex 32`)"
        );
        return Err(file.error(Some(span), message));
    }
    Ok(AdminAccess { token: Some(token) })
}

pub(super) fn auth_provider(
    file: &TomlFile<'_>,
    dir: &Path,
    name: String,
    raw: RawProvider,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ProviderConfig, FileError> {
    let issuer_span = raw.issuer.span();
    let issuer = raw.issuer.into_inner();
    if issuer.is_empty() {
        return Err(file.error(Some(issuer_span), "issuer must be the tokens' `iss`, exactly"));
    }
    let audience_span = raw.audience.span();
    let audiences = match raw.audience.into_inner() {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    };
    if audiences.is_empty() || audiences.iter().any(String::is_empty) {
        return Err(file.error(
            Some(audience_span),
            "audience must name this API as the provider's tokens do (their `aud`)",
        ));
    }
    let mut sources = Vec::new();
    if let Some(url) = raw.jwks_url {
        let span = url.span();
        let url = url.into_inner();
        check_jwks_url(&url).map_err(|m| file.error(Some(span.clone()), m))?;
        sources.push((span, KeySource::JwksUrl(url)));
    }
    if let Some(path) = raw.jwks_file {
        sources.push((path.span(), KeySource::JwksFile(dir.join(path.into_inner()))));
    }
    for (secret, from_env) in [(raw.hs256_secret, false), (raw.hs256_secret_env, true)] {
        let Some(secret) = secret else { continue };
        let span = secret.span();
        let value = if from_env {
            env(secret.get_ref()).ok_or_else(|| {
                let message =
                    format!("hs256_secret_env names {:?}, which is not set", secret.get_ref());
                file.error(Some(span.clone()), message)
            })?
        } else {
            secret.into_inner()
        };
        if value.len() < MIN_SECRET_LEN {
            let message = format!("an HS256 secret must be at least {MIN_SECRET_LEN} bytes");
            return Err(file.error(Some(span), message));
        }
        sources.push((span, KeySource::Hs256(value)));
    }
    let keys = match sources.len() {
        1 => sources.remove(0).1,
        0 => {
            let message = format!(
                "auth provider {name:?} needs its keys: jwks_url, jwks_file or (for development) \
                 hs256_secret_env"
            );
            return Err(file.error(Some(issuer_span), message));
        }
        _ => {
            let message = "give one of jwks_url, jwks_file, hs256_secret and hs256_secret_env";
            return Err(file.error(Some(sources.swap_remove(1).0), message));
        }
    };
    let leeway = match raw.leeway_secs {
        Some(secs) if *secs.get_ref() > MAX_LEEWAY_SECS => {
            let message = format!("leeway_secs must be at most {MAX_LEEWAY_SECS}");
            return Err(file.error(Some(secs.span()), message));
        }
        Some(secs) => Duration::from_secs(*secs.get_ref()),
        None => Duration::from_secs(30),
    };
    Ok(ProviderConfig { name, issuer, audiences, keys, leeway })
}

/// A JWKS URL: HTTPS, or plain HTTP only to this machine (a local identity provider).
fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("jwks_url {url:?}: {e}"))?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(format!("jwks_url {url:?} must be https (plain http only to this machine)")),
    }
}
