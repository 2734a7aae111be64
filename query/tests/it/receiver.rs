//! A stand-in for a SaaS API (Braze, a webhook receiver): an HTTP server on loopback that
//! records every request and answers from a script — a status, headers and a delay per request,
//! then 200 once the script is used up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When it arrived.
    pub(crate) at: SystemTime,
}

impl Received {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("text").to_owned())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) delay: Duration,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: String::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl ToString) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }

    pub(crate) fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub(crate) fn body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

/// The receiver; it stops with its runtime.
#[derive(Clone)]
pub(crate) struct Receiver {
    shared: Arc<Mutex<Shared>>,
    addr: SocketAddr,
}

impl Receiver {
    /// Starts a receiver on the current runtime.
    pub(crate) async fn start() -> Receiver {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = Arc::clone(&shared);
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move { answer(state, uri, headers, body).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { shared, addr }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next requests with `replies`, in order.
    pub(crate) fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    /// Every request so far, and forgets them.
    pub(crate) fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.shared.lock().unwrap().received)
    }
}

async fn answer(state: Arc<Mutex<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut shared = state.lock().unwrap();
        shared.received.push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
            at: SystemTime::now(),
        });
        shared.script.pop_front()
    };
    let reply = reply.unwrap_or_else(|| Reply::status(200).body(r#"{"message":"success"}"#));
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    response
}
