//! `eddy.toml`: the host's settings — where it listens and keeps its data, the identity
//! providers whose tokens it accepts, who may use the operator endpoints, which browser origins
//! may call it, and its limits (`config/limits.rs`). Read strictly like
//! `plugin.toml` (`toml_file.rs`): an unknown key or a bad value stops the host with the file,
//! the line and the reason. Relative paths are taken from the file's folder. Flags on the
//! command line override what the file says ([`Config::apply`] runs first). The reference is
//! in the README. `identity.rs` reads the `[admin]` and `[auth]` sections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::ProviderConfig;
use crate::edge::cors::validate_origin;
use crate::edge::{AdminAccess, AllowedOrigins, CorsPolicy};
use crate::serve::ServeOptions;
use crate::state::QuotaLimits;
use crate::toml_file::{FileError, TomlFile};
use identity::{RawAdmin, RawProvider, admin_access, auth_provider};

mod identity;

mod limits;
use limits::{RawDelivery, RawLimits, RawQuota, RawStreams};

/// The name of the file the host looks for in its working directory.
pub const FILE_NAME: &str = "eddy.toml";

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
    /// Bytes the embedded store may hold.
    pub quota: Option<QuotaLimits>,
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
    quota: Option<RawQuota>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    streams: RawStreams,
}

/// `[auth]`: the identity providers whose tokens the host accepts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    providers: BTreeMap<String, RawProvider>,
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
        let quota = raw.quota.map(|quota| limits::quota(&file, quota)).transpose()?;
        Ok(Config {
            listen,
            plugins: raw.plugins.map(|p| dir.join(p)),
            data: raw.data.map(|d| dir.join(d)),
            memory: raw.memory,
            state,
            admin,
            cors,
            auth,
            quota,
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
        if let Some(quota) = &self.quota {
            options.quota = quota.clone();
        }
        limits::apply(&self.limits, &self.delivery, &self.streams, options);
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
