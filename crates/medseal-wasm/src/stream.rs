//! Streams (the core's `medseal::stream`, FORMAT.md §17): large files sealed
//! in 16 KiB chunks. The core keeps every rule (the counter, which chunk is
//! the last, lengths, where a chunk lies); the JS layer moves bytes and runs
//! the chunk cipher in WebCrypto under the stream's chunk key, imported
//! non-extractable, or here through `sealChunk`/`openChunk` where WebCrypto
//! is missing.

use wasm_bindgen::prelude::*;

use medseal::stream::{self, StreamOpener, StreamSealer};

use crate::share::{seconds, GrantHandle};
use crate::{binding, invalid, to_js, version_of, VaultHandle};

/// A byte count or offset from JS: a whole number below 2^53.
fn offset(v: f64, what: &'static str) -> Result<u64, JsValue> {
    if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(invalid(what))
    }
}

fn key_array(key: &[u8; 32]) -> js_sys::Uint8Array {
    // Straight into a JS array: no copy of the key left in wasm's heap.
    js_sys::Uint8Array::from(&key[..])
}

/// The exact size of a sealed stream of `plaintextLength` bytes.
#[wasm_bindgen(js_name = streamSealedSize)]
pub fn stream_sealed_size(plaintext_length: f64) -> Result<f64, JsValue> {
    let n = offset(plaintext_length, "length must be a byte count")?;
    stream::sealed_size(n).map(|s| s as f64).map_err(to_js)
}

/// The plaintext size of a sealed stream of `sealedLength` bytes
/// (`Truncated` or `Malformed` for a length no writer produces).
#[wasm_bindgen(js_name = streamPlaintextSize)]
pub fn stream_plaintext_size(sealed_length: f64) -> Result<f64, JsValue> {
    let n = offset(sealed_length, "length must be a byte count")?;
    stream::plaintext_size(n).map(|s| s as f64).map_err(to_js)
}

/// How many of a stream's first bytes [`VaultHandle::open_stream`] reads.
#[wasm_bindgen(js_name = streamHeaderLength)]
pub fn stream_header_length() -> u32 {
    stream::HEADER_LEN as u32
}

/// Plaintext bytes in a full chunk.
#[wasm_bindgen(js_name = streamChunkLength)]
pub fn stream_chunk_length() -> u32 {
    stream::CHUNK_LEN as u32
}

/// A full chunk as stored (ciphertext and tag).
#[wasm_bindgen(js_name = streamSealedChunkLength)]
pub fn stream_sealed_chunk_length() -> u32 {
    stream::SEALED_CHUNK_LEN as u32
}

/// A stream header's key epoch and record version, read without a key
/// (authenticated only when the stream opens): `[epoch, version]`.
#[wasm_bindgen(js_name = streamInfo)]
pub fn stream_info(head: &[u8]) -> Result<Vec<f64>, JsValue> {
    let m = stream::read_header(head).map_err(to_js)?;
    Ok(vec![f64::from(m.epoch), m.version as f64])
}

/// A stream being sealed: write `header`, then each chunk of
/// `streamChunkLength()` plaintext bytes (the last one shorter, possibly
/// empty) encrypted with AES-GCM under `takeKey()` and `nextNonce(...)`, no
/// associated data, or through `sealChunk`.
#[wasm_bindgen]
pub struct StreamSealJob {
    sealer: StreamSealer,
    key_taken: bool,
    // What the vault remembers once the last chunk is sealed (`streamSealed`).
    record_id: String,
    context: Vec<u8>,
    version: u64,
}

#[wasm_bindgen]
impl StreamSealJob {
    /// The chunk key, once (then `undefined`).
    #[wasm_bindgen(js_name = takeKey)]
    pub fn take_key(&mut self) -> Option<js_sys::Uint8Array> {
        if self.key_taken {
            return None;
        }
        self.key_taken = true;
        Some(key_array(self.sealer.keys().key()))
    }
    /// The sealed stream's first bytes.
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> Vec<u8> {
        self.sealer.header().to_vec()
    }
    /// The nonce of the next chunk, of `length` plaintext bytes; `last` for
    /// the last chunk (shorter than a full one).
    #[wasm_bindgen(js_name = nextNonce)]
    pub fn next_nonce(&mut self, length: u32, last: bool) -> Result<Vec<u8>, JsValue> {
        self.sealer
            .next_nonce(length as usize, last)
            .map(|n| n.to_vec())
            .map_err(to_js)
    }
    /// Seals the next chunk here (where WebCrypto is missing).
    #[wasm_bindgen(js_name = sealChunk)]
    pub fn seal_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>, JsValue> {
        if last {
            self.sealer.seal_last(chunk)
        } else {
            self.sealer.seal_chunk(chunk)
        }
        .map_err(to_js)
    }
    /// Whether the last chunk was sealed.
    #[wasm_bindgen(getter, js_name = isDone)]
    pub fn is_done(&self) -> bool {
        self.sealer.is_done()
    }
}

