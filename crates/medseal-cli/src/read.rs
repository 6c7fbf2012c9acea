//! Reads an export through the core's `ExportReader`, which checks every
//! byte, and lays its items out as plain files (when given a directory):
//! FHIR resources, other records, files, manifests. A failure is turned
//! into one line that names the part that was wrong.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indicatif::ProgressBar;
use medseal::export::{Checked, ExportReader, Item, ItemMeta};
use medseal::stream::CHUNK_LEN;
use medseal::{Error, RecoveryCode};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::diagnose::{diagnose, Outer};
use crate::fhir;
use crate::names::{self, printable, Taken};
use crate::staging::{self, io_error};

/// What was exported and checked, for INDEX.md and the summary printed.
#[derive(Debug, Default)]
pub struct Summary {
    /// The export file's name as given.
    pub file: String,
    /// Its length in bytes.
    pub len: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The vault id (base64url).
    pub vault_id: String,
    /// When the export was made (Unix seconds, the writer's clock).
    pub created: u64,
    /// The app that wrote it, as it names itself.
    pub app: Option<String>,
    /// The prefix manifest's revision and key epoch.
    pub revision: u64,
    /// Its key epoch.
    pub epoch: u32,
    /// (revision, key epoch, path) of each manifest of the history.
    pub manifests: Vec<(u64, u32, String)>,
    /// Each record.
    pub records: Vec<RecordRow>,
    /// Each file.
    pub files: Vec<FileRow>,
    /// The log's leaves checked against its signed checkpoint.
    pub log: Option<u64>,
    /// The bundle's path, when there are FHIR resources.
    pub bundle: Option<String>,
    /// What the reader checked.
    pub checked: Checked,
    /// Chunks of the outer stream.
    pub chunks: u64,
}

/// A record of the export.
#[derive(Debug)]
pub struct RecordRow {
    /// Its record id.
    pub id: String,
    /// Its context (base64url), if any.
    pub context: Option<String>,
    /// What it holds: `FHIR Observation`, `JSON`, `bytes`.
    pub kind: String,
    /// Where it was written (relative to the output directory).
    pub path: String,
    /// Its plaintext length.
    pub size: u64,
}

/// A file of the export.
#[derive(Debug)]
pub struct FileRow {
    /// Its name as the vault knows it.
    pub name: Option<String>,
    /// Its record id.
    pub id: String,
    /// Its media type as the vault knows it.
    pub media_type: Option<String>,
    /// Where it was written.
    pub path: String,
    /// Its plaintext length.
    pub size: u64,
}

/// Bytes read and their hash, shared with the progress bar.
#[derive(Default)]
struct Tally {
    read: u64,
    head: Vec<u8>,
    hash: Sha256,
}

struct Counting<R> {
    inner: R,
    tally: Rc<RefCell<Tally>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        let mut t = self.tally.borrow_mut();
        t.read += n as u64;
        if t.head.len() < 9 {
            let k = (9 - t.head.len()).min(got.len());
            t.head.extend_from_slice(got.get(..k).unwrap_or_default());
        }
        t.hash.update(got);
        Ok(n)
    }
}

/// Where the reader was when it failed.
enum At<'a> {
    Open,
    /// Reading inner item `index` (0 = the header), after the manifest of
    /// revision `after` if any.
    Item {
        index: usize,
        after: Option<u64>,
    },
    /// Copying a file's plaintext: `written` bytes were.
    File {
        name: &'a str,
        id: &'a str,
        written: u64,
    },
}

/// Paths handed out, per directory (relative to the output root).
#[derive(Default)]
struct Layout {
    root: Option<PathBuf>,
    taken: HashMap<String, Taken>,
    made: HashSet<String>,
    /// FHIR resource type → its directory's name.
    types: HashMap<String, String>,
}

