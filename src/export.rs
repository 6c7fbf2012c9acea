//! Exports (FORMAT.md §19): one file that holds a vault's records, files,
//! manifest history and log, which the recovery code alone opens, offline.
//!
//! The file is the vault's current manifest in the clear (it carries the
//! recovery entry that unwraps the vault key), then one stream (§17) sealed
//! by the vault under its newest key epoch, bound by its context to that
//! prefix. Inside the stream, framed items hold the records and files
//! exactly as the vault sealed them: the export adds no way in, and a
//! reader checks each record against the vault's own keys as well as the
//! whole against truncation, reordering and substitution.
//!
//! Writing is split so that a browser can stream: [`prefix`], [`context`]
//! and [`frame`] give the bytes around the items; the app's JS pipes them
//! through the vault's stream sealer. [`ExportReader`] reads a whole export
//! from any `std::io::Read` and verifies as it goes.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kdf::label;
use crate::manifest::Manifest;
use crate::record::RecordContext;
use crate::recovery::RecoveryCode;
use crate::stream::{self, StreamOpener, HEADER_LEN, SEALED_CHUNK_LEN};
use crate::vault::{OpenedRecord, Vault};

/// The export file's first four bytes.
pub const MAGIC: [u8; 4] = *b"msex";
/// The export format's version.
pub const VERSION: u8 = 1;
/// The record id the outer stream is bound to.
pub const RECORD_ID: &[u8] = b"medseal:export";
/// Largest manifest JSON in the prefix or in a manifest item.
pub const MAX_MANIFEST_LEN: usize = 1 << 20;
/// Largest item metadata JSON.
pub const MAX_META_LEN: usize = 64 * 1024;
/// Largest body of an item read into memory (a record, a manifest, the log).
pub const MAX_INLINE_LEN: u64 = 64 << 20;
/// Bytes before an item's metadata: kind (1) and metadata length (u32be).
pub const FRAME_HEAD_LEN: usize = 5;

/// What an item holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemKind {
    /// First item: what the export is ([`HeaderMeta`]); no body.
    Header,
    /// A manifest of the vault's history (body: its JSON), oldest first.
    Manifest,
    /// A sealed record exactly as stored (body: its bytes or text form).
    Record,
    /// A sealed file, a whole stream (body: its bytes).
    File,
    /// The vault log (body: [`LogBody`] JSON).
    Log,
    /// Last item: the counts of every kind ([`EndMeta`]); no body.
    End,
}

impl ItemKind {
    /// The kind's byte in a frame.
    pub fn byte(self) -> u8 {
        match self {
            ItemKind::Header => b'H',
            ItemKind::Manifest => b'M',
            ItemKind::Record => b'R',
            ItemKind::File => b'F',
            ItemKind::Log => b'L',
            ItemKind::End => b'E',
        }
    }

    /// The kind of a frame's byte.
    pub fn from_byte(b: u8) -> Option<ItemKind> {
        Some(match b {
            b'H' => ItemKind::Header,
            b'M' => ItemKind::Manifest,
            b'R' => ItemKind::Record,
            b'F' => ItemKind::File,
            b'L' => ItemKind::Log,
            b'E' => ItemKind::End,
            _ => return None,
        })
    }

    /// The kind by its name in the JS API (`"header"`, `"manifest"`, …).
    pub fn from_name(name: &str) -> Option<ItemKind> {
        Some(match name {
            "header" => ItemKind::Header,
            "manifest" => ItemKind::Manifest,
            "record" => ItemKind::Record,
            "file" => ItemKind::File,
            "log" => ItemKind::Log,
            "end" => ItemKind::End,
            _ => return None,
        })
    }
}

/// The header item's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderMeta {
    /// Always `"export"`.
    pub medseal: String,
    /// [`VERSION`].
    pub version: u8,
    /// The vault id, base64url (equal to the prefix manifest's).
    pub vault_id: String,
    /// When the export was made, Unix seconds (as the writer's clock said).
    pub created: u64,
    /// The app that wrote it, as it names itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// A record or file item's metadata: what binds it (record id, context)
