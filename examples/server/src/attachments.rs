//! Attachments on disk: large files sealed in the browser as medseal streams
//! (FORMAT.md §17), one file each, never a SQLite row.
//!
//! `<data dir>/attachments/<user id>/<attachment id>` is the sealed file
//! (attachment ids follow the record-id rules: 1 to 128 of `A-Z a-z 0-9 -
//! _ .`, not `.` or `..`, so an id is always one plain file name); the
//! `attachments` table holds its id, size and times, for the listing and
//! the quota. Temporary files sit beside it as `<id>~<random>.part` (an
//! upload) or `<id>~<random>.head` (a re-wrapped copy): `~` is in no id, so
//! no temporary file is ever taken for an attachment.
//!
//! Every change to a stored file is a rename of a complete, synced file
//! onto the attachment's name, done on the database's writer connection
//! inside the transaction that changes its row ([`crate::db::put_attachment`],
//! [`crate::db::touch_attachment`], [`crate::db::delete_attachment`]): a
//! reader sees the old file or the new one, whole (one it opened keeps
//! reading the version it opened), and two writes of one id cannot leave
//! one's file under the other's row. A crash can still come between the
//! rename and the commit; [`sweep`], at start, puts the two back in
//! agreement (see there).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use medseal::stream::{read_header, HEADER_LEN, REWRAP_LEN};
use sha2::{Digest, Sha256};

use crate::db::{self, Db};

/// The folder of every account's attachments, under the data folder.
pub const DIR: &str = "attachments";

/// The folder of one account's attachments. User ids are the server's own
/// (UUIDs); anything else is refused rather than joined into a path.
pub fn folder(data_dir: &Path, user_id: &str) -> io::Result<PathBuf> {
    let plain = !user_id.is_empty()
        && user_id.len() <= 64
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !plain {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a user id that is not a plain file name",
        ));
    }
    Ok(data_dir.join(DIR).join(user_id))
}

/// The name of a temporary file of attachment `id`: `<id>~<token>.<kind>`.
pub fn temp_name(id: &str, token: &str, kind: &str) -> String {
    let token: String = token.chars().take(16).collect();
    format!("{id}~{token}.{kind}")
}

fn is_temp_name(name: &str) -> bool {
    name.contains('~')
}

/// A temporary file, removed when dropped unless [`TempFile::keep`] was
/// called: an upload that fails, or whose client goes away (its handler is
/// dropped), leaves nothing behind.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// A guard for `path` (the file may not exist yet).
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path, armed: true }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// It was renamed into place: nothing to remove.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Absent already (never made, or renamed away by a write that
            // went on after its request was dropped): nothing to do.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a folder's entries durable (a rename, a new file): fsync of the
/// folder itself, which POSIX systems need and others have no way to do.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Moves the complete, synced file `from` onto `to` (replacing it
/// atomically) and syncs the folder `dir` holding both.
pub fn place(from: &Path, to: &Path, dir: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    sync_dir(dir)
}

/// Removes an attachment's file (one already gone is fine). Not synced:
/// if a crash brings the name back, [`sweep`] removes the file, since its
/// row is gone.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The strong validator of a stored file: from its first bytes (the stream
/// header: a random salt and wrap nonce, new with each upload and each
/// re-wrap) and its size, so it is computed from the very file a request
/// opened, with no race against a write that replaces it.
pub fn etag(head: &[u8], size: u64) -> String {
    let mut h = Sha256::new();
    h.update(head);
    h.update(size.to_be_bytes());
    let d = h.finalize();
    format!(
        "\"{}\"",
        medseal::base64url(d.get(..16).unwrap_or_default())
    )
}

/// What identifies a stored file's content: its header and size (see [`etag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    head: Vec<u8>,
    size: u64,
}

fn identity(file: &mut File) -> io::Result<FileIdentity> {
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    file.seek(SeekFrom::Start(0))?;
    Read::by_ref(file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(FileIdentity { head, size })
}

/// Why a re-wrapped head cannot be stored.
#[derive(Debug)]
pub enum HeadError {
    /// No file (the attachment was deleted meanwhile).
    Missing,
    /// The new bytes do not fit the stored file's header: the reason.
    Mismatch(&'static str),
    /// The stored file was replaced between the copy and its rename.
    Changed,
    /// The file system failed.
    Io(io::Error),
}

impl From<io::Error> for HeadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            HeadError::Missing
        } else {
            HeadError::Io(e)
        }
    }
}

/// A stored file copied with a re-wrapped head, synced, ready to be renamed
/// over the file it was copied from.
#[derive(Debug)]
pub struct Rewrapped {
    /// The copy (removed if dropped before it is placed).
    pub temp: TempFile,
    /// The file it was copied from, to check it is still the stored one.
    pub source: FileIdentity,
}

