//! Where an export that failed went wrong. The reader's errors are typed but
//! carry no position (an authentication failure never says more than that
//! it failed); once one happened, this second pass reads the file again
//! part by part, in the order the format lays it out (FORMAT.md §19): the
//! prefix manifest, the stream header, each chunk of the outer stream; and,
//! when all of those hold, the inner item at which the reader stopped.
//! Nothing it reads is written anywhere.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use medseal::export::{self, MAX_META_LEN};
use medseal::stream::{HEADER_LEN, SEALED_CHUNK_LEN};
use medseal::{Error, Manifest, RecordContext, RecoveryCode, Vault};

/// What the second pass found.
#[derive(Debug)]
pub enum Outer {
    /// The file does not start as an export does.
    NotExport,
    /// The file ends inside its prefix or stream header (`where` says which).
    Cut(&'static str),
    /// The prefix manifest does not parse or its signature fails.
    Manifest {
        /// Its bytes' end offset.
        end: u64,
    },
    /// The recovery code does not open the prefix manifest.
    Unlock,
    /// The outer stream's header does not open under the vault and the
    /// prefix: altered, or the manifest in front of it replaced.
    StreamHeader {
        /// Offsets of its bytes.
        start: u64,
        /// End offset (exclusive).
        end: u64,
    },
    /// Chunk `k` (from 1) of the outer stream does not authenticate.
    Chunk {
        /// Its number, from 1.
        k: u64,
        /// Offset of its first byte.
        start: u64,
        /// End offset (exclusive).
        end: u64,
        /// The file ends with it (a cut or an extension shows there).
        at_end: bool,
    },
    /// The file ends after chunk `k`, a full chunk that authenticates as
    /// one that is not the last: the closing chunk is missing.
    CutAfter {
        /// The last chunk present, from 1.
        k: u64,
    },
    /// Every part of the outer stream holds; the inner item asked for, if
    /// it was found: its kind byte and its metadata.
    Intact(Option<(u8, String)>),
    /// The file could not be read again.
    Unreadable(String),
}

fn read_full(f: &mut File, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        let rest = buf.get_mut(n..).unwrap_or_default();
        match f.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("the export could not be read: {e}")),
        }
    }
    Ok(n)
}

/// Reads the export at `path` again with `code`; `item` is the index of the
/// inner item (0 = the header) whose metadata to return when the outer
/// stream holds.
pub fn diagnose(path: &Path, code: &RecoveryCode, item: Option<usize>) -> Outer {
    match run(path, code, item) {
        Ok(o) | Err(o) => o,
    }
}

fn run(path: &Path, code: &RecoveryCode, item: Option<usize>) -> Result<Outer, Outer> {
    let unreadable = |e: String| Outer::Unreadable(e);
    let mut f =
        File::open(path).map_err(|e| unreadable(format!("the export could not be read: {e}")))?;
    let mut head = [0u8; 9];
    let n = read_full(&mut f, &mut head).map_err(unreadable)?;
    if head.get(..4) != Some(&export::MAGIC[..]) {
        return Err(if n < 4 {
            Outer::Cut("inside its first bytes")
        } else {
            Outer::NotExport
        });
    }
    if n < head.len() {
        return Err(Outer::Cut("inside its first bytes"));
    }
    let mut l = [0u8; 4];
    l.copy_from_slice(head.get(5..9).unwrap_or(&[0; 4]));
    let len = u32::from_be_bytes(l) as usize;
    let manifest_end = 9 + len as u64;
    if len > export::MAX_MANIFEST_LEN {
        return Err(Outer::Manifest { end: manifest_end });
    }
    let mut mj = vec![0u8; len];
    if read_full(&mut f, &mut mj).map_err(unreadable)? < len {
        return Err(Outer::Cut("inside its manifest"));
    }
    let manifest = core::str::from_utf8(&mj)
        .ok()
        .and_then(|t| Manifest::from_json(t).ok())
        .filter(|m| m.verify_self_signature().is_ok())
        .ok_or(Outer::Manifest { end: manifest_end })?;
    let vault = Vault::unlock_with_recovery_code(&manifest, code, 0).map_err(|e| match e {
        Error::UnlockFailed => Outer::Unlock,
        _ => Outer::Manifest { end: manifest_end },
    })?;
    let mut prefix = head.to_vec();
    prefix.extend_from_slice(&mj);
    let ctx = export::context(&prefix);
    let mut sh = [0u8; HEADER_LEN];
    if read_full(&mut f, &mut sh).map_err(unreadable)? < HEADER_LEN {
        return Err(Outer::Cut("inside its stream header"));
    }
    let header_end = manifest_end + HEADER_LEN as u64;
    let mut opener = vault
        .open_stream(&sh, &RecordContext::with_context(export::RECORD_ID, &ctx))
        .map_err(|_| Outer::StreamHeader {
            start: manifest_end,
            end: header_end,
        })?;
    let mut walker = item.map(Walker::new);
    let mut chunk = vec![0u8; SEALED_CHUNK_LEN];
    let mut next = vec![0u8; SEALED_CHUNK_LEN];
    let mut n = read_full(&mut f, &mut chunk).map_err(unreadable)?;
    let mut k = 0u64;
    let mut start = header_end;
    loop {
        k += 1;
        let (m, at_end) = if n == SEALED_CHUNK_LEN {
            let m = read_full(&mut f, &mut next).map_err(unreadable)?;
            (m, m == 0)
        } else {
            (0, true)
        };
        let sealed = chunk.get(..n).unwrap_or_default();
        let end = start + n as u64;
        // A full chunk is never the last: a file ending with one was cut
        // at a chunk boundary, which shows when it opens as a middle chunk.
        if at_end && n == SEALED_CHUNK_LEN {
            return Err(match opener.open_next(sealed, false) {
                Ok(_) => Outer::CutAfter { k },
                Err(_) => Outer::Chunk {
                    k,
                    start,
                    end,
                    at_end,
                },
            });
        }
        if n == 0 {
            return Err(Outer::Cut("before its first chunk"));
        }
        let plain = opener.open_next(sealed, at_end).map_err(|_| Outer::Chunk {
            k,
            start,
            end,
            at_end,
        })?;
        if let Some(w) = walker.as_mut() {
            w.feed(&plain);
        }
        if at_end {
            break;
        }
        core::mem::swap(&mut chunk, &mut next);
        n = m;
        start = end;
    }
    Ok(Outer::Intact(walker.and_then(|w| w.found)))
}

