//! No acknowledged write is lost when the server process is killed (SIGKILL)
//! in the middle of concurrent writes, three times over; the database passes
//! `PRAGMA integrity_check` afterwards.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::Conn;
use common::{add_user, sealed, session, TempDir};
use medseal_server::db::Db;
use serde_json::json;

fn start(dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medseal-server"))
        .env("MEDSEAL_ADDR", "127.0.0.1:0")
        .env("MEDSEAL_DATA", dir)
        .env_remove("MEDSEAL_ORIGIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .split("http://localhost:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_across_three_kill_9() {
    let dir = TempDir::new();
    let (token, body) = {
        let db = Db::open(dir.path(), 1).unwrap();
        let mut u = add_user(&db, "alice");
        let token = session(&db, &u.id, 3600);
        (
            token,
            json!({ "sealed": sealed(&mut u.vault, "r", b"lab result") }).to_string(),
        )
    };
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    for round in 0..3 {
        let (mut child, addr) = start(dir.path());
        let writers: Vec<_> = (0..16)
            .map(|w| {
                let (acked, token, body) = (acked.clone(), token.clone(), body.clone());
                tokio::spawn(async move {
                    let Ok(mut c) = Conn::connect(addr).await else {
                        return;
                    };
                    for n in 0.. {
                        let id = format!("r{round}-w{w}-n{n}");
                        match c
                            .send(
                                "PUT",
                                &format!("/api/records/{id}"),
                                Some(&token),
                                Some(&body),
                            )
                            .await
                        {
                            Ok(r) if r.status == 200 => acked.lock().unwrap().push(id),
                            Ok(r) => panic!("{}: {}", r.status, r.text()),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(600)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in writers {
            tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("writer stuck")
                .unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );
    let db = Db::open(dir.path(), 1).unwrap();
    let stored: HashSet<String> = db
        .read_blocking(|c| {
            let mut st = c.prepare("SELECT id FROM records")?;
            let ids = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>();
            ids
        })
        .unwrap();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, such as {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    let check: String = db
        .read_blocking(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(check, "ok");
}