/// Checks `new` (the first [`REWRAP_LEN`] bytes of a re-wrapped stream,
/// FORMAT.md §17.5) against the stored file at `path` and, if it fits,
/// copies the file to `temp` with its first bytes replaced, synced.
/// `Ok(None)`: the file already starts with these bytes.
///
/// What is checked: `new` followed by the stored bytes 78..134 is a stream
/// header (magic, version, suite, key epoch at least 1, record version in
/// range: `medseal::stream::read_header`); its record version (bytes
/// 10..18) is the stored one's (the chunks are bound to it, so a re-wrap
/// keeps it); its key epoch is not older than the stored one's (a re-wrap
/// moves to the vault's current epoch). What cannot be: whether the wrapped
/// data key (bytes 18..78) unwraps, and to the key the chunks were sealed
/// with. The server holds no key; a wrong one makes the file fail to open
/// (the commitment check, `DecryptionFailed`), never open to other bytes.
pub fn rewrapped_copy(
    path: &Path,
    temp: PathBuf,
    new: &[u8],
) -> Result<Option<Rewrapped>, HeadError> {
    if new.len() != REWRAP_LEN {
        return Err(HeadError::Mismatch("not the 78 bytes of a re-wrapped head"));
    }
    let mut src = File::open(path)?;
    let source = identity(&mut src)?;
    let old = read_header(&source.head)
        .map_err(|_| HeadError::Mismatch("the stored file has no stream header"))?;
    let mut head = Vec::with_capacity(HEADER_LEN);
    head.extend_from_slice(new);
    head.extend_from_slice(source.head.get(REWRAP_LEN..).unwrap_or_default());
    let meta = read_header(&head).map_err(|_| HeadError::Mismatch("not a stream header"))?;
    if head.get(10..18) != source.head.get(10..18) {
        return Err(HeadError::Mismatch(
            "the record version differs from the stored file's",
        ));
    }
    if meta.epoch < old.epoch {
        return Err(HeadError::Mismatch(
            "the key epoch is older than the stored file's",
        ));
    }
    if head == source.head {
        return Ok(None);
    }
    let guard = TempFile::new(temp);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(guard.path())?;
    // File to file: the kernel copies (copy_file_range on Linux), no buffer here.
    let copied = io::copy(&mut src, &mut out)?;
    if copied != source.size {
        return Err(HeadError::Changed);
    }
    out.seek(SeekFrom::Start(0))?;
    out.write_all(new)?;
    out.sync_all()?;
    Ok(Some(Rewrapped {
        temp: guard,
        source,
    }))
}

/// Renames a re-wrapped copy over `to` if `to` is still the file it was
/// copied from (run on the writer connection, inside the row's
/// transaction, so no upload of the same id comes between the check and
/// the rename).
pub fn place_rewrapped(
    copy: &Path,
    source: &FileIdentity,
    to: &Path,
    dir: &Path,
) -> Result<(), HeadError> {
    let current = identity(&mut File::open(to)?)?;
    if &current != source {
        return Err(HeadError::Changed);
    }
    place(copy, to, dir).map_err(HeadError::from)
}

/// What [`sweep`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Temporary files removed (uploads and copies a crash or a kill left).
    pub temporary: usize,
    /// Files removed that had no row (placed just before a crash, before
    /// their row was committed; or left by a deletion the crash undid).
    pub orphans: usize,
    /// Rows removed whose file is gone.
    pub rows_without_file: usize,
    /// Rows whose size was set to their file's (a replacement placed just
    /// before a crash, its row not yet committed: the file is what is served).
    pub sizes_fixed: usize,
}

/// Puts the attachment files and rows back in agreement; run at start,
/// before anything is served (no upload is in progress). Removes the
/// temporary files, the files without a row (and the folders of users
/// without any), the rows without a file, and sets each row's size to its
/// file's.
pub fn sweep(data_dir: &Path, db: &Db) -> io::Result<Swept> {
    let mut swept = Swept::default();
    let root = data_dir.join(DIR);
    if !root.is_dir() {
        return Ok(swept);
    }
    let rows = db
        .read_blocking(db::attachment_ids)
        .map_err(io::Error::other)?;
    let mut by_user: HashMap<String, HashSet<String>> = HashMap::new();
    for (user, id) in rows {
        by_user.entry(user).or_default().insert(id);
    }
    let mut sizes: Vec<(String, String, u64)> = Vec::new();
    let mut missing: Vec<(String, String)> = Vec::new();
    for entry in fs::read_dir(&root)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let user = entry.file_name().to_string_lossy().into_owned();
        let ids = by_user.remove(&user).unwrap_or_default();
        let mut seen = HashSet::new();
        for file in fs::read_dir(entry.path())? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            if !file.file_type()?.is_file() {
                continue;
            }
            if is_temp_name(&name) {
                remove(&file.path())?;
                swept.temporary += 1;
            } else if ids.contains(&name) {
                sizes.push((user.clone(), name.clone(), file.metadata()?.len()));
                seen.insert(name);
            } else {
                remove(&file.path())?;
                swept.orphans += 1;
            }
        }
        for id in ids.difference(&seen) {
            missing.push((user.clone(), id.clone()));
        }
        if ids.is_empty() {
            // Empty now (or holding what is not ours, which stays).
            let _ = fs::remove_dir(entry.path());
        }
    }
    for (user, ids) in by_user {
        missing.extend(ids.into_iter().map(|id| (user.clone(), id)));
    }
    let (fixed, dropped) = db
        .write_blocking(|c| db::reconcile_attachments(c, &sizes, &missing))
        .map_err(io::Error::other)?;
    swept.sizes_fixed = fixed;
    swept.rows_without_file = dropped;
    Ok(swept)
}
