//! Plugins' static files (`docs/static.md`): a `GET` or `HEAD` that no route answers is looked
//! up, percent-decoded, among the files of the current snapshot, which were read into memory
//! when their plugin loaded. Only those paths exist, so none can reach another file. A file
//! goes out with its type, a strong `ETag` and `Cache-Control: no-cache` (browsers ask again
//! each time and get `304 Not Modified` while it is unchanged, so an edit shows at the next
//! load); a folder asked for without its trailing slash is redirected to it, so the relative
//! links of its `index.html` resolve.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use percent_encoding::percent_decode_str;

use super::response::Body;
use crate::plugins::registry::Snapshot;

/// The response for a static file at `uri`, if one answers it.
pub fn serve(
    snapshot: &Snapshot,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = percent_decode_str(uri.path()).decode_utf8().ok()?;
    let Some((asset, _)) = snapshot.assets.get(path.as_ref()) else {
        let folder = format!("{path}/");
        if !path.ends_with('/') && snapshot.assets.contains_key(&folder) {
            let location = match uri.query() {
                Some(query) => format!("{}/?{query}", uri.path()),
                None => format!("{}/", uri.path()),
            };
            let mut response = Response::new(Body::default());
            *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).ok()?);
            return Some(response);
        }
        return None;
    };
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == asset.etag);
    let mut response = if unchanged {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        // HEAD: hyper leaves the body out and keeps its length.
        let mut response = Response::new(Body::new(asset.body.clone()));
        let content_type = HeaderValue::from_str(&asset.content_type).ok()?;
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&asset.etag).ok()?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(response)
}
