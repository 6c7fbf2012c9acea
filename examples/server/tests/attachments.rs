//! Attachments: sealed streams made by the medseal core, uploaded and
//! downloaded through the real router and accept loop, stored as files
//! under the data folder.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{Conn, Resp};
use common::{assert_json_error, TestServer};
use medseal::stream::{sealed_size, HEADER_LEN, REWRAP_LEN};
use medseal::{RecordContext, Vault};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHUNK: usize = 16384;
const SEALED_CHUNK: usize = CHUNK + 16;

/// `n` plaintext bytes: byte `i` is `i mod 251`.
fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A stream sealed by the vault for attachment `id`, as version `version`.
fn sealed_stream(vault: &mut Vault, id: &str, version: u64, plain: &[u8]) -> Vec<u8> {
    vault
        .seal_stream(&RecordContext::new(id.as_bytes()), version)
        .unwrap()
        .seal_all(plain)
        .unwrap()
}

/// Opens a whole sealed stream with the vault; its plaintext.
fn open(vault: &Vault, id: &str, sealed: &[u8]) -> medseal::Result<Vec<u8>> {
    let ctx = RecordContext::new(id.as_bytes());
    let opener = vault.open_stream(&sealed[..HEADER_LEN.min(sealed.len())], &ctx)?;
    let mut out = Vec::new();
    opener.open_all(sealed, &mut out)?;
    Ok(out)
}

fn head_text(method: &str, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-medseal: 1\r\n");
    if let Some(t) = token {
        req.push_str(&format!("cookie: medseal_session={t}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req
}

/// One request with a binary body (content-length) on a new connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut req = head_text(method, path, token, extra).into_bytes();
    if let Some(b) = body {
        req.extend_from_slice(
            format!(
                "content-type: application/octet-stream\r\ncontent-length: {}\r\n",
                b.len()
            )
            .as_bytes(),
        );
    }
    req.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
    let mut c = Conn::connect(addr).await.unwrap();
    c.write_raw(&req).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), c.read_response())
        .await
        .expect("no answer within 30 s")
        .expect("response")
}

async fn upload(s: &TestServer, token: &str, id: &str, sealed: &[u8]) -> Resp {
    let path = format!("/api/attachments/{id}");
    send(s.addr, "PUT", &path, Some(token), &[], Some(sealed)).await
}

async fn download(s: &TestServer, token: &str, id: &str, extra: &[(&str, &str)]) -> Resp {
    let path = format!("/api/attachments/{id}");
    send(s.addr, "GET", &path, Some(token), extra, None).await
}

/// An upload in chunked transfer coding (no declared length), `piece`
/// bytes a chunk.
async fn upload_chunked(
    s: &TestServer,
    token: &str,
    id: &str,
    sealed: &[u8],
    piece: usize,
) -> Resp {
    let path = format!("/api/attachments/{id}");
    let mut req = head_text(
        "PUT",
        &path,
        Some(token),
        &[("transfer-encoding", "chunked")],
    );
    req.push_str("\r\n");
    let mut c = Conn::connect(s.addr).await.unwrap();
    c.write_raw(req.as_bytes()).await.unwrap();
    for p in sealed.chunks(piece) {
        let mut frame = format!("{:x}\r\n", p.len()).into_bytes();
        frame.extend_from_slice(p);
        frame.extend_from_slice(b"\r\n");
        // The server may answer (and close) before the end: that is the point of some tests.
        if c.write_raw(&frame).await.is_err() {
            break;
        }
    }
    let _ = c.write_raw(b"0\r\n\r\n").await;
    tokio::time::timeout(Duration::from_secs(30), c.read_response())
        .await
        .expect("no answer within 30 s")
        .expect("response")
}

