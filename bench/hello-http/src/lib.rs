//! `GET /hello` (any request, in fact) answers `{"hello":"world"}` with `content-type:
//! application/json`: what Eddy's `plugins/hello` answers, as a `wasi:http/proxy` component
//! that `wasmtime serve` runs. Built for `wasm32-wasip2`.

use std::io::Write as _;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Hello);

struct Hello;

const BODY: &[u8] = br#"{"hello":"world"}"#;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[
            ("content-type".to_string(), b"application/json".to_vec()),
            ("content-length".to_string(), BODY.len().to_string().into_bytes()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body of a new response");
        ResponseOutparam::set(response_out, Ok(response));
        let mut out = body.write().expect("the body's stream");
        out.write_all(BODY).expect("writing the body");
        out.flush().expect("flushing the body");
        drop(out);
        OutgoingBody::finish(body, None).expect("finishing the body");
    }
}
