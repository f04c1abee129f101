//! Where a request goes: the WebSocket endpoints (`/stream/...`, `/streams`) to the upgrade,
//! the host's own endpoints (`/_eddy/...`) to the admin handler, everything else to the
//! function its route binds. A request whose head HTTP/1.1 forbids (no `Host`, a transfer
//! coding the host does not do) is answered here before it goes anywhere. Every failure
//! becomes the error envelope here, once.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, Version};

use super::response::{Body, error_response};
use super::settings::EdgeSettings;
use super::{admin, functions, websocket};
use crate::error::{Error, ErrorCode};
use crate::host::Host;
use crate::plugins::manifest::RESERVED_PATH_PREFIX;

/// Answers one request from `peer`. Never fails: every problem becomes an error response.
pub async fn handle(
    host: &Host,
    settings: &EdgeSettings,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    if let Err(error) = check_head(request.version(), request.headers()) {
        let mut response = error_response(&error, None);
        // The body was not read, and may be framed in a way the host cannot follow: the
        // connection cannot carry another request.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let path = request.uri().path();
    if websocket::is_stream_path(path) {
        return websocket::upgrade(host, settings, request)
            .await
            .unwrap_or_else(|e| error_response(&e, None));
    }
    if path == RESERVED_PATH_PREFIX || path.starts_with("/_eddy/") {
        return admin::handle(host, &settings.admin, peer, request)
            .await
            .unwrap_or_else(|e| error_response(&e, None));
    }
    functions::handle(host, settings, request).await
}

/// What RFC 9112 asks of a request head beyond what hyper checks: an HTTP/1.1 request carries
/// exactly one valid `Host` (400 otherwise), and a body is sent with no transfer coding but
/// `chunked` (hyper refuses with 400 one whose last coding is not `chunked`; any other coding
/// is one the host does not implement: 501).
fn check_head(version: Version, headers: &HeaderMap) -> Result<(), Error> {
    let hosts: Vec<&HeaderValue> = headers.get_all(header::HOST).iter().collect();
    match hosts.as_slice() {
        [] if version == Version::HTTP_11 => {
            return Err(Error::bad_request("an HTTP/1.1 request must carry a Host header"));
        }
        [] => {}
        [host] => {
            // An authority without userinfo: `host` or `host:port`.
            let valid = host
                .to_str()
                .ok()
                .filter(|host| !host.contains('@'))
                .is_some_and(|host| host.parse::<hyper::http::uri::Authority>().is_ok());
            if !valid {
                return Err(Error::bad_request("the Host header is not a host[:port]"));
            }
        }
        _ => return Err(Error::bad_request("a request must carry one Host header, not several")),
    }
    let mut chunked = 0;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let value = value.to_str().unwrap_or_default();
        for coding in value.split(',').map(|c| c.split(';').next().unwrap_or_default().trim()) {
            if coding.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else if !coding.is_empty() {
                return Err(Error::new(
                    ErrorCode::NotImplemented,
                    format!(
                        "transfer coding {coding:?} is not supported: send the body with \
                         Transfer-Encoding: chunked alone (or a Content-Length)"
                    ),
                ));
            }
        }
    }
    if chunked > 1 {
        return Err(Error::bad_request("a body may be chunked only once"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            let name = header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn an_http_1_1_request_needs_exactly_one_valid_host() {
        let ok = [("host", "example.com:8080")];
        assert!(check_head(Version::HTTP_11, &head(&ok)).is_ok());
        assert!(check_head(Version::HTTP_10, &head(&[])).is_ok(), "HTTP/1.0 may leave it out");
        let bad: [&[(&str, &str)]; 4] = [
            &[],
            &[("host", "a"), ("host", "b")],
            &[("host", "user@example.com")],
            &[("host", "")],
        ];
        for headers in bad {
            let error = check_head(Version::HTTP_11, &head(headers)).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{headers:?}");
        }
    }

    #[test]
    fn a_transfer_coding_other_than_chunked_is_not_implemented() {
        let host = ("host", "h");
        assert!(
            check_head(Version::HTTP_11, &head(&[host, ("transfer-encoding", "chunked")])).is_ok()
        );
        for coding in ["gzip, chunked", "deflate;q=1,chunked", "x-custom , Chunked"] {
            let headers = head(&[host, ("transfer-encoding", coding)]);
            let error = check_head(Version::HTTP_11, &headers).unwrap_err();
            assert_eq!(error.code, ErrorCode::NotImplemented, "{coding}");
            assert_eq!(error.code.status(), 501);
        }
        let twice =
            head(&[host, ("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")]);
        assert_eq!(check_head(Version::HTTP_11, &twice).unwrap_err().code, ErrorCode::BadRequest);
    }
}
