//! A minimal keep-alive HTTP/1.1 client over hyper, for the CLI's operator commands
//! (`eddy dlq ...`) and the benchmarks' load generator: it costs little and adds no dependency
//! the host does not already have.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One connection to the host.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    /// Sent as `Authorization: Bearer` with every request, when set.
    token: Option<String>,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Client { sender, host: addr.to_string(), token: None })
    }

    /// Sends `token` as a bearer token with every request (the admin token, for `/_eddy/`).
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    /// Sends a request and reads the whole response: (status, body).
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut builder = Request::builder().method(method).uri(path).header("host", &self.host);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        self.request(Method::GET, path, None).await
    }
}
