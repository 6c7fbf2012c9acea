//! A software authenticator for passkey sign-up through the real
//! `signup/start` and `signup/finish`: webauthn-rs verifies what it makes
//! (client data, RP id hash, flags, the credential's COSE key) like a
//! browser's. It makes "none" attestation (what the server asks for), so
//! registering needs no signature; it cannot sign in (that needs an
//! assertion signature), and the tests need not: sign-up starts a session.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use medseal::{PasskeyUnlock, PrfOutput, RecoveryCode, Vault};
use serde_json::{json, Value};

use super::http;
use super::TestServer;

/// SHA-256 (FIPS 180-4), for the RP id hash: the server's dependencies
/// give the tests none.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// A CBOR item head (RFC 8949 §3): major type and argument.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        cbor_head(out, 0, v as u64);
    } else {
        cbor_head(out, 1, (-1 - v) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn cbor_text(out: &mut Vec<u8>, t: &str) {
    cbor_head(out, 3, t.len() as u64);
    out.extend_from_slice(t.as_bytes());
}

fn hex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// The credential's public key as a COSE_Key (ES256): the P-256 generator,
/// a valid point (no assertion is ever signed with it).
fn cose_key() -> Vec<u8> {
    let x = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let y = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    let mut k = Vec::new();
    cbor_head(&mut k, 5, 5);
    cbor_int(&mut k, 1); // kty: EC2
    cbor_int(&mut k, 2);
    cbor_int(&mut k, 3); // alg: ES256
    cbor_int(&mut k, -7);
    cbor_int(&mut k, -1); // crv: P-256
    cbor_int(&mut k, 1);
    cbor_int(&mut k, -2);
    cbor_bytes(&mut k, &x);
    cbor_int(&mut k, -3);
    cbor_bytes(&mut k, &y);
    k
}

/// The registration response (WebAuthn JSON, as the browser sends it after
/// the web app strips PRF results) for `options` (the server's creation
/// options), at `origin`, with credential id `raw_id`.
pub fn registration(options: &Value, origin: &str, raw_id: &[u8]) -> Value {
    let pk = &options["publicKey"];
    let challenge = pk["challenge"].as_str().expect("challenge");
    let rp_id = pk["rp"]["id"].as_str().expect("rp id");
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string();
    let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
    // Flags: user present, user verified, attested credential data.
    auth_data.push(0x01 | 0x04 | 0x40);
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
    auth_data.extend_from_slice(&(raw_id.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(raw_id);
    auth_data.extend_from_slice(&cose_key());
    let mut att = Vec::new();
    cbor_head(&mut att, 5, 3);
    cbor_text(&mut att, "fmt");
    cbor_text(&mut att, "none");
    cbor_text(&mut att, "attStmt");
    cbor_head(&mut att, 5, 0);
    cbor_text(&mut att, "authData");
    cbor_bytes(&mut att, &auth_data);
    let id = medseal::base64url(raw_id);
    json!({
        "id": id,
        "rawId": id,
        "type": "public-key",
        "response": {
            "attestationObject": medseal::base64url(&att),
            "clientDataJSON": medseal::base64url(client_data.as_bytes()),
        },
        "clientExtensionResults": {},
    })
}

/// A user signed up through the HTTP API.
pub struct SignedUp {
    pub name: String,
    pub vault: Vault,
    pub code: RecoveryCode,
    /// The session token from `signup/finish`'s cookie.
    pub token: String,
    /// The user id (`GET /api/me`).
    pub id: String,
}

/// The session token of a response's `Set-Cookie`.
pub fn session_of(r: &http::Resp) -> String {
    r.header("set-cookie")
        .expect("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("medseal_session=")
        .expect("the session cookie")
        .to_string()
}

impl TestServer {
    /// Signs `name` up through `signup/start` and `signup/finish` with the
    /// software authenticator: its vault is made by the core on the new
    /// credential (with a PRF output the authenticator would give), and
    /// the manifest that names it is posted with the registration.
    pub async fn sign_up(&self, name: &str) -> SignedUp {
        let body = json!({ "username": name }).to_string();
        let r = self
            .req("POST", "/api/signup/start", None, Some(&body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let start = r.json();
        let mut raw_id = vec![0u8; 32];
        getrandom::fill(&mut raw_id).unwrap();
        let mut prf = [0u8; 32];
        getrandom::fill(&mut prf).unwrap();
        let (vault, code) = Vault::create(PasskeyUnlock {
            credential_id: raw_id.clone(),
            prf_salt: medseal::new_prf_salt().unwrap(),
            prf_output: PrfOutput::new(&prf).unwrap(),
            label: None,
        })
        .unwrap();
        let credential = registration(&start["options"], &self.state.origin, &raw_id);
        let manifest: Value = serde_json::from_str(&vault.manifest().to_json()).unwrap();
        let body = json!({ "flow": start["flow"], "credential": credential, "manifest": manifest })
            .to_string();
        let r = self
            .req("POST", "/api/signup/finish", None, Some(&body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let token = session_of(&r);
        let me = self.me(&token).await;
        assert_eq!(me.status, 200, "{}", me.text());
        let id = me.json()["user"].as_str().unwrap().to_string();
        SignedUp {
            name: name.to_string(),
            vault,
            code,
            token,
            id,
        }
    }
}