/// and what the app said of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ItemMeta {
    /// The record id the item was sealed under (UTF-8).
    pub record_id: String,
    /// The record context, base64url; absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// For a record: `"bytes"` or `"text"` (the sealed text form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// A file's name as the app knows it (not trusted as a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A file's media type as the app knows it.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub media_type: Option<String>,
}

/// The end item's metadata: how many items of each kind came before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndMeta {
    /// Manifest items.
    pub manifests: u64,
    /// Record items.
    pub records: u64,
    /// File items.
    pub files: u64,
    /// Log items (0 or 1).
    pub logs: u64,
}

/// A log item's body: the checkpoint the device verified and every leaf up
/// to its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogBody {
    /// The signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
    /// The log's leaves, base64url, in order from 0.
    pub leaves: Vec<String>,
}

/// The bytes before the stream: `MAGIC || VERSION || u32be(len) || manifest
/// JSON`. The manifest must be the one whose newest key epoch seals the
/// stream.
pub fn prefix(manifest_json: &str) -> Result<Vec<u8>> {
    if manifest_json.len() > MAX_MANIFEST_LEN {
        return Err(Error::TooLarge);
    }
    Manifest::from_json(manifest_json)?;
    let mut out = Vec::with_capacity(9 + manifest_json.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&len32(manifest_json.len())?);
    out.extend_from_slice(manifest_json.as_bytes());
    Ok(out)
}

/// The outer stream's record context: `SHA-256(lp(label) || prefix)`.
pub fn context(prefix: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(len32(label::EXPORT_CONTEXT.len()).unwrap_or([0; 4]));
    h.update(label::EXPORT_CONTEXT);
    h.update(prefix);
    h.finalize().into()
}

fn len32(n: usize) -> Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| Error::TooLarge)
}

/// An item's frame: `kind || u32be(meta len) || meta || u64be(body len)`;
/// the body follows. `meta` is checked against the kind (a header or end
/// item has no body; a record or file names a record id).
pub fn frame(kind: ItemKind, meta: &str, body_len: u64) -> Result<Vec<u8>> {
    if meta.len() > MAX_META_LEN {
        return Err(Error::TooLarge);
    }
    check_meta(kind, meta, body_len)?;
    let mut out = Vec::with_capacity(FRAME_HEAD_LEN + meta.len() + 8);
    out.push(kind.byte());
    out.extend_from_slice(&len32(meta.len())?);
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(&body_len.to_be_bytes());
    Ok(out)
}

/// What a frame's metadata says, parsed for its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Meta {
    Header(HeaderMeta),
    Item(ItemMeta),
    End(EndMeta),
    Empty,
}

fn bad(what: &'static str) -> Error {
    Error::Malformed(what)
}

fn check_meta(kind: ItemKind, meta: &str, body_len: u64) -> Result<Meta> {
    let parsed = match kind {
        ItemKind::Header => {
            let h: HeaderMeta =
                serde_json::from_str(meta).map_err(|_| bad("export header is not valid"))?;
            if h.medseal != "export" || h.version != VERSION {
                return Err(bad("export header is not valid"));
            }
            Meta::Header(h)
        }
        ItemKind::End => {
            Meta::End(serde_json::from_str(meta).map_err(|_| bad("export end is not valid"))?)
        }
        ItemKind::Record | ItemKind::File => {
            let m: ItemMeta =
                serde_json::from_str(meta).map_err(|_| bad("export item is not valid"))?;
            m.binding()?;
            let form_ok = matches!(
                (kind, m.form.as_deref()),
                (ItemKind::Record, Some("bytes" | "text")) | (ItemKind::File, None)
            );
            if !form_ok {
                return Err(bad("export item is not valid"));
            }
            Meta::Item(m)
        }
        ItemKind::Manifest | ItemKind::Log => {
            if meta != "{}" {
                return Err(bad("export item is not valid"));
            }
            Meta::Empty
        }
    };
    let body_ok = match kind {
        ItemKind::Header | ItemKind::End => body_len == 0,
        ItemKind::Manifest => body_len <= MAX_MANIFEST_LEN as u64,
        ItemKind::Record | ItemKind::Log => body_len <= MAX_INLINE_LEN,
        ItemKind::File => stream::plaintext_size(body_len).is_ok(),
    };
    if !body_ok {
        return Err(bad("export item has a body of the wrong length"));
    }
    Ok(parsed)
}

