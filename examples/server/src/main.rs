//! `cargo run -p medseal-server` (or `make demo`), then http://localhost:8080.
//! Environment: see `Config` (MEDSEAL_ADDR, MEDSEAL_DATA, MEDSEAL_ORIGIN,
//! MEDSEAL_HEADER_TIMEOUT_MS, MEDSEAL_REQUEST_TIMEOUT_MS, MEDSEAL_SEND_TIMEOUT_MS,
//! MEDSEAL_MAX_CONNECTIONS, MEDSEAL_MAX_ATTACHMENT, MEDSEAL_ATTACHMENT_QUOTA,
//! MEDSEAL_UPLOAD_TIMEOUT_MS, MEDSEAL_UPLOAD_IDLE_TIMEOUT_MS, MEDSEAL_LOG_KEY_NAME,
//! MEDSEAL_TRUST_FORWARDED).

use std::process::ExitCode;
use std::sync::Arc;

use medseal_server::db::Db;
use medseal_server::state::{LogSink, StderrLog};
use medseal_server::{serve, AppState, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let log = StderrLog;
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.line(&e);
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?
        .port();
    let origin = config
        .origin
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{port}"));
    let db = Db::open(&config.data_dir, config.limits.read_connections).map_err(|e| {
        format!(
            "cannot open the database in {}: {e}",
            config.data_dir.display()
        )
    })?;
    if !db
        .read_blocking(medseal_server::db::vault_index_is_unique)
        .map_err(|e| format!("cannot read the database: {e}"))?
    {
        StderrLog.line(
            "note: two accounts hold one vault (stored before vault ids were unique): \
             manifests.vault_id keeps a non-unique index, new duplicates are refused, \
             and grants to that vault answer 409 ambiguous_grantee",
        );
    }
    let data = config.data_dir.clone();
    let state = Arc::new(AppState::new(config, origin.clone(), db)?);
    announce(&origin, &data);
    serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| format!("server error: {e}"))
}

/// The first line on standard output: scripts that start the server (the
/// browser test, the load test) read the origin and port from it.
#[allow(clippy::print_stdout)]
fn announce(origin: &str, data: &std::path::Path) {
    println!(
        "medseal PHR demo: {origin}/  (data in {})",
        data.canonicalize()
            .unwrap_or_else(|_| data.to_path_buf())
            .display()
    );
}
