//! FHIR R4 resources among the records: which records are resources, their
//! text pretty-printed without changing a token (FHIR decimals keep their
//! digits: `1.50` stays `1.50`, which a round trip through `f64` would not),
//! and the Bundle of type `collection` that lists them all.

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// What makes a record a FHIR resource: a JSON object whose `resourceType`
/// is a string (of the shape FHIR gives resource type names, so that it can
/// name a directory), and its `id` if it has one.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// `resourceType`.
    pub resource_type: String,
    /// `id`, when it is a string.
    pub id: Option<String>,
}

/// Whether `data` is JSON at all.
pub fn is_json(data: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok()
}

/// The resource `data` is, if it is one.
pub fn resource(data: &[u8]) -> Option<Resource> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let obj = v.as_object()?;
    let rt = obj.get("resourceType")?.as_str()?;
    let mut chars = rt.chars();
    let shape_ok = rt.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric());
    if !shape_ok {
        return None;
    }
    Some(Resource {
        resource_type: rt.to_owned(),
        id: obj.get("id").and_then(|i| i.as_str()).map(str::to_owned),
    })
}

/// Valid JSON text re-indented by two spaces; every token (strings,
/// numbers, key order) exactly as it was. Text that is not JSON comes back
/// unchanged in its tokens too, only its layout differs.
pub fn pretty(json: &str) -> String {
    // Indenting multiplies the size of deeply nested or token-dense JSON (a
    // record of nested arrays grew ~237x): past these bounds the record is
    // written as it was sealed, compact. Real FHIR resources stay far inside.
    const MAX_PRETTY_LEN: usize = 1 << 20;
    const MAX_PRETTY_DEPTH: usize = 16;
    let compact = || {
        let mut s = json.trim().to_owned();
        s.push('\n');
        s
    };
    if json.len() > MAX_PRETTY_LEN {
        return compact();
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + json.len() / 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0usize;
    // Copies whole UTF-8 sequences: only ASCII structure is looked at.
    while let Some(&b) = bytes.get(i) {
        let ch_len = utf8_len(b);
        let piece = json.get(i..i + ch_len).unwrap_or("");
        i += ch_len.max(1);
        if in_string {
            out.push_str(piece);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push('"');
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let next = bytes.get(i..).and_then(|rest| {
                    rest.iter()
                        .position(|c| !c.is_ascii_whitespace())
                        .map(|p| (p, rest.get(p)))
                });
                if let Some((p, Some(&c))) = next {
                    if c == close {
                        out.push(char::from(b));
                        out.push(char::from(close));
                        i += p + 1;
                        continue;
                    }
                }
                out.push(char::from(b));
                depth += 1;
                if depth > MAX_PRETTY_DEPTH {
                    return compact();
                }
                newline(&mut out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(char::from(b));
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            _ => out.push_str(piece),
        }
    }
    out.push('\n');
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A name-based UUID (RFC 9562 version 8, from SHA-256) for a resource
/// without a UUID of its own: the same export gives the same bundle.
pub fn derived_uuid(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"medseal export: FHIR entry\0");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x80;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

/// Whether `s` has the shape of a FHIR id: `[A-Za-z0-9\-.]{1,64}`.
pub fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Whether `s` is a UUID in its 8-4-4-4-12 hex form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// One entry of the bundle.
#[derive(serde::Serialize)]
struct Entry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: &'a str,
    resource: &'a RawValue,
}

#[derive(serde::Serialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    entry: Vec<Entry<'a>>,
}

/// A FHIR R4 Bundle of type `collection` holding `resources` (full URL,
/// exact JSON text) in order, pretty-printed; `timestamp` an instant
/// (`2025-12-01T00:00:00Z`).
pub fn bundle(timestamp: &str, resources: &[(String, String)]) -> Result<String, String> {
    let mut raws = Vec::with_capacity(resources.len());
    for (_, text) in resources {
        let raw = serde_json::from_str::<&RawValue>(text)
            .map_err(|_| "a FHIR resource is not valid JSON".to_owned())?;
        raws.push(raw);
    }
    let b = Bundle {
        resource_type: "Bundle",
        kind: "collection",
        timestamp,
        entry: resources
            .iter()
            .zip(raws)
            .map(|((url, _), resource)| Entry {
                full_url: url,
                resource,
            })
            .collect(),
    };
    let compact =
        serde_json::to_string(&b).map_err(|_| "the bundle could not be written".to_owned())?;
    Ok(pretty(&compact))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minify(s: &str) -> String {
        let mut out = String::new();
        let (mut in_s, mut esc) = (false, false);
        for c in s.chars() {
            if in_s {
                out.push(c);
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_s = false;
                }
            } else if c == '"' {
                in_s = true;
                out.push(c);
            } else if !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn pretty_keeps_every_token() {
        let src = r#"{"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg/dL"},"note":[{"text":"a \"q\" , : { [ é 🩺"}],"e":{},"f":[ ],"n":-0.000100e5}"#;
        let p = pretty(src);
        assert_eq!(minify(&p), src.replace("[ ]", "[]"));
        assert!(p.contains("\"value\": 1.50"), "{p}");
        assert!(p.contains("\"e\": {}"), "{p}");
        let a: serde_json::Value = serde_json::from_str(src).unwrap_or_default();
        let b: serde_json::Value = serde_json::from_str(&p).unwrap_or_default();
        assert_eq!(a, b);
    }

    #[test]
    fn resources_are_recognized_by_their_type() {
        let r = resource(br#"{"resourceType":"Patient","id":"p1"}"#);
        assert_eq!(
            r,
            Some(Resource {
                resource_type: "Patient".into(),
                id: Some("p1".into())
            })
        );
        assert_eq!(resource(br#"{"resourceType":"../x"}"#), None);
        assert_eq!(resource(br#"{"resourceType":7}"#), None);
        assert_eq!(resource(br#"["resourceType"]"#), None);
        assert_eq!(resource(b"not json"), None);
        assert!(is_json(b"[1,2]") && !is_json(b"\x00\x01"));
    }

    #[test]
    fn uuids() {
        let u = derived_uuid(&[b"vault", b"rec"]);
        assert!(is_uuid(&u), "{u}");
        assert_eq!(u.as_bytes().get(14), Some(&b'8'));
        assert_eq!(u, derived_uuid(&[b"vault", b"rec"]));
        assert_ne!(u, derived_uuid(&[b"vaultr", b"ec"]));
        assert!(!is_uuid("not-a-uuid"));
    }
}