impl ItemMeta {
    /// The record id and context bytes.
    pub fn binding(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let context = match &self.context {
            None => Vec::new(),
            Some(c) => {
                let b = crate::b64::decode(c.as_bytes()).ok_or(bad("export item is not valid"))?;
                if b.is_empty() {
                    return Err(bad("export item is not valid"));
                }
                b
            }
        };
        let id = self.record_id.as_bytes().to_vec();
        RecordContext::with_context(&id, &context).check()?;
        Ok((id, context))
    }
}

/// Writes an export held in memory (the command-line tool's tests, the
/// vectors; a browser streams the same bytes with [`prefix`] and [`frame`]).
#[derive(Debug)]
pub struct ExportWriter {
    plain: Vec<u8>,
    end: EndMeta,
}

impl ExportWriter {
    /// Starts an export of `vault` made at `created` (Unix seconds).
    pub fn new(vault: &Vault, created: u64, app: Option<&str>) -> Result<ExportWriter> {
        let header = HeaderMeta {
            medseal: "export".into(),
            version: VERSION,
            vault_id: crate::b64::encode(vault.vault_id()),
            created,
            app: app.map(str::to_owned),
        };
        let mut w = ExportWriter {
            plain: Vec::new(),
            end: EndMeta::default(),
        };
        w.item(ItemKind::Header, &json(&header)?, &[])?;
        Ok(w)
    }

    fn item(&mut self, kind: ItemKind, meta: &str, body: &[u8]) -> Result<()> {
        let f = frame(kind, meta, body.len() as u64)?;
        self.plain.extend_from_slice(&f);
        self.plain.extend_from_slice(body);
        Ok(())
    }

    /// Adds a manifest of the history (oldest first; the last one must be
    /// the vault's current manifest).
    pub fn manifest(&mut self, manifest_json: &str) -> Result<()> {
        self.end.manifests += 1;
        self.item(ItemKind::Manifest, "{}", manifest_json.as_bytes())
    }

    /// Adds a sealed record as stored (`text`: its text form's UTF-8).
    pub fn record(&mut self, meta: &ItemMeta, sealed: &[u8]) -> Result<()> {
        self.end.records += 1;
        self.item(ItemKind::Record, &json(meta)?, sealed)
    }

    /// Adds a sealed file (a whole stream).
    pub fn file(&mut self, meta: &ItemMeta, sealed: &[u8]) -> Result<()> {
        self.end.files += 1;
        self.item(ItemKind::File, &json(meta)?, sealed)
    }

    /// Adds the vault log.
    pub fn log(&mut self, log: &LogBody) -> Result<()> {
        self.end.logs += 1;
        self.item(ItemKind::Log, "{}", json(log)?.as_bytes())
    }

    /// Seals everything: the export file's bytes.
    pub fn finish(mut self, vault: &mut Vault) -> Result<Vec<u8>> {
        let end = json(&self.end)?;
        self.item(ItemKind::End, &end, &[])?;
        let manifest_json = vault.manifest().to_json();
        let mut out = prefix(&manifest_json)?;
        let ctx_bytes = context(&out);
        let ctx = RecordContext::with_context(RECORD_ID, &ctx_bytes);
        let sealer = vault.seal_stream(&ctx, 1)?;
        let sealed = sealer.seal_all(&self.plain)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|_| Error::InvalidArgument("not serializable"))
}

