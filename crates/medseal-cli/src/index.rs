//! INDEX.md, the readable index of an opened export, and the "Checked"
//! summary that it and `medseal export verify` show.

use crate::names::markdown;
use crate::read::Summary;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn parts(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil(days);
    let rest = secs % 86_400;
    (y, m, d, rest / 3600, rest / 60 % 60, rest % 60)
}

/// Unix seconds as an RFC 3339 / FHIR instant: `2025-12-01T00:00:00Z`.
pub fn instant(secs: u64) -> String {
    let (y, m, d, h, mi, s) = parts(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Unix seconds for a person: `2025-12-01 00:00:00 UTC`.
pub fn readable(secs: u64) -> String {
    let (y, m, d, h, mi, s) = parts(secs);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `3 records`, `1 record`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// What was verified, one sentence each.
pub fn checked(s: &Summary) -> Vec<String> {
    let c = &s.checked;
    let mut out = vec![format!(
        "Manifest signature: the export's manifest (revision {}, key epoch {}) is signed by the vault's identity key, and the recovery code opened its recovery entry.",
        s.revision, s.epoch
    )];
    let first = s.manifests.first().map_or(0, |m| m.0);
    let last = s.manifests.last().map_or(0, |m| m.0);
    out.push(if c.manifests == 1 {
        format!("History: 1 manifest (revision {first}), the export's manifest.")
    } else {
        format!(
            "History: {} manifests chained from revision {first} to {last}, each signed and following the one before, ending at the export's manifest.",
            thousands(c.manifests)
        )
    });
    out.push(format!(
        "Records: {} authenticated under the vault's keys, each under its own record id and context.",
        plural(c.records, "record", "records")
    ));
    out.push(format!(
        "Files: {}, every chunk authenticated under the vault's keys ({}).",
        plural(c.files, "file", "files"),
        plural(c.file_bytes, "byte", "bytes")
    ));
    out.push(match c.log_leaves {
        Some(n) => format!(
            "Log: {} match the signed checkpoint (its signature by the log's server key or the vault's identity key, its tree root over the leaves).",
            plural(n, "leaf", "leaves")
        ),
        None => "Log: no log in this export.".to_owned(),
    });
    out.push(format!(
        "Nothing cut or appended: all {} of the export authenticated in order under the vault's key, the last sealed as the last with nothing after it, and the end item's counts match what came before it ({}, {}, {}, {}).",
        plural(s.chunks, "chunk", "chunks"),
        plural(c.manifests, "manifest", "manifests"),
        plural(c.records, "record", "records"),
        plural(c.files, "file", "files"),
        plural(u64::from(c.log_leaves.is_some()), "log", "logs"),
    ));
    out
}

/// INDEX.md for an opened export; `opened` is now (Unix seconds).
pub fn render(s: &Summary, opened: u64) -> String {
    let mut o = String::new();
    o.push_str("# medseal export\n\n");
    o.push_str(
        "These are the records and files of a medseal vault, opened from its export with the \
         vault's recovery code. Nothing here is encrypted: keep this folder as private as the \
         records themselves. Everything was checked before this folder was written (see \
         \"Checked\" below).\n\n",
    );
    o.push_str("| | |\n|---|---|\n");
    o.push_str(&format!(
        "| Vault | `{}` |\n",
        markdown(&s.vault_id).replace('`', "")
    ));
    o.push_str(&format!(
        "| Exported | {}{} |\n",
        readable(s.created),
        s.app
            .as_deref()
            .map(|a| format!(" by {}", markdown(a)))
            .unwrap_or_default()
    ));
    o.push_str(&format!(
        "| Opened | {} by medseal {} |\n",
        readable(opened),
        env!("CARGO_PKG_VERSION")
    ));
    o.push_str(&format!(
        "| Export file | {} ({}) |\n",
        markdown(&s.file),
        plural(s.len, "byte", "bytes")
    ));
    o.push_str(&format!("| Its SHA-256 | `{}` |\n\n", s.sha256));

    o.push_str("## Contents\n\n");
    if let Some(b) = &s.bundle {
        let n = s
            .records
            .iter()
            .filter(|r| r.kind.starts_with("FHIR "))
            .count() as u64;
        o.push_str(&format!(
            "- `{b}`: a FHIR R4 Bundle (type \"collection\") of the {} below, for any FHIR tool.\n",
            plural(n, "FHIR resource", "FHIR resources")
        ));
    }
    o.push_str("- `fhir/<type>/`: each FHIR resource as JSON; `records/`: every other record, as JSON (`.json`) or as its bytes (`.bin`).\n");
    o.push_str(
        "- `files/`: the vault's files (names made safe; the name in the vault is listed below).\n",
    );
    o.push_str("- `manifests/`: the vault's signed manifests (who and what may unlock it), oldest first.\n");
    match s.log {
        Some(_) => o.push_str("- `log.json`: the vault log (who opened, shared or changed what, and when), every entry under the signed checkpoint it holds.\n"),
        None => o.push_str("- No vault log was included in this export.\n"),
    }
    o.push('\n');

    o.push_str(&format!(
        "### Records ({})\n\n",
        thousands(s.records.len() as u64)
    ));
    if s.records.is_empty() {
        o.push_str("None.\n\n");
    } else {
        o.push_str("| Record id | Context | What | Path | Size |\n|---|---|---|---|---|\n");
        for r in &s.records {
            o.push_str(&format!(
                "| {} | {} | {} | [{}]({}) | {} |\n",
                markdown(&r.id),
                r.context.as_deref().map(markdown).unwrap_or_default(),
                markdown(&r.kind),
                markdown(&r.path),
                link(&r.path),
                plural(r.size, "byte", "bytes")
            ));
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "### Files ({})\n\n",
        thousands(s.files.len() as u64)
    ));
    if s.files.is_empty() {
        o.push_str("None.\n\n");
    } else {
        o.push_str(
            "| Name in the vault | Record id | Type | Path | Size |\n|---|---|---|---|---|\n",
        );
        for f in &s.files {
            o.push_str(&format!(
                "| {} | {} | {} | [{}]({}) | {} |\n",
                f.name.as_deref().map(markdown).unwrap_or_default(),
                markdown(&f.id),
                f.media_type.as_deref().map(markdown).unwrap_or_default(),
                markdown(&f.path),
                link(&f.path),
                plural(f.size, "byte", "bytes")
            ));
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "### Manifests ({})\n\n",
        thousands(s.manifests.len() as u64)
    ));
    o.push_str("| Revision | Key epoch | Path |\n|---|---|---|\n");
    for (rev, epoch, path) in &s.manifests {
        o.push_str(&format!(
            "| {rev} | {epoch} | [{}]({}) |\n",
            markdown(path),
            link(path)
        ));
    }
    o.push('\n');

    o.push_str("## Checked\n\n");
    for line in checked(s) {
        o.push_str(&format!("- {line}\n"));
    }
    o
}

/// A relative link target: percent-encodes what Markdown or a URL would
/// read otherwise.
fn link(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numbers() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant(1_764_547_200), "2025-12-01T00:00:00Z");
        assert_eq!(readable(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(thousands(33_268), "33,268");
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(link("files/a b(1).pdf"), "files/a%20b%281%29.pdf");
    }
}
