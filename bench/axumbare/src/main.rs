//! Benchmark peer for `bench/serve.sh`: a bare axum handler returning a constant body.
//!
//! `axumbare [ADDR]` (default `127.0.0.1:0`) prints `axumbare: listening on http://ADDR` on
//! stderr and answers every GET with the body `/protected` returns for a valid token, 200,
//! `application/json`.
//!
//! The runtime layout is jwtauth's (src/serve/mod.rs and net.rs): one std listener, cloned
//! into one thread per core, each running its own current-thread tokio runtime that accepts
//! on the shared socket (no SO_REUSEPORT); hyper's HTTP/1 server with the same timer, header
//! read timeout and keep-alive; `TCP_NODELAY`; the peer address as `ConnectInfo`; the router
//! called through `oneshot`. What it does not have: jwtauth's layers (request id, body limit,
//! timeout, log line, metrics), token verification, graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

const BODY: &str = r#"{"user":"bench","message":"This is a protected route!"}"#;

async fn constant() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn accept_loop(listener: std::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let app = Router::new().fallback(get(constant));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .keep_alive(true);
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    app.clone().oneshot(req)
                });
            let conn = http.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = std::net::TcpListener::bind(&addr).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let local = listener.local_addr().expect("local_addr");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (1..cores)
        .map(|_| {
            let l = listener.try_clone().expect("clone");
            std::thread::spawn(move || accept_loop(l))
        })
        .collect();
    eprintln!("axumbare: listening on http://{local}");
    accept_loop(listener);
    for w in workers {
        let _ = w.join();
    }
}