/// An item of an export as [`ExportReader::next_item`] returns it, checked.
#[derive(Debug)]
#[non_exhaustive]
pub enum Item {
    /// A manifest of the history; it follows the one before it (signed by
    /// the identity of its epoch or handed over to it), and the last one is
    /// the prefix manifest.
    Manifest(Box<Manifest>),
    /// A record, opened with the vault's keys under its record id and
    /// context.
    Record {
        /// What the item says of it.
        meta: ItemMeta,
        /// The opened record.
        record: OpenedRecord,
    },
    /// A file: its header checked; read its plaintext with
    /// [`ExportReader::copy_file`] before the next item (or it is read and
    /// checked, and dropped, by [`ExportReader::next_item`]).
    File {
        /// What the item says of it.
        meta: ItemMeta,
        /// Its plaintext length.
        len: u64,
    },
    /// The vault log: its checkpoint's signature (the server's key the log
    /// announces, or an identity key of the vault) and its leaves' tree
    /// root both checked.
    Log {
        /// The checkpoint's tree size (= the number of leaves).
        size: u64,
        /// The signed checkpoint, as in the export.
        checkpoint: String,
        /// Every entry, parsed, in order from 0 (each covered by the
        /// checkpoint's tree root; who accessed what, for the patient).
        entries: Vec<crate::log::entry::Entry>,
    },
}

/// What a reader checked, for a tool to report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// The manifests of the history, each following the one before.
    pub manifests: u64,
    /// Records opened.
    pub records: u64,
    /// Files opened, every chunk.
    pub files: u64,
    /// Their plaintext bytes.
    pub file_bytes: u64,
    /// Log leaves whose tree matches a signed checkpoint.
    pub log_leaves: Option<u64>,
}

/// Reads an export from `input` with the recovery code, checking every byte:
/// the prefix manifest's signature, the outer stream (every chunk
/// authenticated, nothing cut or appended), the history chain, each record
/// and file under the vault's keys, the log, and the end counts.
pub struct ExportReader<R: Read> {
    input: R,
    vault: Vault,
    header: HeaderMeta,
    opener: StreamOpener,
    /// The next sealed chunk, read ahead so that the last one is known.
    pending: Vec<u8>,
    /// Plaintext of the current chunk not yet consumed.
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    /// Sealed bytes read from `input`.
    read: u64,
    /// A file item whose body was not read yet: (record binding, length).
    file: Option<(Vec<u8>, Vec<u8>, u64)>,
    last_manifest: Option<Manifest>,
    checked: Checked,
    counts: EndMeta,
    done: bool,
}

impl<R: Read> core::fmt::Debug for ExportReader<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExportReader")
            .field("read", &self.read)
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let rest = buf.get_mut(n..).unwrap_or_default();
        match input.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Error::Malformed("the export could not be read")),
        }
    }
    Ok(n)
}

