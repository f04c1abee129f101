//! Request bodies: read up to the edge's limit (a larger one is a 413, after reading a while so
//! the client sees it), and turned into the JSON text a function receives.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use serde_json::Value;

use crate::error::{Error, ErrorCode};

/// Reads a request's JSON body (an empty body is `null`), up to `limit` bytes.
pub async fn read_json_body(request: Request<Incoming>, limit: usize) -> Result<Value, Error> {
    let body = read_body(request.into_body(), limit).await?;
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("request body is not valid JSON: {e}")))
}

pub async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, Error> {
    let mut collected = Vec::new();
    let mut too_large = false;
    let mut received = 0usize;
    let drain_until = tokio::time::Instant::now() + DRAIN_TIME;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::bad_request(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len();
        if received > limit {
            // Over the limit: keep reading (and dropping) a while, so the client, which may
            // still be sending, reads the 413 instead of a reset connection.
            too_large = true;
            collected = Vec::new();
            if received > limit.saturating_mul(DRAIN_FACTOR)
                || tokio::time::Instant::now() > drain_until
            {
                break;
            }
        } else {
            collected.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ));
    }
    Ok(Bytes::from(collected))
}

/// How much of a too-large body is read and dropped, as a multiple of the limit, before the 413.
const DRAIN_FACTOR: usize = 16;
/// How long a too-large body is read and dropped, at most, before the 413.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The body as JSON text: parsed and re-encoded when it is JSON (a syntax error is a 400),
/// otherwise the text as a JSON string; `null` when empty.
pub fn body_json(body: &[u8], is_json: bool) -> Result<String, Error> {
    if body.is_empty() {
        return Ok("null".into());
    }
    if is_json {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::bad_request(format!("request body is not valid JSON: {e}")))?;
        Ok(value.to_string())
    } else {
        Ok(Value::String(String::from_utf8_lossy(body).into_owned()).to_string())
    }
}

pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_parsed_and_malformed_ones_are_bad_requests() {
        assert_eq!(body_json(br#"{ "title" : "x" }"#, true).unwrap(), r#"{"title":"x"}"#);
        let e = body_json(b"{nope", true).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("not valid JSON"));
    }

    #[test]
    fn other_bodies_arrive_as_a_json_string_and_empty_as_null() {
        assert_eq!(body_json(b"hello", false).unwrap(), "\"hello\"");
        assert_eq!(body_json(b"", true).unwrap(), "null");
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.api+json"));
        assert!(!is_json_content_type("text/plain"));
    }
}
