//! Serving a router on an already-bound listener until a cancellation token fires, and
//! binding with a short retry for restarts that race the kernel for their old port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

use crate::shutdown::CancellationToken;
use crate::tls::TlsListener;
use rustls::ServerConfig;
use std::sync::Arc;

/// Serves `router` on `listener` (Nagle off: answers are small and latency-bound) until
/// `shutdown` is cancelled, then lets in-flight requests finish. With `tls`, every
/// connection is TLS (and, if the config demands it, mutually authenticated). Handlers can
/// extract the caller's address with `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    tls: Option<Arc<ServerConfig>>,
) -> std::io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.cancelled_owned();
    match tls {
        None => {
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(cause = %e, "cannot turn Nagle off");
                }
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(config) => {
            // The TLS listener sets Nagle off itself; the tap only gives axum the
            // connection's address type it knows.
            let listener = TlsListener::new(listener, config)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

/// Binds `addr`, retrying for up to `patience` while the address is still in use: a node
/// restarted right after `kill -9` can start before the kernel has released its sockets.
pub async fn bind_retrying(addr: &str, patience: Duration) -> std::io::Result<TcpListener> {
    let give_up = Instant::now() + patience;
    loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}
