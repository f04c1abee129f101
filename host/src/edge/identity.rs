//! Who is calling, at the edge: the token a request carries — `Authorization: Bearer`, or for a
//! WebSocket upgrade (browsers cannot set its headers) the `access_token` query parameter —
//! checked by the host's identity providers. A token that is present is always checked, and an
//! invalid one is refused on every route; a route that requires a caller refuses requests
//! without one. Tokens are never logged.

use hyper::header::{AUTHORIZATION, HeaderMap};

use crate::auth::{Authenticator, Identity, bearer_token};
use crate::error::{Error, ErrorCode};
use crate::plugins::manifest::RouteAuth;

/// The query parameter that carries a WebSocket client's token.
pub const TOKEN_PARAM: &str = "access_token";

/// The token of a request: its bearer token, else (for WebSocket upgrades) `query_token`.
pub fn request_token<'a>(headers: &'a HeaderMap, query_token: Option<&'a str>) -> Option<&'a str> {
    let bearer = headers.get(AUTHORIZATION).and_then(|value| bearer_token(value.as_bytes()));
    bearer.or(query_token)
}

/// The caller `token` proves, none without a token; an invalid token, or none where `auth`
/// requires one, is a 401. Without identity providers the host checks no tokens: a route that
/// requires a caller then refuses everyone.
pub async fn identify(
    auth: &Authenticator,
    token: Option<&str>,
    required: RouteAuth,
) -> Result<Option<Identity>, Error> {
    let unauthorized = |message: String| Error::new(ErrorCode::Unauthorized, message);
    match token {
        Some(token) if auth.is_configured() => match auth.verify(token).await {
            Ok(identity) => Ok(Some(identity)),
            Err(why) => {
                tracing::debug!(reason = %why, "token refused");
                Err(unauthorized(why.to_string()))
            }
        },
        _ if required == RouteAuth::Required && !auth.is_configured() => Err(unauthorized(
            "this route needs a signed-in caller, and the host has no identity provider \
             configured ([auth] in eddy.toml)"
                .into(),
        )),
        None if required == RouteAuth::Required => Err(unauthorized(
            "this route needs a signed-in caller: send Authorization: Bearer TOKEN".into(),
        )),
        _ => Ok(None),
    }
}