/// A HEAD request: the status line and headers, and whatever came after
/// them before the server closed (must be nothing).
async fn head_request(
    s: &TestServer,
    token: &str,
    id: &str,
    extra: &[(&str, &str)],
) -> (Resp, Vec<u8>) {
    let path = format!("/api/attachments/{id}");
    let mut req = head_text("HEAD", &path, Some(token), extra);
    req.push_str("connection: close\r\n\r\n");
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let text = String::from_utf8_lossy(&all[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = all[end + 4..].to_vec();
    (
        Resp {
            status,
            headers,
            body: Vec::new(),
        },
        rest,
    )
}

fn user_folder(s: &TestServer, user_id: &str) -> PathBuf {
    s.dir.path().join("attachments").join(user_id)
}

/// The names of the files in a user's folder (none if it does not exist).
fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn list(s: &TestServer, token: &str) -> serde_json::Value {
    let r = s.req("GET", "/api/attachments", Some(token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn assert_ranged(r: &Resp, sealed: &[u8], start: usize, end: usize) {
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes {start}-{end}/{}", sealed.len())
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        (end - start + 1).to_string()
    );
    assert_eq!(r.body, &sealed[start..=end]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_stream_goes_up_whole_and_comes_back_whole_and_by_ranges() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    // Three full chunks and a partial one.
    let plain = plaintext(3 * CHUNK + 1000);
    let sealed = sealed_stream(&mut alice.vault, "scan-1", 1, &plain);
    assert_eq!(sealed.len(), 134 + 3 * SEALED_CHUNK + 1016);

    let r = upload(&s, &t, "scan-1", &sealed).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["id"], "scan-1");
    assert_eq!(j["size"], sealed.len() as u64);
    assert!(j["created"].as_i64().unwrap() > 0);
    assert_eq!(j["created"], j["updated"]);

    // Whole.
    let r = download(&s, &t, "scan-1", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-length"),
        Some(sealed.len().to_string().as_str())
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(r.body, sealed);
    assert_eq!(open(&alice.vault, "scan-1", &r.body).unwrap(), plain);

    // The first 1000 bytes; a range across the boundary of chunks 0 and 1
    // (chunk 1 starts at 134 + 16400); a suffix; an open end; a last byte
    // past the end (clipped).
    let ranges: [(&str, usize, usize); 6] = [
        ("bytes=0-999", 0, 999),
        ("bytes=16000-17999", 16000, 17999),
        ("bytes=-500", sealed.len() - 500, sealed.len() - 1),
        ("bytes=40000-", 40000, sealed.len() - 1),
        ("bytes=50000-99999999", 50000, sealed.len() - 1),
        ("bytes=0-0", 0, 0),
    ];
    for (range, start, end) in ranges {
        let r = download(&s, &t, "scan-1", &[("range", range)]).await;
        assert_ranged(&r, &sealed, start, end);
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
    }
    // Random access as the core's reader does it: the chunk of index 2 alone.
    let ctx = RecordContext::new(b"scan-1");
    let opener = alice
        .vault
        .open_stream(&sealed[..HEADER_LEN], &ctx)
        .unwrap();
    let at = 134 + 2 * SEALED_CHUNK;
    let r = download(
        &s,
        &t,
        "scan-1",
        &[("range", &format!("bytes={at}-{}", at + SEALED_CHUNK - 1))],
    )
    .await;
    assert_eq!(r.status, 206);
    let chunk = opener.open_at(2, &r.body, sealed.len() as u64).unwrap();
    assert_eq!(&chunk[..], &plain[2 * CHUNK..3 * CHUNK]);

    // Unsatisfiable: 416 with the size.
    for range in [format!("bytes={}-", sealed.len()), "bytes=-0".to_string()] {
        let r = download(&s, &t, "scan-1", &[("range", &range)]).await;
        assert_json_error(&r, 416, "range_not_satisfiable");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes */{}", sealed.len())
        );
    }
    // Several ranges, malformed ones, another unit: ignored, the whole file.
    for range in ["bytes=0-10,20-30", "bytes=10-5", "bytes=x-", "pages=1-2"] {
        let r = download(&s, &t, "scan-1", &[("range", range)]).await;
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, sealed, "{range}");
        assert!(r.header("content-range").is_none());
    }
    // If-Range: the current ETag keeps the range, another drops it.
    let r = download(
        &s,
        &t,
        "scan-1",
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_ranged(&r, &sealed, 0, 9);
    let r = download(
        &s,
        &t,
        "scan-1",
        &[("range", "bytes=0-9"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, sealed);

    // HEAD: the headers of the whole file, no body; a Range is ignored.
    for extra in [&[][..], &[("range", "bytes=0-9")][..]] {
        let (r, rest) = head_request(&s, &t, "scan-1", extra).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-length"),
            Some(sealed.len().to_string().as_str())
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(rest.is_empty(), "HEAD sent {} body bytes", rest.len());
    }

    // On disk, byte for byte, under the data folder; and in the listing.
    let on_disk = user_folder(&s, &alice.id).join("scan-1");
    assert_eq!(std::fs::read(&on_disk).unwrap(), sealed);
    assert_eq!(files_in(&user_folder(&s, &alice.id)), ["scan-1"]);
    let l = list(&s, &t).await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(l["attachments"][0]["id"], "scan-1");
    assert_eq!(l["attachments"][0]["size"], sealed.len() as u64);
    assert_eq!(l["used"], sealed.len() as u64);
    assert_eq!(l["quota"], s.state.config.limits.attachment_quota);
    assert_eq!(l["maxSize"], s.state.config.limits.max_attachment);

    // No 32-byte slice of the ciphertext is in any SQLite file.
    let windows: HashSet<&[u8]> = sealed.windows(32).collect();
    let mut checked = 0;
    for name in [
        "medseal.sqlite3",
        "medseal.sqlite3-wal",
        "medseal.sqlite3-shm",
    ] {
        let Ok(bytes) = std::fs::read(s.dir.path().join(name)) else {
            continue;
        };
        checked += 1;
        assert!(
            !bytes.windows(32).any(|w| windows.contains(w)),
            "{name} holds ciphertext"
        );
    }
    assert!(checked >= 1);

    // An edit writes a new version: replaced (200), the new bytes, a new ETag.
    let plain2 = plaintext(CHUNK + 7);
    let sealed2 = sealed_stream(&mut alice.vault, "scan-1", 2, &plain2);
    let r = upload(&s, &t, "scan-1", &sealed2).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], sealed2.len() as u64);
    let r = download(&s, &t, "scan-1", &[]).await;
    assert_eq!(r.body, sealed2);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(open(&alice.vault, "scan-1", &r.body).unwrap(), plain2);
    // The old ETag no longer keeps a range: a client resuming gets the new file whole.
    let r = download(
        &s,
        &t,
        "scan-1",
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, sealed2);
    assert_eq!(files_in(&user_folder(&s, &alice.id)), ["scan-1"]);
    assert_eq!(list(&s, &t).await["used"], sealed2.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_and_an_exact_multiple_of_the_chunk() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    for (id, n) in [("empty", 0), ("two-chunks", 2 * CHUNK)] {
        let plain = plaintext(n);
        let sealed = sealed_stream(&mut alice.vault, id, 1, &plain);
        assert_eq!(sealed.len() as u64, sealed_size(n as u64).unwrap());
        let r = upload(&s, &t, id, &sealed).await;
        assert_eq!(r.status, 201, "{id}: {}", r.text());
        let r = download(&s, &t, id, &[]).await;
        assert_eq!(r.body, sealed);
        assert_eq!(open(&alice.vault, id, &r.body).unwrap(), plain);
        let r = download(&s, &t, id, &[("range", "bytes=-16")]).await;
        assert_ranged(&r, &sealed, sealed.len() - 16, sealed.len() - 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_malformed_and_foreign_uploads_are_refused() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    let sealed = sealed_stream(&mut alice.vault, "f", 1, &plaintext(3 * CHUNK + 1000));
    // Cut at a chunk boundary (the short last chunk missing), with a
    // declared length and without one; the header alone.
    for cut in [134 + SEALED_CHUNK, 134 + 3 * SEALED_CHUNK, 134] {
        let r = upload(&s, &t, "f", &sealed[..cut]).await;
        assert_json_error(&r, 400, "stream_truncated");
        let r = upload_chunked(&s, &t, "f", &sealed[..cut], 5000).await;
        assert_json_error(&r, 400, "stream_truncated");
    }
    // Shorter than a header, but a stream's start: cut short too.
    let r = upload(&s, &t, "f", &sealed[..100]).await;
    assert_json_error(&r, 400, "stream_truncated");
    let r = upload_chunked(&s, &t, "f", &sealed[..100], 30).await;
    assert_json_error(&r, 400, "stream_truncated");
    // Cut inside the last tag, or inside a header-and-tag: no writer makes these lengths.
    for cut in [134 + SEALED_CHUNK + 5, 140] {
        let r = upload(&s, &t, "f", &sealed[..cut]).await;
        assert_json_error(&r, 400, "stream_malformed");
        let r = upload_chunked(&s, &t, "f", &sealed[..cut], 4096).await;
        assert_json_error(&r, 400, "stream_malformed");
    }
    // Not a stream at all (a length a stream can have): refused on its first 134 bytes.
    let mut garbage = vec![0u8; 40_000];
    getrandom::fill(&mut garbage).unwrap();
    let r = upload(&s, &t, "f", &garbage).await;
    assert_json_error(&r, 400, "stream_malformed");
    let r = upload_chunked(&s, &t, "f", &garbage, 200).await;
    assert_json_error(&r, 400, "stream_malformed");
    let r = upload(&s, &t, "f", b"").await;
    assert_json_error(&r, 400, "stream_malformed");
    // A stream of another version; a bad epoch (0).
    let mut other = sealed.clone();
    other[4] = 2;
    let r = upload(&s, &t, "f", &other).await;
    assert_json_error(&r, 400, "stream_unknown_version");
    let mut zero_epoch = sealed.clone();
    zero_epoch[6..10].copy_from_slice(&[0, 0, 0, 0]);
    let r = upload(&s, &t, "f", &zero_epoch).await;
    assert_json_error(&r, 400, "stream_malformed");
    // Ids: the record-id rules.
    for bad in ["a~b", "%2e%2e", "a%2Fb", &"x".repeat(129)] {
        let r = upload(&s, &t, bad, &sealed).await;
        assert_json_error(&r, 400, "bad_request");
    }
    // Nothing was kept: no file, no temporary file, no row.
    assert!(files_in(&user_folder(&s, &alice.id)).is_empty());
    assert_eq!(list(&s, &t).await["attachments"], serde_json::json!([]));
    // The whole stream goes in.
    let r = upload_chunked(&s, &t, "f", &sealed, 7000).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(download(&s, &t, "f", &[]).await.body, sealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_cannot_read_list_replace_or_delete_it() {
    let s = TestServer::start().await;
    let (mut alice, ta) = s.signed_in("alice");
    let (mut bob, tb) = s.signed_in("bob");
    let sealed = sealed_stream(&mut alice.vault, "scan", 1, &plaintext(5000));
    assert_eq!(upload(&s, &ta, "scan", &sealed).await.status, 201);

    assert_json_error(&download(&s, &tb, "scan", &[]).await, 404, "not_found");
    assert_json_error(
        &download(&s, &tb, "scan", &[("range", "bytes=0-9")]).await,
        404,
        "not_found",
    );
    let (r, _) = head_request(&s, &tb, "scan", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(list(&s, &tb).await["attachments"], serde_json::json!([]));
    let r = s
        .req("DELETE", "/api/attachments/scan", Some(&tb), None)
        .await;
    assert_json_error(&r, 404, "not_found");
    let head = alice
        .vault
        .rewrap_stream(&sealed[..HEADER_LEN], &RecordContext::new(b"scan"))
        .unwrap();
    assert!(head.is_none(), "already under the current epoch");
    let r = send(
        s.addr,
        "PUT",
        "/api/attachments/scan/head",
        Some(&tb),
        &[],
        Some(&sealed[..REWRAP_LEN]),
    )
    .await;
    assert_json_error(&r, 404, "not_found");
    // Bob's own "scan" is his own file: Alice's stays as it was.
    let bobs = sealed_stream(&mut bob.vault, "scan", 1, &plaintext(100));
    assert_eq!(upload(&s, &tb, "scan", &bobs).await.status, 201);
    assert_eq!(download(&s, &ta, "scan", &[]).await.body, sealed);
    assert_eq!(download(&s, &tb, "scan", &[]).await.body, bobs);

    // No session: 401; no x-medseal header: 403.
    let r = send(s.addr, "GET", "/api/attachments/scan", None, &[], None).await;
    assert_json_error(&r, 401, "unauthorized");
    let r = send(
        s.addr,
        "PUT",
        "/api/attachments/other",
        None,
        &[],
        Some(&sealed),
    )
    .await;
    assert_json_error(&r, 401, "unauthorized");
    let r = common::http::raw(
        s.addr,
        format!(
            "GET /api/attachments/scan HTTP/1.1\r\nhost: x\r\ncookie: medseal_session={ta}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_json_error(&r, 403, "forbidden");
    // Another method: 405, as JSON.
    let r = send(
        s.addr,
        "POST",
        "/api/attachments/scan",
        Some(&ta),
        &[],
        Some(&sealed),
    )
    .await;
    assert_json_error(&r, 405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_file_and_the_row() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    for id in ["a", "b"] {
        let sealed = sealed_stream(&mut alice.vault, id, 1, &plaintext(3000));
        assert_eq!(upload(&s, &t, id, &sealed).await.status, 201);
    }
    let dir = user_folder(&s, &alice.id);
    assert_eq!(files_in(&dir), ["a", "b"]);
    let r = s.req("DELETE", "/api/attachments/a", Some(&t), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    assert_eq!(files_in(&dir), ["b"]);
    assert_json_error(&download(&s, &t, "a", &[]).await, 404, "not_found");
    let r = s.req("DELETE", "/api/attachments/a", Some(&t), None).await;
    assert_json_error(&r, 404, "not_found");
    let l = list(&s, &t).await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(l["attachments"][0]["id"], "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrapped_head_replaces_exactly_78_bytes_and_opens_after_a_rekey() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    let plain = plaintext(2 * CHUNK + 300);
    let sealed = sealed_stream(&mut alice.vault, "doc", 1, &plain);
    assert_eq!(upload(&s, &t, "doc", &sealed).await.status, 201);
    let etag = download(&s, &t, "doc", &[])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let put_head = |body: Vec<u8>| {
        let addr = s.addr;
        let t = t.clone();
        async move {
            send(
                addr,
                "PUT",
                "/api/attachments/doc/head",
                Some(&t),
                &[],
                Some(&body),
            )
            .await
        }
    };

    // A re-key, then the stream's head re-wrapped under the new epoch.
    let old_epoch = alice.vault.manifest().epoch();
    alice.vault.rekey().unwrap();
    assert!(alice.vault.manifest().epoch() > old_epoch);
    let ctx = RecordContext::new(b"doc");
    let new = alice
        .vault
        .rewrap_stream(&sealed[..HEADER_LEN], &ctx)
        .unwrap()
        .expect("a new head");
    assert_eq!(new.len(), REWRAP_LEN);

    // Refused: other lengths; another record version; not a header; the
    // old epoch's head once the new one is stored.
    for len in [0, 77, 79, 134] {
        let r = put_head(sealed[..len].to_vec()).await;
        assert_json_error(&r, 400, "bad_head");
    }
    let mut version = new.clone();
    version[17] ^= 1;
    assert_json_error(&put_head(version).await, 400, "head_mismatch");
    let mut magic = new.clone();
    magic[0] = b'X';
    assert_json_error(&put_head(magic).await, 400, "head_mismatch");
    let mut no_epoch = new.clone();
    no_epoch[6..10].copy_from_slice(&[0; 4]);
    assert_json_error(&put_head(no_epoch).await, 400, "head_mismatch");
    assert_eq!(download(&s, &t, "doc", &[]).await.body, sealed);

    let r = put_head(new.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], sealed.len() as u64);
    let r = download(&s, &t, "doc", &[]).await;
    assert_eq!(r.body.len(), sealed.len());
    assert_eq!(&r.body[..REWRAP_LEN], &new[..]);
    assert_eq!(&r.body[REWRAP_LEN..], &sealed[REWRAP_LEN..]);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    // The same head again (a retry): nothing to do, 200.
    assert_eq!(put_head(new.clone()).await.status, 200);
    // The old head back: an older epoch, refused.
    assert_json_error(
        &put_head(sealed[..REWRAP_LEN].to_vec()).await,
        400,
        "head_mismatch",
    );
    // No copy is left beside the file.
    assert_eq!(files_in(&user_folder(&s, &alice.id)), ["doc"]);

    // The old epoch retired: the stored stream opens, the old bytes do not.
    alice.vault.retire_epochs().unwrap();
    let stored = download(&s, &t, "doc", &[]).await.body;
    assert_eq!(open(&alice.vault, "doc", &stored).unwrap(), plain);
    assert!(open(&alice.vault, "doc", &sealed).is_err());
    assert!(alice
        .vault
        .rewrap_stream(&stored[..HEADER_LEN], &ctx)
        .unwrap()
        .is_none());

    // A head that is well formed but wraps nothing the vault holds is
    // stored (the server has no key to check it) and fails to open, never
    // opens to other bytes.
    let mut forged = new.clone();
    forged[40] ^= 1;
    assert_eq!(put_head(forged).await.status, 200);
    let stored = download(&s, &t, "doc", &[]).await.body;
    assert_eq!(
        open(&alice.vault, "doc", &stored).unwrap_err().code(),
        "DecryptionFailed"
    );
}

/// Polls `cond` for up to 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(5), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_upload_leaves_no_file_and_no_row() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    let dir = user_folder(&s, &alice.id);
    let v1 = sealed_stream(&mut alice.vault, "scan", 1, &plaintext(1000));
    assert_eq!(upload(&s, &t, "scan", &v1).await.status, 201);
    let big = sealed_stream(&mut alice.vault, "scan", 2, &plaintext(20 * CHUNK));
    for id in ["new-one", "scan"] {
        let mut req = head_text("PUT", &format!("/api/attachments/{id}"), Some(&t), &[]);
        req.push_str(&format!("content-length: {}\r\n\r\n", big.len()));
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        c.write_all(&big[..big.len() / 2]).await.unwrap();
        // The upload is under way: its temporary file is there.
        eventually("a .part file", || {
            files_in(&dir).iter().any(|n| n.ends_with(".part"))
        })
        .await;
        drop(c);
        eventually("the .part file removed", || {
            !files_in(&dir).iter().any(|n| n.ends_with(".part"))
        })
        .await;
    }
    assert_eq!(files_in(&dir), ["scan"]);
    let l = list(&s, &t).await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(l["attachments"][0]["size"], v1.len() as u64);
    assert_json_error(&download(&s, &t, "new-one", &[]).await, 404, "not_found");
    assert_eq!(download(&s, &t, "scan", &[]).await.body, v1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_stalls_is_ended() {
    let s =
        TestServer::start_with(|l| l.upload_idle_timeout = Duration::from_millis(300), None).await;
    let (mut alice, t) = s.signed_in("alice");
    let sealed = sealed_stream(&mut alice.vault, "slow", 1, &plaintext(3 * CHUNK));
    let mut req = head_text("PUT", "/api/attachments/slow", Some(&t), &[]).into_bytes();
    req.extend_from_slice(format!("content-length: {}\r\n\r\n", sealed.len()).as_bytes());
    req.extend_from_slice(&sealed[..1000]);
    let mut c = Conn::connect(s.addr).await.unwrap();
    c.write_raw(&req).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), c.read_response())
        .await
        .unwrap()
        .unwrap();
    assert_json_error(&r, 408, "timeout");
    assert!(files_in(&user_folder(&s, &alice.id)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_and_the_quota_refuse_what_passes_them() {
    let s = TestServer::start_with(
        |l| {
            l.max_attachment = 100_000;
            l.attachment_quota = 150_000;
        },
        None,
    )
    .await;
    let (mut alice, t) = s.signed_in("alice");
    let (mut bob, tb) = s.signed_in("bob");
    let dir = user_folder(&s, &alice.id);
    let file = |v: &mut Vault, id: &str, n: usize| sealed_stream(v, id, 1, &plaintext(n));

    // Past the size limit: refused on its declared length, before its body.
    let big = file(&mut alice.vault, "big", 120_000);
    let mut req = head_text("PUT", "/api/attachments/big", Some(&t), &[]);
    req.push_str(&format!("content-length: {}\r\n\r\n", big.len()));
    let mut c = Conn::connect(s.addr).await.unwrap();
    c.write_raw(req.as_bytes()).await.unwrap();
    let r = c.read_response().await.unwrap();
    assert_json_error(&r, 413, "too_large");
    // And without a declared length, once it passes.
    let r = upload_chunked_until_refused(&s, &t, "big", &big).await;
    assert_json_error(&r, 413, "too_large");

    let a = file(&mut alice.vault, "a", 60_000);
    let b = file(&mut alice.vault, "b", 60_000);
    let c3 = file(&mut alice.vault, "c", 60_000);
    assert_eq!(upload(&s, &t, "a", &a).await.status, 201);
    assert_eq!(upload(&s, &t, "b", &b).await.status, 201);
    // A third passes the quota: refused by its declared length, and streamed.
    assert_json_error(&upload(&s, &t, "c", &c3).await, 413, "quota_exceeded");
    let r = upload_chunked_until_refused(&s, &t, "c", &c3).await;
    assert_json_error(&r, 413, "quota_exceeded");
    // Replacing one counts the new size instead of the old.
    let a2 = sealed_stream(&mut alice.vault, "a", 2, &plaintext(60_000));
    assert_eq!(upload(&s, &t, "a", &a2).await.status, 200);
    // The quota is the account's: Bob has his own.
    let bobs = file(&mut bob.vault, "c", 60_000);
    assert_eq!(upload(&s, &tb, "c", &bobs).await.status, 201);
    // Room made, it goes in.
    let r = s.req("DELETE", "/api/attachments/b", Some(&t), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(upload(&s, &t, "c", &c3).await.status, 201);
    assert_eq!(files_in(&dir), ["a", "c"]);
    assert_eq!(list(&s, &t).await["used"], (a2.len() + c3.len()) as u64);
}

/// A chunked upload that stops sending once the server has answered (the
/// server refuses it partway: it must have read every byte sent, so the
/// answer is not lost to a reset).
async fn upload_chunked_until_refused(
    s: &TestServer,
    token: &str,
    id: &str,
    sealed: &[u8],
) -> Resp {
    let path = format!("/api/attachments/{id}");
    let mut req = head_text(
        "PUT",
        &path,
        Some(token),
        &[("transfer-encoding", "chunked")],
    );
    req.push_str("\r\n");
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(req.as_bytes()).await.unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let writer = {
        let answered = answered.clone();
        let pieces: Vec<Vec<u8>> = sealed.chunks(4096).map(<[u8]>::to_vec).collect();
        tokio::spawn(async move {
            for p in pieces {
                if answered.load(Ordering::SeqCst) {
                    return;
                }
                let mut frame = format!("{:x}\r\n", p.len()).into_bytes();
                frame.extend_from_slice(&p);
                frame.extend_from_slice(b"\r\n");
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let resp = loop {
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed without an answer");
        all.extend_from_slice(&buf[..n]);
        if let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if all.len() >= end + 4 + len {
                answered.store(true, Ordering::SeqCst);
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                break Resp {
                    status,
                    headers,
                    body: all[end + 4..end + 4 + len].to_vec(),
                };
            }
        }
    };
    let _ = writer.await;
    resp
}

/// The resident memory of this process (server included), in bytes.
fn vm_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples [`vm_rss`] every few milliseconds until stopped; the highest.
fn rss_sampler() -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::SeqCst) {
                peak = peak.max(vm_rss().unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    (stop, handle)
}

/// Pseudo-random filler bytes (xorshift), fast enough for tens of MiB.
struct Filler(u64);

impl Filler {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            b.copy_from_slice(&self.0.to_le_bytes()[..b.len()]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_upload_and_download_stream_without_the_server_holding_them() {
    if vm_rss().is_none() {
        eprintln!("no /proc/self/status: memory not measured");
    }
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    // A real stream header, then chunk-sized filler: the server checks the
    // header and the length (it cannot open chunks), and sealing 64 MiB
    // with the unoptimized test build of the core would take minutes.
    let n: u64 = 64 << 20;
    let total = sealed_size(n).unwrap();
    let sealer = alice
        .vault
        .seal_stream(&RecordContext::new(b"study"), 1)
        .unwrap();
    let header = sealer.header().to_vec();

    let baseline = vm_rss().unwrap_or(0);
    let (stop, sampler) = rss_sampler();
    let mut req = head_text("PUT", "/api/attachments/study", Some(&t), &[]);
    req.push_str(&format!("content-length: {total}\r\n\r\n"));
    let mut c = Conn::connect(s.addr).await.unwrap();
    c.write_raw(req.as_bytes()).await.unwrap();
    c.write_raw(&header).await.unwrap();
    let mut sent = Sha256::new();
    sent.update(&header);
    let mut filler = Filler(0x9e37_79b9_7f4a_7c15);
    let mut left = total - header.len() as u64;
    let mut piece = vec![0u8; 256 << 10];
    while left > 0 {
        let k = piece.len().min(left as usize);
        filler.fill(&mut piece[..k]);
        sent.update(&piece[..k]);
        c.write_raw(&piece[..k]).await.unwrap();
        left -= k as u64;
    }
    let r = tokio::time::timeout(Duration::from_secs(120), c.read_response())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["size"], total);
    let sent = sent.finalize();
    assert_eq!(
        std::fs::metadata(user_folder(&s, &alice.id).join("study"))
            .unwrap()
            .len(),
        total
    );

    // Downloaded whole, read and hashed as it comes.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let req = head_text("GET", "/api/attachments/study", Some(&t), &[]) + "\r\n";
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut got = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut head = Vec::new();
    let received = AtomicU64::new(0);
    let body_len = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_lowercase();
            assert!(text.starts_with("http/1.1 200"), "{text}");
            let len: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            got.update(&head[end + 4..]);
            received.fetch_add((head.len() - end - 4) as u64, Ordering::SeqCst);
            break len;
        }
    };
    assert_eq!(body_len, total);
    while received.load(Ordering::SeqCst) < body_len {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early");
        got.update(&buf[..n]);
        received.fetch_add(n as u64, Ordering::SeqCst);
    }
    assert_eq!(received.load(Ordering::SeqCst), total);
    assert_eq!(got.finalize(), sent);

    stop.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    if baseline > 0 {
        let growth = peak.saturating_sub(baseline);
        eprintln!(
            "VmRSS: {} MiB before, {} MiB at most during a {} MiB upload and download",
            baseline >> 20,
            peak >> 20,
            total >> 20
        );
        assert!(
            growth < 24 << 20,
            "the process grew by {} MiB for a {} MiB file",
            growth >> 20,
            total >> 20
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_sweeps_what_a_crash_left() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    let keep = sealed_stream(&mut alice.vault, "keep", 1, &plaintext(500));
    let gone = sealed_stream(&mut alice.vault, "gone", 1, &plaintext(500));
    assert_eq!(upload(&s, &t, "keep", &keep).await.status, 201);
    assert_eq!(upload(&s, &t, "gone", &gone).await.status, 201);
    let dir = user_folder(&s, &alice.id);
    // What a crash leaves: an upload's and a copy's temporary files, a
    // file placed whose row was never committed, a row whose file is
    // gone, a replacement placed before its row's new size.
    std::fs::write(dir.join("keep~abc.part"), b"partial").unwrap();
    std::fs::write(dir.join("keep~def.head"), b"copy").unwrap();
    std::fs::write(dir.join("orphan"), &keep).unwrap();
    std::fs::remove_file(dir.join("gone")).unwrap();
    let bigger = sealed_stream(&mut alice.vault, "keep", 2, &plaintext(900));
    std::fs::write(dir.join("keep"), &bigger).unwrap();
    // A folder of a user with no attachments.
    let stray = s.dir.path().join("attachments").join("0000-no-such-user");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("x"), b"x").unwrap();

    let swept = medseal_server::attachments::sweep(s.dir.path(), s.db()).unwrap();
    assert_eq!(
        swept,
        medseal_server::attachments::Swept {
            temporary: 2,
            orphans: 2,
            rows_without_file: 1,
            sizes_fixed: 1,
        }
    );
    assert_eq!(files_in(&dir), ["keep"]);
    assert!(!stray.exists());
    let l = list(&s, &t).await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(l["attachments"][0]["size"], bigger.len() as u64);
    // Nothing more the second time.
    let again = medseal_server::attachments::sweep(s.dir.path(), s.db()).unwrap();
    assert_eq!(again, medseal_server::attachments::Swept::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_uploads_of_one_id_leave_one_whole_file_and_its_row() {
    let s = TestServer::start().await;
    let (mut alice, t) = s.signed_in("alice");
    let versions: Vec<Vec<u8>> = (1..=4)
        .map(|v| sealed_stream(&mut alice.vault, "x", v, &plaintext(v as usize * 10_000)))
        .collect();
    let mut tasks = Vec::new();
    for sealed in versions.clone() {
        let (addr, t) = (s.addr, t.clone());
        tasks.push(tokio::spawn(async move {
            send(
                addr,
                "PUT",
                "/api/attachments/x",
                Some(&t),
                &[],
                Some(&sealed),
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 201]);
    let stored = download(&s, &t, "x", &[]).await.body;
    assert!(versions.contains(&stored));
    let l = list(&s, &t).await;
    assert_eq!(l["attachments"][0]["size"], stored.len() as u64);
    assert_eq!(files_in(&user_folder(&s, &alice.id)), ["x"]);
    assert!(open(&alice.vault, "x", &stored).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_racing_for_the_last_room_of_the_quota_cannot_both_have_it() {
    let s = TestServer::start_with(|l| l.attachment_quota = 150_000, None).await;
    let (mut alice, t) = s.signed_in("alice");
    let a = sealed_stream(&mut alice.vault, "a", 1, &plaintext(100_000));
    let b = sealed_stream(&mut alice.vault, "b", 1, &plaintext(100_000));
    let up = |id: &'static str, sealed: Vec<u8>| {
        let (addr, t) = (s.addr, t.clone());
        tokio::spawn(async move {
            let path = format!("/api/attachments/{id}");
            send(addr, "PUT", &path, Some(&t), &[], Some(&sealed)).await
        })
    };
    let (ra, rb) = (up("a", a), up("b", b));
    let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 413], "{} {}", ra.text(), rb.text());
    let refused = if ra.status == 413 { &ra } else { &rb };
    assert_json_error(refused, 413, "quota_exceeded");
    assert_eq!(files_in(&user_folder(&s, &alice.id)).len(), 1);
    assert_eq!(
        list(&s, &t).await["attachments"].as_array().unwrap().len(),
        1
    );
}
