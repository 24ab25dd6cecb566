//! The connection loop (hyper, with a header timeout against slow clients and a graceful
//! shutdown that finishes requests in flight) and client addresses behind trusted proxies.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use super::{HEADER_TIMEOUT, SHUTDOWN_GRACE};
use crate::config::Cidr;

/// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy (SPEC §9), so one client
/// behind nginx cannot get every user of that nginx throttled.
pub fn client_ip(trusted: &[Cidr], peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(list) = forwarded_for else {
        return peer;
    };
    let mut nearest = peer;
    for hop in list.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => nearest = ip,
            Ok(ip) => return ip,
            // A malformed entry: trust nothing further left.
            Err(_) => return nearest,
        }
    }
    nearest
}

/// Accepts connections until `shutdown` resolves, then stops accepting and lets the
/// connections in flight finish for up to `SHUTDOWN_GRACE`.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: try again shortly.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
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
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_the_nearest_untrusted_hop() {
        let trusted = [
            "127.0.0.0/8".parse::<Cidr>().unwrap(),
            "10.0.0.0/8".parse::<Cidr>().unwrap(),
        ];
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "203.0.113.9".parse().unwrap();
        // Untrusted peers are themselves, whatever they claim.
        assert_eq!(client_ip(&trusted, far, Some("1.1.1.1")), far);
        assert_eq!(client_ip(&trusted, lo, None), lo);
        assert_eq!(client_ip(&trusted, lo, Some("203.0.113.9")), far);
        // A client cannot hide behind an address it prepends.
        assert_eq!(
            client_ip(&trusted, lo, Some("1.1.1.1, 203.0.113.9, 10.0.0.2")),
            far
        );
        assert_eq!(
            client_ip(&trusted, lo, Some("garbage, 10.0.0.2")),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }
}
