//! The output directory: everything is written into a fresh hidden sibling
//! (readable by its owner only), which becomes `--out` by one rename once
//! the whole export has checked out. On any failure, the sibling and all
//! plaintext in it are removed, so a tampered export leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The staging directory being filled, for the interrupt handler: Ctrl-C
/// (or SIGTERM, SIGHUP) mid-export must not leave decrypted records behind
/// in a hidden folder, and `Drop` does not run when a signal ends the process.
static PARTIAL: Mutex<Option<PathBuf>> = Mutex::new(None);

fn set_partial(p: Option<PathBuf>) {
    if let Ok(mut g) = PARTIAL.lock() {
        *g = p;
    }
}

/// Run on Ctrl-C, SIGTERM or SIGHUP (`main` installs it): removes the
/// staging directory, if any, then ends the process with status 130. The
/// main thread may still be writing into the directory, so removal is
/// retried a few times.
pub fn interrupted() -> ! {
    let partial = PARTIAL.lock().ok().and_then(|g| g.clone());
    let mut removed = true;
    if let Some(p) = partial {
        removed = (0..20).any(|_| match fs::remove_dir_all(&p) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                false
            }
        });
    }
    eprintln!(
        "\nmedseal: interrupted; {}",
        if removed {
            "nothing was written"
        } else {
            "could not remove the partial output: delete the hidden .medseal-partial folder by hand"
        }
    );
    std::process::exit(130)
}

/// A directory being filled; removed when dropped before [`Staging::commit`].
#[derive(Debug)]
pub struct Staging {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

/// An I/O error as one line: what was done to which path (never any data).
pub fn io_error(what: &str, path: &Path, e: &std::io::Error) -> String {
    format!("could not {what} {}: {e}", path.display())
}

impl Staging {
    /// Checks that `dest` is new (or an empty directory) and creates the
    /// sibling to write into.
    pub fn new(dest: &Path) -> Result<Staging, String> {
        match fs::symlink_metadata(dest) {
            Ok(m) if m.is_dir() => {
                let mut entries =
                    fs::read_dir(dest).map_err(|e| io_error("read", dest, &e))?;
                if entries.next().is_some() {
                    return Err(format!(
                        "{} is not empty: give --out a new directory (nothing was written)",
                        dest.display()
                    ));
                }
            }
            Ok(_) => {
                return Err(format!(
                    "{} exists and is not a directory: give --out a new directory (nothing was written)",
                    dest.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("read", dest, &e)),
        }
        let name = dest
            .file_name()
            .ok_or_else(|| format!("--out {} does not name a directory", dest.display()))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| io_error("create", &parent, &e))?;
        let base = format!(
            ".{}.medseal-partial-{}",
            name.to_string_lossy(),
            std::process::id()
        );
        for n in 0u32..100 {
            let tmp = parent.join(if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            match mkdir(&tmp) {
                Ok(()) => {
                    set_partial(Some(tmp.clone()));
                    return Ok(Staging {
                        tmp,
                        dest: dest.to_path_buf(),
                        committed: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create", &tmp, &e)),
            }
        }
        Err(format!(
            "could not create a working directory beside {}",
            dest.display()
        ))
    }

    /// The directory being written (not yet `--out`).
    pub fn root(&self) -> &Path {
        &self.tmp
    }

    /// Makes the written directory `--out`.
    pub fn commit(mut self) -> Result<(), String> {
        // An empty directory given as --out is replaced (checked empty above;
        // remove_dir fails if something appeared in it since).
        if fs::symlink_metadata(&self.dest).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir(&self.dest).map_err(|e| {
                format!(
                    "{} is no longer empty, nothing was written: {e}",
                    self.dest.display()
                )
            })?;
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| io_error("create", &self.dest, &e))?;
        // Cleared after the rename: an interrupt in between removes nothing
        // (the old path is gone), never the finished output.
        set_partial(None);
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
            set_partial(None);
        }
    }
}

/// A new directory only its owner can read.
pub fn mkdir(path: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// A new file only its owner can read; never one that exists (nor a link).
pub fn create_new(path: &Path) -> Result<File, String> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| io_error("create", path, &e))
}

/// Writes a new file.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = create_new(path)?;
    f.write_all(bytes).map_err(|e| io_error("write", path, &e))
}
