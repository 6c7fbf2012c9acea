//! A bounded load run of the reference server, on this machine only.
//!
//! ```text
//! cargo build --release --locked -p medseal-server --bins --examples
//! target/release/examples/load
//! ```
//!
//! Starts the release server binary on 127.0.0.1 over a fresh data folder,
//! creates users, sessions, records and manifest chains through the db layer
//! (no test route in the server), then runs a fixed number of requests per
//! route from 32 keep-alive clients, each phase capped in time, and reports
//! requests per second and p50/p99 latency. Writes the result to
//! docs/BENCHMARKS-SERVER.md. Not a test: nothing is asserted on the numbers.
//!
//! Environment: MEDSEAL_LOAD_REQUESTS (per route, default 4000),
//! MEDSEAL_LOAD_CLIENTS (default 32), MEDSEAL_SERVER_BIN (default: the
//! medseal-server beside this example's folder).

// A command-line tool: it reports on standard output.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/http.rs"]
mod http;

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medseal::{PasskeyUnlock, PrfOutput, RecordContext, Vault};
use medseal_server::db::{self, Db};
use medseal_server::random::{random_token, OsEntropy};
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const PHASE_CAP: Duration = Duration::from_secs(60);
const RECORDS_PER_USER: usize = 900;
const LIST_USERS: usize = 4;

/// The one-minute load average, if the system says.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split(' ').next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_vault() -> Res<Vault> {
    let mut cred = [0u8; 16];
    getrandom::fill(&mut cred)?;
    let (v, _) = Vault::create(PasskeyUnlock {
        credential_id: cred.to_vec(),
        prf_salt: medseal::new_prf_salt()?,
        prf_output: PrfOutput::new(&[9u8; 32])?,
        label: None,
    })?;
    Ok(v)
}

/// A user with a session; returns (user id, session token, vault).
fn seed_user(db: &Db, name: &str) -> Res<(String, String, Vault)> {
    let vault = new_vault()?;
    let id = uuid::Uuid::new_v4().to_string();
    let cred = random_token(&OsEntropy).map_err(|_| "no randomness")?;
    let token = random_token(&OsEntropy).map_err(|_| "no randomness")?;
    let m = vault.manifest();
    let (text, rev) = (m.to_json(), i64::try_from(m.revision())?);
    db.write_blocking(|c| {
        db::create_user(c, &id, name, &cred, "{}", &text, rev)?;
        db::new_session(c, &token, &id, 3600)
    })?;
    Ok((id, token, vault))
}

fn sealed(vault: &mut Vault, id: &str) -> Res<String> {
    // About the size of a typical record: a lab result with a few values.
    let plain = vec![b'x'; 300];
    let bytes = vault.seal(&plain, &RecordContext::new(id.as_bytes()))?;
    Ok(format!("ms1.{}", medseal::base64url(&bytes)))
}

