//! Unpadded base64url (RFC 4648 §5), strict: no padding, no other alphabet,
//! no non-zero trailing bits, so each byte string has exactly one text form.
//!
//! Why our own ~60 lines instead of a crate: everything medseal writes in
//! base64 is public (ciphertext, salts, ids, public keys), so the
//! constant-time `base64ct` is not needed, and it ran at ~115 MB/s in wasm
//! (12 µs to encode one 1 KiB record's text form). The `base64` crate is ~5x
//! faster but added 2 KB gzip and took the module over its 120 KB budget;
//! this table codec is as fast and adds almost nothing. It is checked
//! against the `base64` crate on arbitrary input (`tests/properties.rs`,
//! dev-dependency only) and fuzzed through every parser that uses it.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const INVALID: u8 = 0xff;

// Evaluated at compile time: an out-of-range index here would fail the build,
// it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const fn decode_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}
static DECODE: [u8; 256] = decode_table();

fn sym(six_bits: u32) -> u8 {
    // `& 63` keeps the index in range, so this never falls back.
    ALPHABET
        .get((six_bits & 63) as usize)
        .copied()
        .unwrap_or(b'A')
}

/// Length of the base64url form of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n / 3 * 4
        + match n % 3 {
            0 => 0,
            r => r + 1,
        }
}

/// Appends the base64url form of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    // Written byte by byte into `out`'s own buffer, grown once: small
    // `extend_from_slice` calls become `memory.copy` in wasm, which is slow.
    let mut buf = core::mem::take(out).into_bytes();
    let start = buf.len();
    buf.resize(start + encoded_len(bytes.len()), 0);
    let (body, rest) = buf
        .get_mut(start..)
        .unwrap_or_default()
        .split_at_mut(bytes.len() / 3 * 4);
    let (src, remainder) = bytes.as_chunks::<3>();
    let (dst, _) = body.as_chunks_mut::<4>();
    for (&[a, b, c], [w, x, y, z]) in src.iter().zip(dst.iter_mut()) {
        let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        (*w, *x, *y, *z) = (sym(n >> 18), sym(n >> 12), sym(n >> 6), sym(n));
    }
    match (remainder, rest) {
        (&[a], [w, x]) => {
            let n = u32::from(a) << 16;
            (*w, *x) = (sym(n >> 18), sym(n >> 12));
        }
        (&[a, b], [w, x, y]) => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            (*w, *x, *y) = (sym(n >> 18), sym(n >> 12), sym(n >> 6));
        }
        _ => {}
    }
    // `out` was UTF-8 and every added byte comes from ALPHABET (ASCII), so
    // this cannot fail; the lossy branch only keeps the type total.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// The base64url form of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut s = String::new();
    encode_into(bytes, &mut s);
    s
}

fn val(c: u8) -> Option<u32> {
    match DECODE.get(usize::from(c)).copied() {
        Some(v) if v != INVALID => Some(u32::from(v)),
        _ => None,
    }
}

/// Decodes strict unpadded base64url; `None` for anything else.
pub(crate) fn decode(t: &[u8]) -> Option<Vec<u8>> {
    let full = t.len() / 4;
    let tail = match t.len() % 4 {
        0 => 0,
        1 => return None,
        r => r - 1,
    };
    let mut out = vec![0u8; full * 3 + tail];
    let (body, rest) = out.split_at_mut(full * 3);
    // Array chunks, not `chunks_exact`: at the size-first opt-level this
    // crate is built with, the chunk iterators stay out-of-line calls per
    // chunk; arrays compile to plain loads.
    let (src, remainder) = t.as_chunks::<4>();
    let (dst, _) = body.as_chunks_mut::<3>();
    for (&[a, b, c, d], [x, y, z]) in src.iter().zip(dst.iter_mut()) {
        let n = val(a)? << 18 | val(b)? << 12 | val(c)? << 6 | val(d)?;
        (*x, *y, *z) = ((n >> 16) as u8, (n >> 8) as u8, n as u8);
    }
    match (remainder, rest) {
        (&[a, b], [x]) => {
            let n = val(a)? << 18 | val(b)? << 12;
            if n & 0xffff != 0 {
                return None; // non-zero trailing bits: not the canonical form
            }
            *x = (n >> 16) as u8;
        }
        (&[a, b, c], [x, y]) => {
            let n = val(a)? << 18 | val(b)? << 12 | val(c)? << 6;
            if n & 0xff != 0 {
                return None;
            }
            (*x, *y) = ((n >> 16) as u8, (n >> 8) as u8);
        }
        _ => {}
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn rfc4648_vectors_and_strictness() {
        for (raw, text) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff, 0xfe], "-__-"),
        ] {
            assert_eq!(encode(raw), text);
            assert_eq!(decode(text.as_bytes()).as_deref(), Some(raw));
        }
        // Padding, the other alphabet, trailing bits set ("Zh", "Zm9"), an
        // impossible length, spaces, non-ASCII.
        for bad in [
            "Zg==", "Zm9v=", "+/+/", "Zh", "Zm9", "Zm8=", "A", "Zm9vY", "Zm 9v", "Zm9vYé",
        ] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad}");
        }
    }
}
