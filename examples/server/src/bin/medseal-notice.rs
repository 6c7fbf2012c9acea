//! The operator's notice tool (FORMAT.md §18), run offline where the
//! operator key lives, never on the server:
//!
//! ```text
//! medseal-notice keygen <name> <secret-file>     new key; prints the pin for the app
//! medseal-notice pin <name> <secret-file>        prints the pin again
//! medseal-notice sign <name> <secret-file> <id> <severity> <action> <days> <title> <body>
//!                                                prints the signed notice (for MEDSEAL_NOTICE_FILE)
//! ```
//!
//! The secret file holds the key's 32-byte scalar in hex, mode 0600.

use std::io::Write;
use std::process::ExitCode;

use medseal::notice::{Action, Notice, OperatorKey, Severity};

fn usage() -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "usage:\n  medseal-notice keygen <name> <secret-file>\n  medseal-notice pin <name> <secret-file>\n  medseal-notice sign <name> <secret-file> <id> <info|warning|critical> <none|rekey|rotate-recovery|add-passkey|review-activity|update-app> <days> <title> <body>"
    );
    ExitCode::from(2)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn load(name: &str, file: &str) -> Result<OperatorKey, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let secret = unhex(&text).ok_or_else(|| format!("{file}: not a hex key"))?;
    OperatorKey::from_secret(name, &secret).map_err(|e| e.to_string())
}

fn run(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [cmd, name, file] if cmd == "keygen" => {
            let key = OperatorKey::generate(name).map_err(|e| e.to_string())?;
            write_secret(file, &hex(&*key.secret()))?;
            Ok(Some(key.pinned_json()))
        }
        [cmd, name, file] if cmd == "pin" => Ok(Some(load(name, file)?.pinned_json())),
        [cmd, name, file, id, severity, action, days, title, body] if cmd == "sign" => {
            let key = load(name, file)?;
            let severity = match severity.as_str() {
                "info" => Severity::Info,
                "warning" => Severity::Warning,
                "critical" => Severity::Critical,
                _ => return Err(format!("severity: {severity}")),
            };
            let action = [
                Action::None,
                Action::Rekey,
                Action::RotateRecovery,
                Action::AddPasskey,
                Action::ReviewActivity,
                Action::UpdateApp,
            ]
            .into_iter()
            .find(|a| a.name() == action)
            .ok_or_else(|| format!("action: {action}"))?;
            let days: u64 = days.parse().map_err(|_| format!("days: {days}"))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_secs();
            let notice = Notice {
                id: id.clone(),
                issued: now,
                expires: now + days.max(1) * 86_400,
                severity,
                action,
                title: title.clone(),
                body: body.clone(),
            };
            key.sign(&notice).map(Some).map_err(|e| e.to_string())
        }
        _ => Ok(None),
    }
}

fn write_secret(file: &str, text: &str) -> Result<(), String> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(file).map_err(|e| format!("{file}: {e}"))?;
    writeln!(f, "{text}").map_err(|e| format!("{file}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(Some(out)) => {
            let nl = if out.ends_with('\n') { "" } else { "\n" };
            match write!(std::io::stdout(), "{out}{nl}") {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Ok(None) => usage(),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "medseal-notice: {e}");
            ExitCode::FAILURE
        }
    }
}
