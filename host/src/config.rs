//! `eddy.toml`: the host's settings — where it listens and keeps its data, the identity
//! providers whose tokens it accepts, who may use the operator endpoints, which browser origins
//! may call it, and its limits (`config/limits.rs`). Read strictly like
//! `plugin.toml` (`toml_file.rs`): an unknown key or a bad value stops the host with the file,
//! the line and the reason. Relative paths are taken from the file's folder. Flags on the
//! command line override what the file says ([`Config::apply`] runs first). The reference is
//! in the README.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::{KeySource, ProviderConfig};
use crate::edge::cors::validate_origin;
use crate::edge::{AdminAccess, AllowedOrigins, CorsPolicy};
use crate::serve::ServeOptions;
use crate::toml_file::{FileError, TomlFile};

mod limits;
use limits::{RawDelivery, RawLimits, RawStreams};

/// The name of the file the host looks for in its working directory.
pub const FILE_NAME: &str = "eddy.toml";

/// Shortest admin token accepted: a short one can be guessed by trying.
const MIN_TOKEN_LEN: usize = 16;

/// Shortest HS256 secret accepted: 256 bits, the size of the hash.
const MIN_SECRET_LEN: usize = 32;

/// Largest clock leeway a provider may allow, in seconds.
const MAX_LEEWAY_SECS: u64 = 300;

/// A validated `eddy.toml`: each setting it gives, none for those it leaves out.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub plugins: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub memory: Option<bool>,
    /// The shared store's PostgreSQL URL.
    pub state: Option<String>,
    pub admin: Option<AdminAccess>,
    pub cors: Option<CorsPolicy>,
    /// The identity providers, in name order.
    pub auth: Option<Vec<ProviderConfig>>,
    limits: RawLimits,
    delivery: RawDelivery,
    streams: RawStreams,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    plugins: Option<String>,
    data: Option<String>,
    memory: Option<bool>,
    state: Option<Spanned<String>>,
    admin: Option<RawAdmin>,
    cors: Option<RawCors>,
    auth: Option<RawAuth>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    streams: RawStreams,
}

/// `[admin]`: the token operators send; given in the file or, better, named by an environment
/// variable so the file holds no secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    token: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
}

/// `[auth]`: the identity providers whose tokens the host accepts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    providers: BTreeMap<String, RawProvider>,
}

/// `[auth.providers.NAME]`: an issuer, its audiences, and exactly one source of keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
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

/// `[cors]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    allow_origins: Spanned<Vec<String>>,
    allow_headers: Option<Vec<String>>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    allow_credentials: bool,
    max_age_secs: Option<u64>,
}

impl Config {
    /// The file `--config` names, or `eddy.toml` in the working directory if there is one, or
    /// no settings at all.
    pub fn find(explicit: Option<&Path>) -> Result<Config, FileError> {
        match explicit {
            Some(path) => Config::load(path),
            None if Path::new(FILE_NAME).is_file() => Config::load(Path::new(FILE_NAME)),
            None => Ok(Config::default()),
        }
    }

    /// Reads and validates the file at `path`; environment variables it names are read now.
    pub fn load(path: &Path) -> Result<Config, FileError> {
        let text = TomlFile::read(path)?;
        Config::parse(path, &text, |name| std::env::var(name).ok())
    }

    /// Validates `text` (from `path`, which anchors relative paths), looking up environment
    /// variables with `env`.
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, FileError> {
        let file = TomlFile { path, text };
        let raw: RawConfig = file.parse()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let listen = match raw.listen {
            Some(listen) => Some(listen.get_ref().parse().map_err(|_| {
                file.error(
                    Some(listen.span()),
                    format!(
                        "listen {:?} must be an address like \"0.0.0.0:3111\"",
                        listen.get_ref()
                    ),
                )
            })?),
            None => None,
        };
        let state = raw.state.map(|url| state_url(&file, url)).transpose()?;
        let admin = raw.admin.map(|admin| admin_access(&file, admin, &env)).transpose()?;
        let cors = raw.cors.map(|cors| cors_policy(&file, cors)).transpose()?;
        let auth = match raw.auth {
            Some(auth) => Some(
                auth.providers
                    .into_iter()
                    .map(|(name, provider)| auth_provider(&file, dir, name, provider, &env))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        limits::check(&file, &raw.limits, &raw.delivery, &raw.streams)?;
        Ok(Config {
            listen,
            plugins: raw.plugins.map(|p| dir.join(p)),
            data: raw.data.map(|d| dir.join(d)),
            memory: raw.memory,
            state,
            admin,
            cors,
            auth,
            limits: raw.limits,
            delivery: raw.delivery,
            streams: raw.streams,
        })
    }

    /// Writes the settings the file gives into `options`.
    pub fn apply(&self, options: &mut ServeOptions) {
        if let Some(listen) = self.listen {
            options.listen = listen;
        }
        if let Some(plugins) = &self.plugins {
            options.plugins = plugins.clone();
        }
        if let Some(data) = &self.data {
            options.data = data.clone();
        }
        if let Some(memory) = self.memory {
            options.memory = memory;
        }
        if let Some(state) = &self.state {
            options.state = Some(state.clone());
        }
        if let Some(admin) = &self.admin {
            options.admin = admin.clone();
        }
        if let Some(cors) = &self.cors {
            options.cors = cors.clone();
        }
        if let Some(auth) = &self.auth {
            options.auth = auth.clone();
        }
        limits::apply(&self.limits, &self.delivery, &self.streams, options);
    }
}

fn admin_access(
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

fn auth_provider(
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

fn cors_policy(file: &TomlFile<'_>, cors: RawCors) -> Result<CorsPolicy, FileError> {
    let span = cors.allow_origins.span();
    let origins = cors.allow_origins.into_inner();
    let allow_origins = if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return Err(file.error(Some(span), "\"*\" allows every origin: list nothing else"));
        }
        if cors.allow_credentials {
            return Err(file.error(
                Some(span),
                "browsers refuse credentials with \"*\": list the origins that send them",
            ));
        }
        AllowedOrigins::Any
    } else {
        let origins: Result<Vec<String>, String> =
            origins.iter().map(|o| validate_origin(o)).collect();
        AllowedOrigins::List(origins.map_err(|m| file.error(Some(span.clone()), m))?)
    };
    let defaults = CorsPolicy::default();
    let lower = |names: Vec<String>| names.iter().map(|n| n.to_ascii_lowercase()).collect();
    Ok(CorsPolicy {
        allow_origins,
        allow_headers: cors.allow_headers.map_or(defaults.allow_headers, lower),
        expose_headers: lower(cors.expose_headers),
        allow_credentials: cors.allow_credentials,
        max_age: cors.max_age_secs.map_or(defaults.max_age, Duration::from_secs),
    })
}

/// `state = "postgres://USER@HOST/DB"`: a PostgreSQL URL the client library accepts.
fn state_url(file: &TomlFile, url: Spanned<String>) -> Result<String, FileError> {
    let text = url.get_ref();
    let postgres = text.starts_with("postgres://") || text.starts_with("postgresql://");
    if !postgres || text.parse::<tokio_postgres::Config>().is_err() {
        return Err(file.error(
            Some(url.span()),
            "state must be a PostgreSQL URL like \"postgres://eddy@127.0.0.1:5432/eddy\" \
             (leave it out for the embedded store under data)",
        ));
    }
    Ok(url.into_inner())
}

#[cfg(test)]
mod tests;
