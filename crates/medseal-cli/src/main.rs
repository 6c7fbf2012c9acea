//! `medseal`: opens a vault's export (FORMAT.md §19) offline, with its
//! recovery code alone, and writes its records and files as plain files; or
//! only verifies it. Nothing here uses the network.
//!
//! Exit codes: 0 when everything held; 1 when the export was refused or
//! could not be read or written (one line on stderr says what was wrong);
//! 2 for a usage error.

mod diagnose;
mod fhir;
mod index;
mod names;
mod read;
mod staging;

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use medseal::RecoveryCode;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "medseal",
    version,
    about = "Open a medseal vault export offline, with the vault's recovery code",
    after_help = "The recovery code is read from --code-file or from standard input, never from \
                  the command line (where other users could see it).\n\
                  Exit codes: 0 everything checked out; 1 the export was refused or could not be \
                  read or written; 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exports made by a medseal vault ("Download my data").
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Check the export and write its records and files into a new directory.
    Open {
        /// The export file.
        file: PathBuf,
        /// The directory to create (it must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Check the export without writing anything; print what was checked.
    Verify {
        /// The export file.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// Read the recovery code from this file (its first line) instead of
    /// standard input.
    #[arg(long, value_name = "PATH")]
    code_file: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // If the handler cannot be installed, an interrupt ends the process the
    // default way (and may leave the hidden partial folder): still run.
    let _ = ctrlc::set_handler(|| staging::interrupted());
    let result = match cli.command {
        Command::Export(ExportCommand::Open { file, out, common }) => open(&file, &out, &common),
        Command::Export(ExportCommand::Verify { file, common }) => verify(&file, &common),
    };
    match result {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("medseal: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The recovery code: the first non-empty line of `--code-file`, or of
/// standard input (with a prompt on stderr when it is a terminal).
fn read_code(common: &Common) -> Result<RecoveryCode, String> {
    let mut text = Zeroizing::new(String::new());
    match &common.code_file {
        Some(p) => {
            std::fs::File::open(p)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| staging::io_error("read", p, &e))?;
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("Recovery code: ");
                let _ = std::io::stderr().flush();
            }
            stdin.lock().read_line(&mut text).map_err(|e| {
                format!("could not read the recovery code from standard input: {e}")
            })?;
        }
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| {
            "no recovery code given: pass it on standard input or with --code-file".to_owned()
        })?;
    RecoveryCode::parse(line)
        .map_err(|_| "that is not a valid recovery code (check for typos)".to_owned())
}

fn progress(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("checking {wide_bar} {bytes}/{total_bytes} ({eta} left)")
    {
        bar.set_style(style);
    }
    bar
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn checked_text(s: &read::Summary) -> String {
    let mut t = String::from("Checked:\n");
    for line in index::checked(s) {
        t.push_str(&format!("- {line}\n"));
    }
    t
}

fn counts(s: &read::Summary) -> String {
    let n = |v: usize| v as u64;
    format!(
        "{}, {}, {}",
        index::plural(n(s.records.len()), "record", "records"),
        index::plural(n(s.files.len()), "file", "files"),
        index::plural(n(s.manifests.len()), "manifest", "manifests")
    )
}

fn open(file: &Path, out: &Path, common: &Common) -> Result<String, String> {
    // The directory is checked before the code is asked for.
    let staging = staging::Staging::new(out)?;
    let code = read_code(common)?;
    let bar = progress(common.quiet);
    let result = read::read_export(file, &code, Some(staging.root()), &bar);
    bar.finish_and_clear();
    let summary = result?;
    staging::write_new(
        &staging.root().join("INDEX.md"),
        index::render(&summary, now()).as_bytes(),
    )?;
    staging.commit()?;
    Ok(format!(
        "Opened {} into {}: {} (see {}).\n{}",
        file.display(),
        out.display(),
        counts(&summary),
        out.join("INDEX.md").display(),
        checked_text(&summary)
    ))
}

fn verify(file: &Path, common: &Common) -> Result<String, String> {
    let code = read_code(common)?;
    let bar = progress(common.quiet);
    let result = read::read_export(file, &code, None, &bar);
    bar.finish_and_clear();
    let s = result?;
    Ok(format!(
        "{} is a valid export of vault {}, made {}: {}.\n{}",
        file.display(),
        s.vault_id,
        index::readable(s.created),
        counts(&s),
        checked_text(&s)
    ))
}