/// Walks the inner items' frames (`kind || u32be meta len || meta ||
/// u64be body len || body`) over the plaintext, keeping the metadata of
/// one item only.
struct Walker {
    want: usize,
    index: usize,
    buf: Vec<u8>,
    state: State,
    found: Option<(u8, String)>,
    broken: bool,
}

enum State {
    Head,
    Meta { kind: u8, len: usize },
    BodyLen { kind: u8, meta: Vec<u8> },
    Skip(u64),
}

impl Walker {
    fn new(want: usize) -> Walker {
        Walker {
            want,
            index: 0,
            buf: Vec::new(),
            state: State::Head,
            found: None,
            broken: false,
        }
    }

    /// Moves bytes of `data` into `buf` until it holds `need`; true when it does.
    fn fill(buf: &mut Vec<u8>, need: usize, data: &mut &[u8]) -> bool {
        let k = need.saturating_sub(buf.len()).min(data.len());
        let (now, rest) = data.split_at(k);
        buf.extend_from_slice(now);
        *data = rest;
        buf.len() >= need
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.found.is_none() && !self.broken {
            match &mut self.state {
                State::Head => {
                    if Self::fill(&mut self.buf, export::FRAME_HEAD_LEN, &mut data) {
                        let kind = self.buf.first().copied().unwrap_or(0);
                        let mut l = [0u8; 4];
                        l.copy_from_slice(self.buf.get(1..5).unwrap_or(&[0; 4]));
                        let len = u32::from_be_bytes(l) as usize;
                        self.buf.clear();
                        if len > MAX_META_LEN {
                            self.broken = true;
                        } else {
                            self.state = State::Meta { kind, len };
                        }
                    }
                }
                State::Meta { kind, len } => {
                    if Self::fill(&mut self.buf, *len, &mut data) {
                        let meta = core::mem::take(&mut self.buf);
                        self.state = State::BodyLen { kind: *kind, meta };
                    }
                }
                State::BodyLen { kind, meta } => {
                    if Self::fill(&mut self.buf, 8, &mut data) {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(self.buf.get(..8).unwrap_or(&[0; 8]));
                        self.buf.clear();
                        if self.index == self.want {
                            self.found = Some((*kind, String::from_utf8_lossy(meta).into_owned()));
                            return;
                        }
                        self.index += 1;
                        self.state = State::Skip(u64::from_be_bytes(b));
                    }
                }
                State::Skip(rest) => {
                    let k = (*rest).min(data.len() as u64);
                    data = data.get(k as usize..).unwrap_or_default();
                    *rest -= k;
                    if *rest == 0 {
                        self.state = State::Head;
                    }
                }
            }
            if let State::Skip(0) = self.state {
                self.state = State::Head;
            }
        }
    }
}
