//! [`Identity`]: who a verified token says the caller is.

use serde_json::{Value, json};

/// A caller whose token a configured provider signed, and that was valid when checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider's name in `eddy.toml`.
    pub provider: String,
    /// The token's subject (`sub`): the caller.
    pub subject: String,
    /// The token's issuer (`iss`).
    pub issuer: String,
    /// When the token stops being valid (`exp`, seconds since the Unix epoch).
    pub expires_at: u64,
    /// Every claim of the token, as it was signed.
    pub claims: Value,
}

impl Identity {
    /// The identity as functions and authorisers see it:
    /// `{provider, subject, issuer, expires_at, claims}`.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider,
            "subject": self.subject,
            "issuer": self.issuer,
            "expires_at": self.expires_at,
            "claims": self.claims,
        })
    }
}