impl Layout {
    fn dir(&mut self, rel: &str) -> Result<(), String> {
        if let Some(root) = &self.root {
            if self.made.insert(rel.to_owned()) {
                let mut p = root.clone();
                for part in rel.split('/') {
                    p.push(part);
                    if !p.is_dir() {
                        staging::mkdir(&p).map_err(|e| io_error("create", &p, &e))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn claim(&mut self, dir: &str, name: &str) -> String {
        let t = self.taken.entry(dir.to_owned()).or_default();
        if dir == "fhir" {
            t.reserve("bundle.json");
        }
        format!("{dir}/{}", t.claim(name))
    }

    fn full(&self, rel: &str) -> Option<PathBuf> {
        self.root.as_ref().map(|r| {
            let mut p = r.clone();
            p.extend(rel.split('/'));
            p
        })
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), String> {
        if let Some((dir, _)) = rel.rsplit_once('/') {
            self.dir(dir)?;
        }
        match self.full(rel) {
            Some(p) => staging::write_new(&p, bytes),
            None => Ok(()),
        }
    }

    fn fhir_dir(&mut self, resource_type: &str) -> String {
        if let Some(d) = self.types.get(resource_type) {
            return d.clone();
        }
        let t = self.taken.entry("fhir".to_owned()).or_default();
        t.reserve("bundle.json");
        // The type comes from the record: made safe like any other name
        // (a resourceType "CON" must not become a Windows device).
        let safe = names::component(resource_type).unwrap_or_else(|| "Resource".to_owned());
        let d = format!("fhir/{}", t.claim(&safe));
        self.types.insert(resource_type.to_owned(), d.clone());
        d
    }
}

/// Reads the export at `path` with `code`. With `out`, writes its items
/// there; the summary says what was read, written and checked.
pub fn read_export(
    path: &Path,
    code: &RecoveryCode,
    out: Option<&Path>,
    bar: &ProgressBar,
) -> Result<Summary, String> {
    let file = File::open(path).map_err(|e| io_error("read", path, &e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error("read", path, &e))?
        .len();
    bar.set_length(len);
    let tally = Rc::new(RefCell::new(Tally::default()));
    let input = Counting {
        inner: file,
        tally: Rc::clone(&tally),
    };
    let fail = |e: Error, at: At<'_>| explain(e, at, path, code);
    let mut r = ExportReader::open(input, code).map_err(|e| fail(e, At::Open))?;
    let mut s = Summary {
        file: path.display().to_string(),
        len,
        vault_id: r.header().vault_id.clone(),
        created: r.header().created,
        app: r.header().app.clone(),
        revision: r.manifest().revision(),
        epoch: r.manifest().epoch(),
        ..Summary::default()
    };
    let vault_id = s.vault_id.clone();
    let mut lay = Layout {
        root: out.map(Path::to_path_buf),
        ..Layout::default()
    };
    // (full URL, exact JSON) of each FHIR resource, for the bundle.
    let mut resources: Vec<(String, Zeroizing<String>)> = Vec::new();
    let mut urls: HashSet<String> = HashSet::new();
    let mut index = 0usize;
    let mut after: Option<u64> = None;
    loop {
        bar.set_position(r.bytes_read());
        let item = match r.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => {
                return Err(fail(
                    e,
                    At::Item {
                        index: index + 1,
                        after,
                    },
                ))
            }
        };
        index += 1;
        match item {
            Item::Manifest(m) => {
                let rel = lay.claim("manifests", &format!("{}.json", m.revision()));
                lay.write(&rel, m.to_json().as_bytes())?;
                after = Some(m.revision());
                s.manifests.push((m.revision(), m.epoch(), rel));
            }
            Item::Record { meta, mut record } => {
                let row = record_out(
                    &mut lay,
                    &meta,
                    &record.data,
                    &vault_id,
                    &mut resources,
                    &mut urls,
                );
                record.data.zeroize();
                s.records.push(row?);
            }
            Item::File { meta, len: _ } => {
                let name = meta
                    .name
                    .as_deref()
                    .and_then(|n| names::component(names::last_component(n)))
                    .or_else(|| names::component(&meta.record_id))
                    .unwrap_or_else(|| "file".to_owned());
                let rel = lay.claim("files", &name);
                let shown = printable(meta.name.as_deref().unwrap_or(&meta.record_id));
                let id = printable(&meta.record_id);
                let mut sink: Box<dyn Write> = match lay.full(&rel) {
                    Some(p) => {
                        lay.dir("files")?;
                        Box::new(std::io::BufWriter::new(staging::create_new(&p)?))
                    }
                    None => Box::new(std::io::sink()),
                };
                let mut written = 0u64;
                let t = Rc::clone(&tally);
                let copied = r.copy_file(&mut sink, |n| {
                    written = n;
                    bar.set_position(t.borrow().read);
                });
                let size = match copied {
                    Ok(n) => n,
                    Err(e) => {
                        return Err(fail(
                            e,
                            At::File {
                                name: &shown,
                                id: &id,
                                written,
                            },
                        ))
                    }
                };
                sink.flush()
                    .map_err(|e| io_error("write", Path::new(&rel), &e))?;
                s.files.push(FileRow {
                    name: meta.name.clone(),
                    id: meta.record_id.clone(),
                    media_type: meta.media_type.clone(),
                    path: rel,
                    size,
                });
            }
            Item::Log {
                size,
                checkpoint,
                entries,
            } => {
                // Parsed entries rather than leaf bytes: readable as they are
                // (who opened what, when), and each is under the checked root.
                let text = serde_json::to_string_pretty(&serde_json::json!({
                    "checkpoint": checkpoint,
                    "entries": entries,
                }))
                .map_err(|e| format!("cannot write the log: {e}"))?;
                lay.write("log.json", text.as_bytes())?;
                s.log = Some(size);
            }
            _ => {}
        }
    }
    bar.set_position(r.bytes_read());
    s.checked = r.checked().clone();
    if !resources.is_empty() {
        let ts = crate::index::instant(s.created);
        let list: Vec<(String, String)> = resources
            .iter()
            .map(|(u, t)| (u.clone(), t.to_string()))
            .collect();
        let mut text = Zeroizing::new(fhir::bundle(&ts, &list)?);
        for (_, mut t) in list {
            t.zeroize();
        }
        lay.write("fhir/bundle.json", text.as_bytes())?;
        text.zeroize();
        s.bundle = Some("fhir/bundle.json".into());
    }
    let t = tally.borrow();
    s.sha256 = t
        .hash
        .clone()
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest_len = t
        .head
        .get(5..9)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    let body = len.saturating_sub(9 + u64::from(manifest_len) + medseal::stream::HEADER_LEN as u64);
    s.chunks = body / medseal::stream::SEALED_CHUNK_LEN as u64 + 1;
    Ok(s)
}

/// Writes one record where its kind says; returns its row.
fn record_out(
    lay: &mut Layout,
    meta: &ItemMeta,
    data: &[u8],
    vault_id: &str,
    resources: &mut Vec<(String, Zeroizing<String>)>,
    urls: &mut HashSet<String>,
) -> Result<RecordRow, String> {
    let base = names::component(&meta.record_id).unwrap_or_else(|| "record".to_owned());
    let text = core::str::from_utf8(data).ok();
    let (kind, rel) = match (text, fhir::resource(data)) {
        (Some(text), Some(res)) => {
            let dir = lay.fhir_dir(&res.resource_type);
            // A FHIR id names the file when it is one ([A-Za-z0-9-.]{1,64}).
            let name = res
                .id
                .as_deref()
                .filter(|id| fhir::is_fhir_id(id))
                .and_then(names::component)
                .unwrap_or_else(|| base.clone());
            let rel = lay.claim(&dir, &format!("{name}.json"));
            let pretty = Zeroizing::new(fhir::pretty(text));
            lay.write(&rel, pretty.as_bytes())?;
            let mut url = match res.id.as_deref() {
                Some(id) if fhir::is_uuid(id) => format!("urn:uuid:{}", id.to_ascii_lowercase()),
                _ => format!(
                    "urn:uuid:{}",
                    fhir::derived_uuid(&[
                        vault_id.as_bytes(),
                        meta.record_id.as_bytes(),
                        meta.context.as_deref().unwrap_or("").as_bytes()
                    ])
                ),
            };
            let mut n = 1u64;
            while !urls.insert(url.clone()) {
                n += 1;
                url = format!(
                    "urn:uuid:{}",
                    fhir::derived_uuid(&[
                        vault_id.as_bytes(),
                        meta.record_id.as_bytes(),
                        meta.context.as_deref().unwrap_or("").as_bytes(),
                        &n.to_be_bytes()
                    ])
                );
            }
            resources.push((url, Zeroizing::new(text.to_owned())));
            (format!("FHIR {}", res.resource_type), rel)
        }
        _ if fhir::is_json(data) => {
            let rel = lay.claim("records", &format!("{base}.json"));
            lay.write(&rel, data)?;
            ("JSON".to_owned(), rel)
        }
        _ => {
            let rel = lay.claim("records", &format!("{base}.bin"));
            lay.write(&rel, data)?;
            ("bytes".to_owned(), rel)
        }
    };
    Ok(RecordRow {
        id: meta.record_id.clone(),
        context: meta.context.clone(),
        kind,
        path: rel,
        size: data.len() as u64,
    })
}

fn thousands(n: u64) -> String {
    crate::index::thousands(n)
}

/// One line naming what was wrong (never the code, never plaintext).
fn explain(e: Error, at: At<'_>, path: &Path, code: &RecoveryCode) -> String {
    match (&at, &e) {
        (At::Open, Error::UnlockFailed) => {
            return "the recovery code does not open this export".to_owned()
        }
        (At::Open, Error::UnknownVersion { what: "export", version }) => {
            return format!(
                "this export is of version {version}, written by a newer medseal: upgrade this tool to open it"
            )
        }
        _ => {}
    }
    let item = match at {
        At::Item { index, .. } => Some(index),
        _ => None,
    };
    match diagnose(path, code, item) {
        Outer::NotExport => format!("{} is not a medseal export", path.display()),
        Outer::Cut(w) => format!("the export is cut short: it ends {w}"),
        Outer::Manifest { end } => format!(
            "manifest signature: the export's manifest (bytes 9–{}) fails its signature check or is not a manifest: it was altered",
            thousands(end.saturating_sub(1))
        ),
        Outer::Unlock => "the recovery code does not open this export".to_owned(),
        Outer::StreamHeader { start, end } => format!(
            "the export's stream header (bytes {}–{}) does not authenticate under the vault's key: it was altered, or the manifest in front of it replaced",
            thousands(start),
            thousands(end.saturating_sub(1))
        ),
        Outer::Chunk { k, start, end, at_end: false } => format!(
            "chunk {k} of the export (bytes {}–{}) does not authenticate: it was altered",
            thousands(start),
            thousands(end.saturating_sub(1))
        ),
        Outer::Chunk { k, start, end, at_end: true } => format!(
            "the export was cut short or extended (or its end altered): its last chunk, chunk {k} of the export (bytes {}–{}), does not authenticate as the one that closes it",
            thousands(start),
            thousands(end.saturating_sub(1))
        ),
        Outer::CutAfter { k } => format!(
            "the export was cut short: it ends after chunk {k}, without the chunk that closes it"
        ),
        Outer::Unreadable(m) => m,
        Outer::Intact(frame) => inner(&e, at, frame),
    }
}

/// The outer stream holds: what went wrong is in the item being read (only
/// a writer holding the vault's keys can have put it there).
fn inner(e: &Error, at: At<'_>, frame: Option<(u8, String)>) -> String {
    let record_of = |meta: &str| {
        serde_json::from_str::<ItemMeta>(meta)
            .map(|m| (printable(&m.record_id), m.name.as_deref().map(printable)))
            .unwrap_or_else(|_| ("(unreadable id)".to_owned(), None))
    };
    match at {
        At::Open => match e {
            Error::WrongVault => "the export's header names another vault than its manifest".to_owned(),
            _ => format!("the export's header: {e}"),
        },
        At::File { name, id, written } => match e {
            Error::DecryptionFailed => format!(
                "file {name} (record {id}): its chunk {} does not authenticate under the vault's keys: it was altered",
                written / CHUNK_LEN as u64 + 1
            ),
            Error::Truncated => format!("file {name} (record {id}) is cut short: {e}"),
            _ => format!("file {name} (record {id}): {e}"),
        },
        At::Item { index, after } => match frame {
            Some((b'M', _)) => match after {
                Some(r) => format!("history: the export's manifest after revision {r} does not follow it: {e}"),
                None => format!("history: the export's first manifest is not valid: {e}"),
            },
            Some((b'R', meta)) => {
                let (id, _) = record_of(&meta);
                format!("record {id} does not open under the vault's keys: {e}")
            }
            Some((b'F', meta)) => {
                let (id, name) = record_of(&meta);
                format!("file {} (record {id}): {e}", name.unwrap_or_else(|| id.clone()))
            }
            Some((b'L', _)) => format!("log: the export's log does not match its signed checkpoint: {e}"),
            Some((b'E', _)) => match e {
                Error::Malformed(w) if w.contains("counts") => {
                    "end counts: the export's end item does not match its items: an item was removed or added".to_owned()
                }
                Error::Malformed(w) if w.contains("history") => {
                    "history: the export's manifest history does not end at the export's manifest".to_owned()
                }
                Error::Malformed(w) if w.contains("after") => {
                    "the export has data after its end item: something was appended".to_owned()
                }
                _ => format!("the export's end item: {e}"),
            },
            _ => match e {
                Error::Truncated => {
                    "the export ends before its end item: items at its end are missing".to_owned()
                }
                _ => format!("item {index} of the export: {e}"),
            },
        },
    }
}