fn server_bin() -> Res<PathBuf> {
    if let Ok(p) = std::env::var("MEDSEAL_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("medseal-server"))
        .ok_or("cannot locate the server binary")?;
    if !bin.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p medseal-server --bins --examples",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// One request: method, path, body.
type Req = (&'static str, String, Option<String>);

struct Phase {
    name: &'static str,
    done: usize,
    failed: usize,
    conflicts: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs each client's list of requests in order on its own connection;
/// stops issuing when the phase cap is reached.
async fn run_phase(
    name: &'static str,
    addr: SocketAddr,
    clients: Vec<(String, Vec<Req>)>,
) -> Res<Phase> {
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(token, reqs)| {
            tokio::spawn(async move {
                let mut out = (Vec::new(), 0usize, 0usize);
                let Ok(mut c) = http::Conn::connect(addr).await else {
                    out.1 += reqs.len();
                    return out;
                };
                for (method, path, body) in reqs {
                    if start.elapsed() > PHASE_CAP {
                        break;
                    }
                    let t0 = Instant::now();
                    match c.send(method, &path, Some(&token), body.as_deref()).await {
                        Ok(r) if r.status == 200 => out.0.push(t0.elapsed()),
                        Ok(r) if r.status == 409 => {
                            out.0.push(t0.elapsed());
                            out.2 += 1;
                        }
                        Ok(_) => out.1 += 1,
                        Err(_) => {
                            out.1 += 1;
                            match http::Conn::connect(addr).await {
                                Ok(n) => c = n,
                                Err(_) => break,
                            }
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut failed, mut conflicts) = (0, 0);
    for t in tasks {
        let (l, f, c) = t.await?;
        latencies.extend(l);
        failed += f;
        conflicts += c;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(Phase {
        name,
        done: latencies.len(),
        failed,
        conflicts,
        elapsed,
        latencies,
    })
}

#[tokio::main]
async fn main() -> Res<()> {
    let per_route = env_num("MEDSEAL_LOAD_REQUESTS", 4000);
    let clients = env_num("MEDSEAL_LOAD_CLIENTS", 32).max(1);
    let bin = server_bin()?;
    // Other work on the machine skews the numbers: the report says how busy it was.
    let load_before = loadavg();
    let dir = std::env::temp_dir().join(format!("medseal-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&bin, &dir, per_route, clients).await;
    let _ = std::fs::remove_dir_all(&dir);
    let phases = result?;
    let load_after = loadavg();

    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut md = String::from(
        "# Server benchmarks\n\n\
         The reference server (examples/server) under a bounded load run:\n\
         `cargo build --release --locked -p medseal-server --bins --examples && target/release/examples/load`.\n\
         A release build on 127.0.0.1 over a fresh SQLite file; users, sessions and seed\n\
         records made through the db layer; keep-alive clients, each sending its share of a\n\
         fixed number of requests in turn (a phase stops early at 60 s). Not a test: the\n\
         numbers describe one run on one machine.\n\n",
    );
    md.push_str(&format!(
        "## Last run\n\n{clients} clients, {per_route} requests per route, {} cores \
         (load average {load_before} before, {load_after} after: the clients share the machine).\n\
         list: `GET /api/records` (first page, 200 of {RECORDS_PER_USER} records, {LIST_USERS} users);\n\
         put: `PUT /api/records/{{id}}` (new ~0.5 KB sealed records, the same {LIST_USERS} users);\n\
         manifest: `PUT /api/manifest` (each client its own user and chain of signed manifests,\n\
         so every write replaces the one before: signature check and compare-and-swap).\n\n\
         | route | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    for p in &phases {
        let line = format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
            p.name,
            p.done,
            p.rate(),
            p.pct(0.50),
            p.pct(0.99),
            p.failed
        );
        print!("{line}");
        md.push_str(&line);
        if p.conflicts > 0 {
            println!("  ({} answered 409)", p.conflicts);
        }
    }
    std::fs::write(repo.join("docs/BENCHMARKS-SERVER.md"), md)?;
    println!("wrote docs/BENCHMARKS-SERVER.md");
    Ok(())
}

async fn run(bin: &Path, dir: &Path, per_route: usize, clients: usize) -> Res<Vec<Phase>> {
    println!("seeding {} ...", dir.display());
    let db = Db::open(dir, 1)?;
    let mut list_users = Vec::new();
    for u in 0..LIST_USERS {
        let (id, token, mut vault) = seed_user(&db, &format!("load{u}"))?;
        let text = sealed(&mut vault, "seed")?;
        db.write_blocking(|c| {
            let tx = c.transaction()?;
            for n in 0..RECORDS_PER_USER {
                db::put_record(&tx, &id, &format!("seed-{n:04}"), &text)?;
            }
            tx.commit()
        })?;
        list_users.push((token, vault));
    }
    let per_client = per_route.div_ceil(clients);
    let mut chains = Vec::new();
    for c in 0..clients {
        let (_, token, mut vault) = seed_user(&db, &format!("chain{c}"))?;
        let mut reqs: Vec<Req> = Vec::new();
        for _ in 0..per_client {
            let replaces = vault.manifest().revision();
            vault.rotate_recovery_code()?;
            let m: Value = serde_json::from_str(&vault.manifest().to_json())?;
            reqs.push((
                "PUT",
                "/api/manifest".into(),
                Some(json!({ "replaces": replaces, "manifest": m }).to_string()),
            ));
        }
        chains.push((token, reqs));
    }
    drop(db);

    let mut child = Command::new(bin)
        .env("MEDSEAL_ADDR", "127.0.0.1:0")
        .env("MEDSEAL_DATA", dir)
        .env_remove("MEDSEAL_ORIGIN")
        .env("MEDSEAL_MAX_CONNECTIONS", "1024")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let port: u16 = line
        .split("http://localhost:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .ok_or("the server did not announce its port")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let tokens: Vec<String> = list_users.iter().map(|(t, _)| t.clone()).collect();
    let tokens = Arc::new(tokens);
    let list = (0..clients)
        .map(|c| {
            let t = tokens.get(c % tokens.len()).cloned().unwrap_or_default();
            let reqs = (0..per_client)
                .map(|_| ("GET", "/api/records".to_string(), None))
                .collect();
            (t, reqs)
        })
        .collect();
    let body = {
        let (_, vault) = list_users.first_mut().ok_or("no users")?;
        json!({ "sealed": sealed(vault, "load")? }).to_string()
    };
    let put = (0..clients)
        .map(|c| {
            let t = tokens.get(c % tokens.len()).cloned().unwrap_or_default();
            let reqs = (0..per_client)
                .map(|n| {
                    (
                        "PUT",
                        format!("/api/records/load-{c}-{n}"),
                        Some(body.clone()),
                    )
                })
                .collect();
            (t, reqs)
        })
        .collect();

    let mut phases = Vec::new();
    let outcome: Res<()> = async {
        for (name, work) in [("list", list), ("put", put), ("manifest", chains)] {
            println!("{name} ...");
            phases.push(run_phase(name, addr, work).await?);
        }
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome?;
    Ok(phases)
}
