//! Who is calling: JSON Web Tokens from external identity providers, verified into an
//! [`Identity`] that reaches functions with their events and stream join authorisers. A
//! provider (`[auth.providers.NAME]` in `eddy.toml`) is an issuer, the audiences its tokens must
//! name, and its keys: a JWKS file, a JWKS URL (fetched, cached, refetched on an unknown key id),
//! or, for development, an HS256 shared secret. Every key is pinned to one algorithm, so a token
//! can never choose how it is checked (no `none`, no HMAC with a public key). What callers can
//! rely on: `docs/http.md`.
//!
//! # Layout
//! - `identity`: [`Identity`], what a verified token says.
//! - `keys`: a provider's keys, each pinned to its algorithm; JWKS parsing and fetching.
//! - `verify`: [`Authenticator`], the providers, and the check of one token.

mod identity;
mod keys;
mod verify;

pub use identity::Identity;
pub use keys::KeySource;
pub use verify::{AuthError, Authenticator, ProviderConfig, bearer_token};