impl<R: Read> ExportReader<R> {
    /// Reads the prefix and the stream header: the manifest must be
    /// well-formed and validly signed (`ManifestInvalid`), the code must open
    /// it (`UnlockFailed`; a typo is `InvalidRecoveryCode` earlier, at
    /// parse), and the stream must be this export's (`DecryptionFailed`).
    pub fn open(mut input: R, code: &RecoveryCode) -> Result<ExportReader<R>> {
        let mut head = [0u8; 9];
        if read_full(&mut input, &mut head)? < head.len() || head.get(..4) != Some(&MAGIC[..]) {
            return Err(bad("not a medseal export"));
        }
        if head.get(4) != Some(&VERSION) {
            return Err(Error::UnknownVersion {
                what: "export",
                version: u64::from(head.get(4).copied().unwrap_or(0)),
            });
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(head.get(5..9).unwrap_or(&[0; 4]));
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_MANIFEST_LEN {
            return Err(Error::TooLarge);
        }
        let mut manifest_json = vec![0u8; len];
        if read_full(&mut input, &mut manifest_json)? < len {
            return Err(Error::Truncated);
        }
        let text = core::str::from_utf8(&manifest_json).map_err(|_| Error::ManifestInvalid)?;
        let manifest = Manifest::from_json(text)?;
        manifest.verify_self_signature()?;
        let vault = Vault::unlock_with_recovery_code(&manifest, code, 0)?;
        let mut prefix_bytes = head.to_vec();
        prefix_bytes.extend_from_slice(&manifest_json);
        let ctx_bytes = context(&prefix_bytes);
        let mut stream_head = [0u8; HEADER_LEN];
        if read_full(&mut input, &mut stream_head)? < HEADER_LEN {
            return Err(Error::Truncated);
        }
        // Only the newest epoch: a removed passkey or a rotated recovery
        // code still holds older epochs' keys (until they are retired), and
        // could otherwise seal a whole export that the current code opens.
        if stream::read_header(&stream_head)?.epoch != manifest.epoch() {
            return Err(bad(
                "export is not sealed under its manifest's newest key epoch",
            ));
        }
        let opener = vault.open_stream(
            &stream_head,
            &RecordContext::with_context(RECORD_ID, &ctx_bytes),
        )?;
        let mut r = ExportReader {
            input,
            vault,
            header: HeaderMeta {
                medseal: String::new(),
                version: 0,
                vault_id: String::new(),
                created: 0,
                app: None,
            },
            opener,
            pending: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            read: (9 + len + HEADER_LEN) as u64,
            file: None,
            last_manifest: None,
            checked: Checked::default(),
            counts: EndMeta::default(),
            done: false,
        };
        r.fill_pending()?;
        let (kind, meta, body_len) = r.frame_head()?;
        match (kind, check_meta(kind, &meta, body_len)?) {
            (ItemKind::Header, Meta::Header(h)) => {
                if h.vault_id != crate::b64::encode(r.vault.vault_id()) {
                    return Err(Error::WrongVault);
                }
                r.header = h;
            }
            _ => return Err(bad("export does not start with its header")),
        }
        Ok(r)
    }

    /// The prefix manifest (the vault's manifest when the export was made).
    pub fn manifest(&self) -> &Manifest {
        self.vault.manifest()
    }

    /// The header item.
    pub fn header(&self) -> &HeaderMeta {
        &self.header
    }

    /// Sealed bytes read so far (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// What was checked so far.
    pub fn checked(&self) -> &Checked {
        &self.checked
    }

    fn fill_pending(&mut self) -> Result<()> {
        let mut buf = vec![0u8; SEALED_CHUNK_LEN];
        let n = read_full(&mut self.input, &mut buf)?;
        buf.truncate(n);
        self.read += n as u64;
        self.pending = buf;
        Ok(())
    }

    /// Opens the next outer chunk into `plain`; false at the end.
    fn next_chunk(&mut self) -> Result<bool> {
        if self.opener.finish().is_ok() {
            return Ok(false);
        }
        let chunk = core::mem::take(&mut self.pending);
        let last = if chunk.len() == SEALED_CHUNK_LEN {
            self.fill_pending()?;
            self.pending.is_empty()
        } else {
            true
        };
        let opened = self.opener.open_next(&chunk, last).map_err(|e| match e {
            Error::InvalidArgument(_) => Error::Truncated,
            other => other,
        })?;
        self.plain = opened;
        self.pos = 0;
        Ok(true)
    }

    /// Reads exactly `out.len()` plaintext bytes of the inner items.
    fn take(&mut self, out: &mut [u8]) -> Result<()> {
        let mut n = 0;
        while n < out.len() {
            if self.pos >= self.plain.len() && !self.next_chunk()? {
                return Err(Error::Truncated);
            }
            let avail = self.plain.get(self.pos..).unwrap_or_default();
            let want = out.len() - n;
            let k = want.min(avail.len());
            if let (Some(dst), Some(src)) = (out.get_mut(n..n + k), avail.get(..k)) {
                dst.copy_from_slice(src);
            }
            n += k;
            self.pos += k;
        }
        Ok(())
    }

    fn take_vec(&mut self, len: u64, max: u64) -> Result<Zeroizing<Vec<u8>>> {
        if len > max {
            return Err(Error::TooLarge);
        }
        let mut v = Zeroizing::new(vec![
            0u8;
            usize::try_from(len).map_err(|_| Error::TooLarge)?
        ]);
        self.take(&mut v)?;
        Ok(v)
    }

    fn frame_head(&mut self) -> Result<(ItemKind, String, u64)> {
        let mut h = [0u8; FRAME_HEAD_LEN];
        self.take(&mut h)?;
        let kind = ItemKind::from_byte(h.first().copied().unwrap_or(0))
            .ok_or(bad("export item of an unknown kind"))?;
        let mut l = [0u8; 4];
        l.copy_from_slice(h.get(1..5).unwrap_or(&[0; 4]));
        let meta_len = u64::from(u32::from_be_bytes(l));
        let meta = self.take_vec(meta_len, MAX_META_LEN as u64)?;
        let meta = String::from_utf8(meta.to_vec()).map_err(|_| bad("export item is not valid"))?;
        let mut b = [0u8; 8];
        self.take(&mut b)?;
        Ok((kind, meta, u64::from_be_bytes(b)))
    }

    /// The next item, checked; `Ok(None)` after the end item, once the end
    /// counts and the end of the stream (nothing after it) are checked.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        if self.file.is_some() {
            self.copy_file(&mut std::io::sink(), |_| {})?;
        }
        let (kind, meta_text, body_len) = self.frame_head()?;
        let meta = check_meta(kind, &meta_text, body_len)?;
        match (kind, meta) {
            (ItemKind::Manifest, _) => {
                if self.counts.records + self.counts.files + self.counts.logs > 0 {
                    return Err(bad("export has a manifest after its records, files or log"));
                }
                self.counts.manifests += 1;
                let body = self.take_vec(body_len, MAX_MANIFEST_LEN as u64)?;
                let text = core::str::from_utf8(&body).map_err(|_| Error::ManifestInvalid)?;
                let m = Manifest::from_json(text)?;
                m.verify_self_signature()?;
                if m.vault_id() != self.vault.vault_id() {
                    return Err(Error::WrongVault);
                }
                if let Some(prev) = &self.last_manifest {
                    m.check_update(prev)?;
                }
                self.last_manifest = Some(m.clone());
                self.checked.manifests += 1;
                Ok(Some(Item::Manifest(Box::new(m))))
            }
            (ItemKind::Record, Meta::Item(meta)) => {
                self.counts.records += 1;
                let body = self.take_vec(body_len, MAX_INLINE_LEN)?;
                let sealed = if meta.form.as_deref() == Some("text") {
                    crate::record::from_text_bytes(&body)?
                } else {
                    body.to_vec()
                };
                let (id, context) = meta.binding()?;
                let record = self
                    .vault
                    .open_record(&sealed, &RecordContext::with_context(&id, &context))?;
                self.checked.records += 1;
                Ok(Some(Item::Record { meta, record }))
            }
            (ItemKind::File, Meta::Item(meta)) => {
                self.counts.files += 1;
                let (id, context) = meta.binding()?;
                let len = stream::plaintext_size(body_len)?;
                self.file = Some((id, context, body_len));
                Ok(Some(Item::File { meta, len }))
            }
            (ItemKind::Log, _) => {
                if self.counts.logs > 0 {
                    return Err(bad("export has more than one log"));
                }
                self.counts.logs += 1;
                let body = self.take_vec(body_len, MAX_INLINE_LEN)?;
                let (size, checkpoint, entries) = self.check_log(&body)?;
                self.checked.log_leaves = Some(size);
                Ok(Some(Item::Log {
                    size,
                    checkpoint,
                    entries,
                }))
            }
            (ItemKind::End, Meta::End(end)) => {
                if end != self.counts {
                    return Err(bad("export end counts do not match its items"));
                }
                match &self.last_manifest {
                    Some(m) if m.hash() == self.vault.manifest().hash() => {}
                    _ => return Err(bad("export history does not end at the export's manifest")),
                }
                if self.pos != self.plain.len() || self.next_chunk()? {
                    return Err(bad("export has bytes after its end item"));
                }
                self.opener.finish()?;
                self.done = true;
                Ok(None)
            }
            _ => Err(bad("export item out of place")),
        }
    }

    /// Reads the current file item's plaintext into `out`, checking every
    /// chunk; `progress` is told the plaintext bytes written so far.
    /// Nothing of a chunk that fails is written.
    pub fn copy_file<W: Write>(
        &mut self,
        out: &mut W,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let Some((id, context, sealed_len)) = self.file.take() else {
            return Err(Error::InvalidArgument("no file item to read"));
        };
        let ctx = RecordContext::with_context(&id, &context);
        let mut head = [0u8; HEADER_LEN];
        self.take(&mut head)?;
        let mut opener = self.vault.open_stream(&head, &ctx)?;
        let mut rest = sealed_len.saturating_sub(HEADER_LEN as u64);
        let mut written = 0u64;
        let mut chunk = vec![0u8; SEALED_CHUNK_LEN];
        loop {
            // Full chunks, then one shorter (`plaintext_size` checked the length).
            let last = rest < SEALED_CHUNK_LEN as u64;
            let n = if last {
                usize::try_from(rest).map_err(|_| Error::TooLarge)?
            } else {
                SEALED_CHUNK_LEN
            };
            let buf = chunk.get_mut(..n).unwrap_or_default();
            self.take(buf)?;
            rest -= n as u64;
            let plain = opener.open_next(buf, last)?;
            out.write_all(&plain)
                .map_err(|_| Error::Malformed("the file could not be written"))?;
            written += plain.len() as u64;
            progress(written);
            if last {
                break;
            }
        }
        opener.finish()?;
        self.checked.files += 1;
        self.checked.file_bytes += written;
        Ok(written)
    }

    /// Checks a log item as a device's first sync of the log would
    /// ([`crate::log::LogState::sync`] from nothing): every entry at its
    /// position and signed by its author (vault entries by an identity key
    /// of their epoch, server entries by the key entry 0 announces, signed
    /// by the vault), the leaves' tree root equal to the checkpoint's, and
    /// the checkpoint signed by that server key. Leaves an app took from a
    /// server without checking them cannot pass as the vault's own entries.
    fn check_log(&self, body: &[u8]) -> Result<(u64, String, Vec<crate::log::entry::Entry>)> {
        use crate::log::{LogState, SyncInput};
        let log: LogBody =
            serde_json::from_slice(body).map_err(|_| bad("export log is not valid"))?;
        let mut leaves = Vec::with_capacity(log.leaves.len());
        for leaf in &log.leaves {
            leaves.push(crate::b64::decode(leaf.as_bytes()).ok_or(bad("export log is not valid"))?);
        }
        let mut state = LogState::new(self.vault.vault_id());
        let entries = state.sync(
            self.vault.manifest(),
            &SyncInput {
                checkpoint: log.checkpoint.clone(),
                proof: Vec::new(),
                entries: leaves,
                cosigned: Vec::new(),
            },
        )?;
        Ok((state.size(), log.checkpoint, entries))
    }
}
