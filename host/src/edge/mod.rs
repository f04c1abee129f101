//! The network edge: one port serves HTTP and WebSocket. `accept.rs` takes connections and runs
//! each under the edge's limits ([`HttpLimits`], `limits.rs`); `dispatch.rs` sends each request
//! where it goes: a WebSocket upgrade (`websocket.rs`, handing the socket to the streams hub), the host's
//! own endpoints (`admin.rs`, operators only), or a plugin function (`functions.rs`, through the
//! routing table, or a plugin's static file, `assets.rs`; `event.rs` maps a request to its event). `identity.rs` checks the token a caller presents, `cors.rs` is the policy
//! for browsers on other origins, `settings.rs` gathers what the edge enforces. `body.rs` reads request bodies, `response.rs` makes responses and the
//! one error envelope. What clients can rely on: `docs/http.md` and `docs/streams.md`.

mod accept;
pub mod admin;
mod assets;
pub mod body;
pub mod cors;
mod dispatch;
pub mod event;
mod functions;
mod identity;
mod limits;
pub mod response;
mod settings;
pub mod websocket;

pub use accept::serve;
pub use admin::AdminAccess;
pub use cors::{AllowedOrigins, CorsPolicy};
pub use limits::HttpLimits;
pub use settings::EdgeSettings;
