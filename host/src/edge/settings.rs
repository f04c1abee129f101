//! [`EdgeSettings`]: everything the edge enforces on a request before a function sees it —
//! limits, the CORS policy, operator access, callers' tokens — set from `eddy.toml` and the
//! command line.

use super::admin::AdminAccess;
use super::cors::CorsPolicy;
use super::limits::HttpLimits;
use crate::auth::Authenticator;

/// What the edge enforces.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    pub limits: HttpLimits,
    pub cors: CorsPolicy,
    pub admin: AdminAccess,
    /// Checks the tokens callers present.
    pub auth: Authenticator,
}