/// A stream whose header checked out: open its chunks in order with
/// `nextNonce` (or `openChunk`) then `finish()`, or any chunk with
/// `chunkAt`/`nonceAt` once the sealed length is known.
#[wasm_bindgen]
pub struct StreamOpenJob {
    opener: StreamOpener,
    key_taken: bool,
}

/// Where chunks lie: plaintext and sealed offsets of a span of chunks.
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct ChunkSpan {
    /// First chunk.
    pub first: f64,
    /// Last chunk (inclusive).
    pub last: f64,
    /// Sealed offset of the first chunk.
    pub start: f64,
    /// Sealed offset one past the last chunk.
    pub end: f64,
    /// Plaintext offset of the first chunk.
    #[wasm_bindgen(js_name = plainStart)]
    pub plain_start: f64,
}

#[wasm_bindgen]
impl StreamOpenJob {
    /// The chunk key, once (then `undefined`).
    #[wasm_bindgen(js_name = takeKey)]
    pub fn take_key(&mut self) -> Option<js_sys::Uint8Array> {
        if self.key_taken {
            return None;
        }
        self.key_taken = true;
        Some(key_array(self.opener.keys().key()))
    }
    /// The stream's record version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.opener.meta().version as f64
    }
    /// The nonce of the next chunk in order, stored as `length` bytes; `last`
    /// when the input ended after it (`Truncated` when that is impossible).
    #[wasm_bindgen(js_name = nextNonce)]
    pub fn next_nonce(&mut self, length: u32, last: bool) -> Result<Vec<u8>, JsValue> {
        self.opener
            .next_nonce(length as usize, last)
            .map(|n| n.to_vec())
            .map_err(to_js)
    }
    /// Opens the next chunk here (where WebCrypto is missing).
    #[wasm_bindgen(js_name = openChunk)]
    pub fn open_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>, JsValue> {
        self.opener
            .open_next(chunk, last)
            .map(|p| p.to_vec())
            .map_err(to_js)
    }
    /// `Truncated` unless the last chunk was opened.
    pub fn finish(&self) -> Result<(), JsValue> {
        self.opener.finish().map_err(to_js)
    }
    /// The nonce of chunk `k` of a stream of `sealedLength` bytes.
    #[wasm_bindgen(js_name = nonceAt)]
    pub fn nonce_at(&self, k: f64, sealed_length: f64) -> Result<Vec<u8>, JsValue> {
        let k = offset(k, "chunk index must be a whole number")?;
        let len = offset(sealed_length, "length must be a byte count")?;
        self.opener
            .nonce_at(k, len)
            .map(|(n, _)| n.to_vec())
            .map_err(to_js)
    }
    /// Opens chunk `k` alone (here, where WebCrypto is missing).
    #[wasm_bindgen(js_name = openChunkAt)]
    pub fn open_chunk_at(
        &self,
        k: f64,
        chunk: &[u8],
        sealed_length: f64,
    ) -> Result<Vec<u8>, JsValue> {
        let k = offset(k, "chunk index must be a whole number")?;
        let len = offset(sealed_length, "length must be a byte count")?;
        self.opener
            .open_at(k, chunk, len)
            .map(|p| p.to_vec())
            .map_err(to_js)
    }
    /// The chunks holding plaintext bytes `[offset, offset + length)` of a
    /// stream of `sealedLength` bytes (`length` 0 reads the chunk at
    /// `offset`; an offset past the end is `InvalidArgument`).
    #[wasm_bindgen(js_name = chunkSpan)]
    pub fn chunk_span(
        &self,
        offset_: f64,
        length: f64,
        sealed_length: f64,
    ) -> Result<ChunkSpan, JsValue> {
        let at = offset(offset_, "offset must be a byte count")?;
        let n = offset(length, "length must be a byte count")?;
        let len = offset(sealed_length, "length must be a byte count")?;
        let size = stream::plaintext_size(len).map_err(to_js)?;
        let end = at
            .checked_add(n)
            .filter(|e| *e <= size)
            .ok_or_else(|| invalid("range is past the end of the file"))?;
        let c = stream::CHUNK_LEN as u64;
        let first = at / c;
        let last = if n == 0 { first } else { (end - 1) / c };
        let last_chunk = size / c;
        let (_, r1) = self
            .opener
            .nonce_at(first.min(last_chunk), len)
            .map_err(to_js)?;
        let (_, r2) = self
            .opener
            .nonce_at(last.min(last_chunk), len)
            .map_err(to_js)?;
        Ok(ChunkSpan {
            first: first.min(last_chunk) as f64,
            last: last.min(last_chunk) as f64,
            start: r1.start as f64,
            end: r2.end as f64,
            plain_start: (first.min(last_chunk) * c) as f64,
        })
    }
    /// The last chunk's index in a stream of `sealedLength` bytes.
    #[wasm_bindgen(js_name = lastChunk)]
    pub fn last_chunk(&self, sealed_length: f64) -> Result<f64, JsValue> {
        let len = offset(sealed_length, "length must be a byte count")?;
        let size = stream::plaintext_size(len).map_err(to_js)?;
        Ok((size / stream::CHUNK_LEN as u64) as f64)
    }
}

