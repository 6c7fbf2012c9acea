//! Names for the files written: what an export says (a file's name, a
//! record id, a FHIR id) is data, never a path. Each becomes one safe path
//! component: no separators, no `..`, no control or bidirectional-override
//! characters, nothing Windows refuses, not hidden, not too long; names that
//! would collide (case-insensitively, as on macOS and Windows) are numbered.

use std::collections::HashSet;

/// Longest name written, in bytes (file systems allow 255).
const MAX_NAME: usize = 150;
/// Longest extension kept when a name is shortened.
const MAX_EXT: usize = 16;

/// Characters that never go into a name: format characters that reorder or
/// hide text (bidirectional overrides and isolates, zero-width characters,
/// the byte-order mark), which can disguise an extension.
fn is_hidden_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

/// One path component made of `raw`, or `None` when nothing usable is left.
/// Separators (`/`, `\`) become `_`: use [`last_component`] first for a
/// name that is meant as a file name.
pub fn component(raw: &str) -> Option<String> {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_control() || is_hidden_format(c) {
            continue;
        }
        if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
            s.push('_');
        } else {
            s.push(c);
        }
    }
    // Leading dots hide a file (and `.`/`..` are not names); Windows drops
    // trailing dots and spaces.
    let s = s.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if s.is_empty() {
        return None;
    }
    let mut s = shorten(s, MAX_NAME);
    if is_windows_device(&s) {
        s.insert(0, '_');
    }
    Some(s)
}

/// The last non-empty segment of a name that may carry a path
/// (`../../etc/scan.pdf` is `scan.pdf`), `/` and `\` both separators.
pub fn last_component(raw: &str) -> &str {
    raw.rsplit(['/', '\\'])
        .find(|p| !p.trim().is_empty())
        .unwrap_or("")
}

/// `s` cut to at most `max` bytes at a character boundary, keeping a short
/// extension.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let (stem, ext) = split_ext(s);
    let ext = if ext.len() <= MAX_EXT { ext } else { "" };
    let room = max.saturating_sub(ext.len());
    let mut cut = room.min(stem.len());
    while cut > 0 && !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", stem.get(..cut).unwrap_or(""))
}

/// `("scan", ".pdf")`; no extension for a name without a dot after its
/// first character.
fn split_ext(s: &str) -> (&str, &str) {
    match s.rfind('.') {
        Some(i) if i > 0 => (s.get(..i).unwrap_or(s), s.get(i..).unwrap_or("")),
        _ => (s, ""),
    }
}

/// Names Windows reserves for devices, with any extension.
fn is_windows_device(s: &str) -> bool {
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    // Windows also reserves the console's CONIN$/CONOUT$ and the ports
    // numbered with superscript digits (COM¹, LPT³).
    let port = |p: &str| {
        stem.strip_prefix(p).is_some_and(|rest| {
            let mut c = rest.chars();
            matches!(
                (c.next(), c.next()),
                (Some('0'..='9' | '¹' | '²' | '³'), None)
            )
        })
    };
    matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || port("COM")
        || port("LPT")
}

/// The names already taken in one directory, compared case-insensitively.
#[derive(Debug, Default)]
pub struct Taken(HashSet<String>);

impl Taken {
    /// Takes `name`, or `name-2`, `name-3`, … (before the extension) when
    /// it is taken.
    pub fn claim(&mut self, name: &str) -> String {
        let (stem, ext) = split_ext(name);
        let mut n = 1u64;
        loop {
            let candidate = if n == 1 {
                name.to_owned()
            } else {
                format!("{stem}-{n}{ext}")
            };
            if self.0.insert(candidate.to_lowercase()) {
                return candidate;
            }
            n += 1;
        }
    }

    /// Marks a name as taken without numbering (a name the tool writes itself).
    pub fn reserve(&mut self, name: &str) {
        self.0.insert(name.to_lowercase());
    }
}

/// Text from an export, for a terminal line or a Markdown table cell:
/// control and format characters shown as `\u{…}` escapes, so a name can
/// neither move the cursor nor reorder what follows it.
pub fn printable(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_control() || is_hidden_format(c) {
            s.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            s.push(c);
        }
    }
    s
}

/// [`printable`], then escaped for a Markdown table cell.
pub fn markdown(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    for c in printable(raw).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&'
        ) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_tricks_stay_one_component() {
        assert_eq!(
            component(last_component("../../etc/scan.pdf")).as_deref(),
            Some("scan.pdf")
        );
        assert_eq!(
            component(last_component("..\\..\\win\\x.txt")).as_deref(),
            Some("x.txt")
        );
        assert_eq!(component(last_component("a/..")), None);
        assert_eq!(component(".."), None);
        assert_eq!(component("   "), None);
        assert_eq!(component("\u{202E}fdp.exe").as_deref(), Some("fdp.exe"));
        assert_eq!(component("a\nb\x00c").as_deref(), Some("abc"));
        assert_eq!(component("patient/7").as_deref(), Some("patient_7"));
        assert_eq!(component(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(component("con.txt").as_deref(), Some("_con.txt"));
        assert_eq!(component("COM1").as_deref(), Some("_COM1"));
        assert_eq!(component("compact").as_deref(), Some("compact"));
        let long = format!("{}.pdf", "é".repeat(200));
        let short = component(&long).unwrap_or_default();
        assert!(
            short.len() <= MAX_NAME && short.ends_with(".pdf"),
            "{short}"
        );
    }

    #[test]
    fn collisions_are_numbered_case_insensitively() {
        let mut t = Taken::default();
        t.reserve("bundle.json");
        assert_eq!(t.claim("scan.pdf"), "scan.pdf");
        assert_eq!(t.claim("SCAN.pdf"), "SCAN-2.pdf");
        assert_eq!(t.claim("scan.pdf"), "scan-3.pdf");
        assert_eq!(t.claim("Bundle.json"), "Bundle-2.json");
        assert_eq!(t.claim("notes"), "notes");
        assert_eq!(t.claim("notes"), "notes-2");
    }

    #[test]
    fn printable_escapes_what_moves_the_cursor() {
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{001b}[2Jb");
        assert_eq!(markdown("a|b_c"), "a\\|b\\_c");
    }
}
