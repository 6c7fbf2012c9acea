//! The accept loop: HTTP/1.1 over hyper with the limits axum::serve does not
//! set. A request head must arrive within the header timeout, counted from
//! the connection's start or the end of the previous response (so it also
//! closes idle keep-alive connections); at most `max_connections` are open,
//! further ones wait in the listen backlog; heads are capped in size. The
//! request deadline (408) is a layer of the router (routes/mod.rs). Expired
//! sessions are deleted in the background.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

use crate::db;
use crate::routes::app;
use crate::state::Shared;

/// hyper's own limits, above the router's (routes/mod.rs), which answer in
/// JSON: these only stop heads too large to be worth reading at all.
const HYPER_MAX_HEADERS: usize = 128;
const HYPER_MAX_HEAD_BYTES: usize = 64 << 10;

/// Serves the site on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    let purge = tokio::spawn(purge_sessions(state.clone()));
    let mut make_service: IntoMakeServiceWithConnectInfo<Router, SocketAddr> =
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(HYPER_MAX_HEADERS)
        .max_header_size(HYPER_MAX_HEAD_BYTES)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A slot before accepting: past the cap, connections wait in the
        // kernel's backlog instead of taking memory and a task here.
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    state.log.line(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = match make_service.call(addr).await {
            Ok(svc) => svc,
            Err(never) => match never {},
        };
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timed out, malformed): nothing to log.
            let _ = conn.await;
            drop(slot);
        });
    }
    purge.abort();
    Ok(())
}

/// Deletes expired sessions every `session_purge_every`.
async fn purge_sessions(state: Shared) {
    let mut every = tokio::time::interval(state.config.limits.session_purge_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = state.db.write(|c| db::purge_expired_sessions(c)).await {
            state.log.line(&format!("session purge failed: {e}"));
        }
    }
}