#[wasm_bindgen]
impl VaultHandle {
    /// Starts sealing a stream as version `version` (default 1) of a record.
    #[wasm_bindgen(js_name = sealStream)]
    pub fn seal_stream(
        &mut self,
        record_id: &str,
        context: &[u8],
        version: Option<f64>,
    ) -> Result<StreamSealJob, JsValue> {
        let version = version_of(version)?;
        let ctx = binding(record_id, context);
        let sealer = self.get_mut()?.seal_stream(&ctx, version).map_err(to_js)?;
        // The version is remembered when the last chunk is sealed
        // (`streamSealed`): a stream abandoned halfway must not make the
        // version stored before it look like a rollback.
        Ok(StreamSealJob {
            sealer,
            key_taken: false,
            record_id: record_id.to_owned(),
            context: context.to_vec(),
            version,
        })
    }

    /// Remembers the version of a stream whose last chunk was sealed (call
    /// it when the sealed stream is complete); nothing for an unfinished one.
    #[wasm_bindgen(js_name = streamSealed)]
    pub fn stream_sealed(&mut self, job: &StreamSealJob) {
        if job.sealer.is_done() {
            let ctx = binding(&job.record_id, &job.context);
            self.saw_record(&ctx, job.version, false);
        }
    }

    /// Checks a stream's first `streamHeaderLength()` bytes (key-free checks,
    /// what this device saw of the record, the data key and commitment).
    #[wasm_bindgen(js_name = openStream)]
    pub fn open_stream(
        &mut self,
        head: &[u8],
        record_id: &str,
        context: &[u8],
    ) -> Result<StreamOpenJob, JsValue> {
        let ctx = binding(record_id, context);
        stream::check_binding(&ctx).map_err(to_js)?;
        let meta = stream::read_header(head).map_err(to_js)?;
        self.seen
            .check_record(&ctx, &meta.as_record_meta())
            .map_err(to_js)?;
        let vault = self.get()?;
        let current = vault.manifest().epoch();
        let opener = vault.open_stream(head, &ctx).map_err(to_js)?;
        // The header (version included) is authenticated: its wrap opened.
        self.seen_changed |= self
            .seen
            .saw_opened(&ctx, &meta.as_record_meta(), current, false);
        Ok(StreamOpenJob {
            opener,
            key_taken: false,
        })
    }

    /// Checks the header of a stream another vault shared with this one
    /// (see `openShared`): the grant's expiry and scope, the slot, the
    /// commitment; its version against what this device saw of that
    /// grantor's record.
    #[wasm_bindgen(js_name = openSharedStream)]
    #[allow(clippy::too_many_arguments)]
    pub fn open_shared_stream(
        &mut self,
        grant: &GrantHandle,
        slot: &[u8],
        head: &[u8],
        record_id: &str,
        context: &[u8],
        now: f64,
    ) -> Result<StreamOpenJob, JsValue> {
        let now = seconds(now, "now must be seconds since 1970")?;
        let ctx = binding(record_id, context);
        stream::check_binding(&ctx).map_err(to_js)?;
        // Remembered apart from this vault's own records, as `openShared` does.
        let mut remembered = b"medseal/shared/".to_vec();
        remembered.extend_from_slice(&grant.inner.grant().grantor);
        remembered.extend_from_slice(context);
        let seen_ctx = binding(record_id, &remembered);
        let meta = stream::read_header(head).map_err(to_js)?.as_record_meta();
        self.seen.check_record(&seen_ctx, &meta).map_err(to_js)?;
        let opener = grant
            .inner
            .open_stream(slot, head, &ctx, now)
            .map_err(to_js)?;
        self.seen_changed |= self.seen.saw_opened(&seen_ctx, &meta, meta.epoch, false);
        Ok(StreamOpenJob {
            opener,
            key_taken: false,
        })
    }

    /// A stream's new first bytes under the current key epoch (replace that
    /// many bytes of the stored stream), or `undefined` when it already is.
    #[wasm_bindgen(js_name = rewrapStream)]
    pub fn rewrap_stream(
        &mut self,
        head: &[u8],
        record_id: &str,
        context: &[u8],
    ) -> Result<Option<Vec<u8>>, JsValue> {
        let ctx = binding(record_id, context);
        stream::check_binding(&ctx).map_err(to_js)?;
        // As `rewrap`: an older version than this device saw (or one it saw
        // deleted) is not brought into the current epoch.
        let meta = stream::read_header(head).map_err(to_js)?;
        self.seen
            .check_record(&ctx, &meta.as_record_meta())
            .map_err(to_js)?;
        self.get_mut()?.rewrap_stream(head, &ctx).map_err(to_js)
    }
}
