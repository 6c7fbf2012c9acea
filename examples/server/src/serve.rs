//! The accept loop: HTTP/1.1 over hyper with the limits axum::serve does not
//! set. A request head must arrive within the header timeout, counted from
//! the connection's start or the end of the previous response (so it also
//! closes idle keep-alive connections); at most `max_connections` are open,
//! further ones wait in the listen backlog; heads are capped in size; a
//! response that makes no progress for the send timeout (the client stopped
//! reading) ends the connection. The request deadline (408) is a layer of the
//! router (routes/mod.rs). Expired sessions and link file tokens are deleted
//! in the background. Before the first connection, attachment files left by
//! a crash are swept (`attachments::sweep`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::Service;

use crate::attachments;
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
    sweep_attachments(&state).await;
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
        let io = TokioIo::new(SendTimeout::new(stream, limits.send_timeout));
        let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timed out, malformed): nothing to log.
            let _ = conn.await;
            drop(slot);
        });
    }
    purge.abort();
    Ok(())
}

/// Before the first connection: the attachment files and rows back in
/// agreement after a crash (`attachments::sweep`). A failure is logged and
/// the server starts: what is left over is found again at the next start.
async fn sweep_attachments(state: &Shared) {
    let (dir, db) = (state.config.data_dir.clone(), state.db.clone());
    match tokio::task::spawn_blocking(move || attachments::sweep(&dir, &db)).await {
        Ok(Ok(s)) if s == attachments::Swept::default() => {}
        Ok(Ok(s)) => state.log.line(&format!(
            "attachments after a crash: {} temporary files and {} files without a row removed, \
             {} rows without a file removed, {} sizes corrected",
            s.temporary, s.orphans, s.rows_without_file, s.sizes_fixed
        )),
        Ok(Err(e)) => state.log.line(&format!("attachment sweep failed: {e}")),
        Err(e) => state.log.line(&format!("attachment sweep failed: {e}")),
    }
}

/// Deletes expired sessions (and expired link file tokens) every
/// `session_purge_every`.
async fn purge_sessions(state: Shared) {
    let mut every = tokio::time::interval(state.config.limits.session_purge_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let purged = state
            .db
            .write(|c| {
                db::purge_expired_sessions(c)?;
                db::purge_expired_link_tokens(c)
            })
            .await;
        if let Err(e) = purged {
            state.log.line(&format!("session purge failed: {e}"));
        }
    }
}

/// A socket whose writes fail once they have been stuck for `limit`: the
/// header timeout bounds a client that does not send, the request deadline
/// one that sends its body too slowly, and this one a client that does not
/// read its answer (it would otherwise hold a connection slot for as long as
/// TCP keeps retrying).
struct SendTimeout<T> {
    inner: T,
    limit: Duration,
    stuck: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    fn new(inner: T, limit: Duration) -> Self {
        SendTimeout {
            inner,
            limit,
            stuck: None,
        }
    }

    /// After a write returned Pending: Pending until the limit, then an error.
    fn still_stuck<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let stuck = self
            .stuck
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stuck.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn track<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.stuck = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.still_stuck(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.track(cx, r)
    }
}
