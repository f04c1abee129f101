//! Browsers on other origins: the host's CORS policy (`[cors]` in `eddy.toml`). It answers the
//! preflight of a bound route itself, adds the CORS headers to the responses of allowed origins
//! (none for others, so the browser keeps the answer from the page), and decides which origins
//! may open a WebSocket (cross-site WebSocket hijacking: browsers send cookies with an upgrade
//! from any page, so a foreign `Origin` is refused). What a browser gets: `docs/http.md`.

use std::time::Duration;

use hyper::header::{self, HeaderMap, HeaderValue};

/// Which origins may call from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Same-origin pages only: no CORS headers are ever sent.
    #[default]
    None,
    /// Any origin (`"*"`); never with credentials.
    Any,
    /// These origins exactly (`scheme://host[:port]`, lower-case).
    List(Vec<String>),
}

/// The host's CORS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    pub allow_origins: AllowedOrigins,
    /// Request headers a page may send (lower-case), answered to every preflight.
    pub allow_headers: Vec<String>,
    /// Response headers a page may read beyond the CORS-safelisted ones.
    pub expose_headers: Vec<String>,
    /// Whether pages may send cookies and `Authorization` with credentials mode `include`.
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight answer.
    pub max_age: Duration,
}

impl Default for CorsPolicy {
    fn default() -> Self {
        CorsPolicy {
            allow_origins: AllowedOrigins::None,
            allow_headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: Vec::new(),
            allow_credentials: false,
            max_age: Duration::from_secs(600),
        }
    }
}

/// Checks an origin as written in the config: `scheme://host[:port]`, nothing after it.
pub fn validate_origin(origin: &str) -> Result<String, String> {
    let lower = origin.to_ascii_lowercase();
    let Some((scheme, authority)) = lower.split_once("://") else {
        return Err(format!("origin {origin:?} must look like \"https://app.example.com\""));
    };
    let valid_scheme = !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme || authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "origin {origin:?} must be a scheme and host (and port), with no path, e.g. \
             \"https://app.example.com\""
        ));
    }
    Ok(lower)
}

impl CorsPolicy {
    /// Whether a page of `origin` may call the host's routes.
    pub fn allows(&self, origin: &str) -> bool {
        match &self.allow_origins {
            AllowedOrigins::None => false,
            AllowedOrigins::Any => true,
            AllowedOrigins::List(origins) => {
                origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
            }
        }
    }

    /// Whether a WebSocket upgrade with these headers may proceed: no `Origin` (not a browser),
    /// the page's own origin, or one the policy allows.
    pub fn allows_socket(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        host.is_some_and(|host| same_origin(origin, host)) || self.allows(origin)
    }

    /// The headers that let a page of the request's origin read the response; none when the
    /// request has no `Origin` or the policy does not allow it.
    pub fn response_headers(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let Some(origin) = self.allowed_origin(request) else {
            return;
        };
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response.append(header::VARY, HeaderValue::from_static("origin"));
        if self.allow_credentials {
            response
                .insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if !self.expose_headers.is_empty()
            && let Ok(value) = HeaderValue::from_str(&self.expose_headers.join(", "))
        {
            response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }

    /// The answer to a preflight of a route bound for `methods`: the CORS headers when the
    /// origin is allowed and asks for one of them, none otherwise (the browser then refuses).
    pub fn preflight_headers(&self, request: &HeaderMap, methods: &[&str]) -> HeaderMap {
        let mut response = HeaderMap::new();
        let asked = request
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .unwrap_or_default();
        if !methods.contains(&asked) {
            return response;
        }
        self.response_headers(request, &mut response);
        if !response.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return response;
        }
        if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
            response.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.allow_headers.join(", ")) {
            response.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        response.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.as_secs().into());
        response
    }

    /// The value of `Access-Control-Allow-Origin` for this request, if it gets one.
    fn allowed_origin(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(header::ORIGIN)?;
        if !self.allows(origin.to_str().ok()?) {
            return None;
        }
        match self.allow_origins {
            // With credentials a browser needs the origin itself, never `*`; the config
            // refuses that pairing, so `*` goes with anonymous requests only.
            AllowedOrigins::Any if !self.allow_credentials => Some(HeaderValue::from_static("*")),
            _ => Some(origin.clone()),
        }
    }
}

/// Whether a page of `origin` is served by the host the request was sent to (`Host`), default
/// ports counted.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    let strip = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) if !default_port.is_empty() => bare.to_string(),
            _ => a,
        }
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn allowing(origins: &[&str]) -> CorsPolicy {
        CorsPolicy {
            allow_origins: AllowedOrigins::List(origins.iter().map(|o| o.to_string()).collect()),
            ..CorsPolicy::default()
        }
    }

    #[test]
    fn an_allowed_origin_gets_its_own_origin_back_and_another_gets_nothing() {
        let policy = allowing(&["https://app.example.com"]);
        let mut response = HeaderMap::new();
        policy.response_headers(&headers(&[("origin", "https://app.example.com")]), &mut response);
        assert_eq!(response["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(response["vary"], "origin");
        let mut response = HeaderMap::new();
        policy.response_headers(&headers(&[("origin", "https://evil.example")]), &mut response);
        assert!(response.is_empty());
    }

    #[test]
    fn a_preflight_names_the_route_methods_only_for_an_allowed_origin_and_method() {
        let policy = allowing(&["https://app.example.com"]);
        let asked = |origin: &str, method: &str| {
            policy.preflight_headers(
                &headers(&[("origin", origin), ("access-control-request-method", method)]),
                &["GET", "POST"],
            )
        };
        let answer = asked("https://app.example.com", "POST");
        assert_eq!(answer["access-control-allow-methods"], "GET, POST");
        assert_eq!(answer["access-control-allow-headers"], "authorization, content-type");
        assert_eq!(answer["access-control-max-age"], "600");
        assert!(asked("https://app.example.com", "DELETE").is_empty());
        assert!(asked("https://evil.example", "POST").is_empty());
    }

    #[test]
    fn any_origin_is_a_star_without_credentials() {
        let policy = CorsPolicy { allow_origins: AllowedOrigins::Any, ..CorsPolicy::default() };
        let mut response = HeaderMap::new();
        policy.response_headers(&headers(&[("origin", "https://x.example")]), &mut response);
        assert_eq!(response["access-control-allow-origin"], "*");
    }

    #[test]
    fn a_socket_from_its_own_page_or_no_browser_is_let_in_and_a_foreign_page_is_not() {
        let policy = CorsPolicy::default();
        let host = ("host", "127.0.0.1:3111");
        assert!(policy.allows_socket(&headers(&[host])));
        assert!(policy.allows_socket(&headers(&[host, ("origin", "http://127.0.0.1:3111")])));
        assert!(!policy.allows_socket(&headers(&[host, ("origin", "https://evil.example")])));
        assert!(!policy.allows_socket(&headers(&[host, ("origin", "http://127.0.0.1:9999")])));
        let https = [("host", "app.example.com"), ("origin", "https://app.example.com")];
        assert!(policy.allows_socket(&headers(&https)));
        let allowed = allowing(&["https://evil.example"]);
        assert!(allowed.allows_socket(&headers(&[host, ("origin", "https://evil.example")])));
    }

    #[test]
    fn an_origin_in_the_config_is_a_scheme_and_host_only() {
        assert_eq!(validate_origin("https://App.Example.com").unwrap(), "https://app.example.com");
        assert!(validate_origin("http://localhost:5173").is_ok());
        for bad in ["app.example.com", "https://app.example.com/", "https://", "://x", "*"] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
    }
}
