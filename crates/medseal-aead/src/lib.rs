//! AES-256-GCM as medseal uses it (96-bit nonces, 128-bit tags, detached
//! tags, in place), through plain functions over byte arrays.
//!
//! The primitives are RustCrypto's: `aes` (constant-time fixsliced AES in
//! software, AES-NI where the CPU has it) and `ghash` (constant-time
//! POLYVAL). What this crate adds is the composition of GCM (NIST SP
//! 800-38D) around them, scheduled for small records: the software AES
//! encrypts eight blocks per run whether one or eight are asked for, so
//! the GHASH key `H = E(0)`, the tag mask `E(J0)` and the first counter
//! blocks of one operation are computed in one run, and every later run is
//! full. The `aes-gcm` crate computes H, the tag mask and the last partial
//! run of counter blocks each in a run of its own: a 32-byte key unwrap
//! took three runs where one suffices, a 1 KiB record eleven where nine do.
//! `tests/differential.rs` checks every output against `aes-gcm` over
//! random keys, nonces, associated data and lengths; the core's Wycheproof
//! tests run through this crate.
//!
//! It is a crate of its own so that this code is compiled at this crate's
//! opt-level, not at the size-optimised level of the rest (see Cargo.toml).

#![no_std]
#![forbid(unsafe_code)]

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes256, Block};
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Blocks the software AES encrypts per run (the fixsliced state of the
/// SIMD128 build holds eight; AES-NI pipelines eight too). Every call into
/// AES asks for a multiple of this, so no run is spent on one block.
const RUN: usize = 8;
/// Blocks of keystream made per call into AES for long messages.
const CHUNK: usize = 8 * RUN;
/// The most plaintext GCM allows: 2^32 - 2 blocks (SP 800-38D, 5.2.1.1).
const P_MAX: u64 = (1 << 36) - 32;
/// The most associated data GCM allows (2^64 - 1 bits).
const A_MAX: u64 = (1 << 61) - 1;

/// The only failure: the message is larger than AES-GCM allows (sealing) or
/// does not authenticate (opening). Carries no detail on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error;

/// An AES-256-GCM key with its key schedule and GHASH key set up; both are
/// zeroed on drop (the `zeroize` features of `aes` and `ghash`).
#[derive(Clone)]
pub struct Cipher {
    aes: Aes256,
    ghash: GHash,
}

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

/// Counter block `ctr` of a 96-bit nonce: `nonce || u32be(ctr)` (J0 is 1).
fn counter(nonce: &[u8; NONCE_LEN], ctr: u32) -> Block {
    let mut b = Block::default();
    let (n, c) = b.split_at_mut(NONCE_LEN);
    n.copy_from_slice(nonce);
    c.copy_from_slice(&ctr.to_be_bytes());
    b
}

/// What one operation's first run gives: the tag mask `E(J0)` and the
/// keystream of the first message blocks (counters 2, 3, ...).
struct Start {
    mask: Block,
    ks: [Block; RUN],
    /// Keystream blocks in `ks`, from index `from`.
    from: usize,
}

impl Drop for Start {
    fn drop(&mut self) {
        self.mask.as_mut_slice().zeroize();
        for b in &mut self.ks {
            b.as_mut_slice().zeroize();
        }
    }
}

impl Start {
    /// One run of `RUN` blocks: `[E(0)]` when `with_h` (H for a key used
    /// once), then `E(J0)`, then counter blocks 2, 3, ... to fill the run.
    /// Returns the run and H if asked for.
    fn run(aes: &Aes256, nonce: &[u8; NONCE_LEN], with_h: bool) -> (Start, Option<Block>) {
        let first = usize::from(with_h);
        let mut ks = [Block::default(); RUN];
        for (i, b) in ks.iter_mut().enumerate().skip(first) {
            // i - first + 1: J0 = 1 at index `first`, then 2, 3, ...
            *b = counter(nonce, (i - first + 1) as u32);
        }
        aes.encrypt_blocks(&mut ks);
        let h = with_h.then(|| ks.first().copied().unwrap_or_default());
        let mask = ks.get(first).copied().unwrap_or_default();
        let start = Start {
            mask,
            ks,
            from: first + 1,
        };
        (start, h)
    }

    /// XORs the keystream (counters 2, 3, ...) into `buf`: first what this
    /// run made, then full runs of fresh counter blocks.
    fn apply(&self, aes: &Aes256, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) {
        let ready = self.ks.get(self.from..).unwrap_or(&[]);
        let (head, rest) = buf.split_at_mut((ready.len() * 16).min(buf.len()));
        for (chunk, ks) in head.chunks_mut(16).zip(ready) {
            xor(chunk, ks);
        }
        // Block index of `rest`'s start among the message's blocks, as a
        // counter: 2 for the first message block. The length check of the
        // callers keeps it below 2^32.
        let mut ctr = 2 + ready.len() as u32;
        if rest.is_empty() {
            return;
        }
        // Counter blocks are written once with the nonce; only their last
        // four bytes change per run, and AES writes the keystream beside them.
        let mut ctrs = [counter(nonce, 0); CHUNK];
        let mut ks = [Block::default(); CHUNK];
        for piece in rest.chunks_mut(CHUNK * 16) {
            let blocks = piece.len().div_ceil(16);
            let run = blocks.div_ceil(RUN) * RUN;
            let ctrs = ctrs.get_mut(..run).unwrap_or(&mut []);
            let ks = ks.get_mut(..run).unwrap_or(&mut []);
            for (i, b) in ctrs.iter_mut().enumerate() {
                if let Some(c) = b.get_mut(NONCE_LEN..) {
                    c.copy_from_slice(&ctr.wrapping_add(i as u32).to_be_bytes());
                }
            }
            // Same lengths by construction: this cannot fail.
            let _ = aes.encrypt_blocks_b2b(ctrs, ks);
            for (chunk, k) in piece.chunks_mut(16).zip(ks.iter()) {
                xor(chunk, k);
            }
            ctr = ctr.wrapping_add(blocks as u32);
        }
        for b in &mut ks {
            b.as_mut_slice().zeroize();
        }
    }
}

fn xor(chunk: &mut [u8], ks: &Block) {
    // A whole block as one 128-bit word (one v128.xor in the SIMD build).
    if let Ok(c) = <&mut [u8; 16]>::try_from(&mut *chunk) {
        let k: [u8; 16] = (*ks).into();
        *c = (u128::from_ne_bytes(*c) ^ u128::from_ne_bytes(k)).to_ne_bytes();
        return;
    }
    for (c, k) in chunk.iter_mut().zip(ks.iter()) {
        *c ^= k;
    }
}

/// The tag: GHASH of `aad` and `ct` with their lengths, XOR the mask.
fn tag(ghash: &GHash, mask: &Block, aad: &[u8], ct: &[u8]) -> [u8; TAG_LEN] {
    let mut g = ghash.clone();
    g.update_padded(aad);
    g.update_padded(ct);
    let mut lens = Block::default();
    let (a, c) = lens.split_at_mut(8);
    a.copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
    c.copy_from_slice(&(ct.len() as u64 * 8).to_be_bytes());
    g.update(&[lens]);
    let mut out = [0u8; TAG_LEN];
    for ((o, s), m) in out.iter_mut().zip(g.finalize().iter()).zip(mask.iter()) {
        *o = s ^ m;
    }
    out
}

fn check_lengths(aad: &[u8], buf: &[u8]) -> Result<(), Error> {
    if buf.len() as u64 > P_MAX || aad.len() as u64 > A_MAX {
        return Err(Error);
    }
    Ok(())
}

fn seal_with(
    aes: &Aes256,
    ghash: &GHash,
    start: &Start,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    start.apply(aes, nonce, buf);
    tag(ghash, &start.mask, aad, buf)
}

fn open_with(
    aes: &Aes256,
    ghash: &GHash,
    start: &Start,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    expected: &[u8; TAG_LEN],
) -> Result<(), Error> {
    let t = tag(ghash, &start.mask, aad, buf);
    if bool::from(t[..].ct_eq(&expected[..])) {
        start.apply(aes, nonce, buf);
        Ok(())
    } else {
        Err(Error)
    }
}

impl Cipher {
    /// Expands `key` and computes its GHASH key.
    pub fn new(key: &[u8; 32]) -> Cipher {
        let aes = Aes256::new(&(*key).into());
        let mut h = Block::default();
        aes.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        h.as_mut_slice().zeroize();
        Cipher { aes, ghash }
    }

    /// Encrypts `buf` in place; returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        check_lengths(aad, buf)?;
        let (start, _) = Start::run(&self.aes, nonce, false);
        Ok(seal_with(&self.aes, &self.ghash, &start, nonce, aad, buf))
    }

    /// Checks `tag` and decrypts `buf` in place. On failure `buf` is left
    /// as it was (the ciphertext): nothing is decrypted before the tag holds.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        check_lengths(aad, buf)?;
        let (start, _) = Start::run(&self.aes, nonce, false);
        open_with(&self.aes, &self.ghash, &start, nonce, aad, buf, tag)
    }
}

/// A key used for one operation: its schedule, and H, J0 and the first
/// counter blocks from one run.
fn one_shot(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> (Aes256, GHash, Start) {
    let aes = Aes256::new(&(*key).into());
    let (start, h) = Start::run(&aes, nonce, true);
    let mut h = h.unwrap_or_default();
    let ghash = GHash::new(&h);
    h.as_mut_slice().zeroize();
    (aes, ghash, start)
}

/// [`Cipher::seal_in_place`] under a key used once.
pub fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    check_lengths(aad, buf)?;
    let (aes, ghash, start) = one_shot(key, nonce);
    Ok(seal_with(&aes, &ghash, &start, nonce, aad, buf))
}

/// [`Cipher::open_in_place`] under a key used once.
pub fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Error> {
    check_lengths(aad, buf)?;
    let (aes, ghash, start) = one_shot(key, nonce);
    open_with(&aes, &ghash, &start, nonce, aad, buf, tag)
}
