//! Length hiding. The content-type byte and a plaintext of `n` bytes are
//! followed by one `0x80` byte and zeros up to `padded_len(n + 2)`:
//! - everything up to 256 bytes becomes 256 bytes, so the many short records
//!   of a health record (a lab value, an allergy, a dose) all look alike;
//! - above that, Padme (Nikitin et al., "Reducing Metadata Leakage from
//!   Encrypted Files and Communication with PURBs", PETS 2019): at most
//!   O(log log n) bits of the length leak, for at most 12 % overhead.

use crate::error::{Error, Result};

/// Smallest padded size.
pub(crate) const MIN_PADDED: usize = 256;

/// Padme: rounds `len` up so that only its top `floor(log2(log2 len)) + 1`
/// bits can be non-zero.
pub(crate) fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = u32::BITS - 1 - e.leading_zeros() + 1; // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    // Beyond usize (only for absurd lengths, which callers refuse as too
    // large): saturate instead of wrapping.
    len.checked_add(mask).map_or(usize::MAX, |l| l & !mask)
}

/// The padded size of a buffer that holds `content_len` bytes (the
/// content-type byte, the plaintext and its `0x80` terminator).
pub(crate) fn padded_len(content_len: usize) -> usize {
    padme(content_len).max(MIN_PADDED)
}

/// The bytes that follow a plaintext of `plaintext_len` bytes: `0x80` then
/// zeros, so that `1 + plaintext_len + padding.len() == padded_len(plaintext_len + 2)`.
pub(crate) fn padding(plaintext_len: usize) -> Vec<u8> {
    let total = padded_len(plaintext_len.saturating_add(2));
    let mut v = vec![0u8; total.saturating_sub(plaintext_len + 1).max(1)];
    if let Some(marker) = v.first_mut() {
        *marker = 0x80;
    }
    v
}

/// `content_type || plaintext || padding`: the body plaintext, with room
/// for the tag that will follow it.
pub(crate) fn padded_body(content_type: u8, plaintext: &[u8], padding: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + plaintext.len() + padding.len() + crate::aead::TAG_LEN);
    v.push(content_type);
    v.extend_from_slice(plaintext);
    v.extend_from_slice(padding);
    v
}

/// How many bytes at the end of a padded buffer of `padded_len` bytes hold
/// the `0x80` marker and the zeros after it, at most. Up to the 256-byte
/// floor, all of it; above, Padme adds less than `len / 16` (its rounding
/// mask is below `2^(E-S)` with `S >= 4` once `len >= 256`), so `len / 8 + 258`
/// is a safe bound.
pub(crate) fn tail_len(padded_len: usize) -> usize {
    padded_len.min(padded_len / 8 + 258)
}

/// Finds the plaintext in a padded buffer of `padded_len` bytes from its last
/// bytes `tail` (at least [`tail_len`] of them, or the whole buffer): the last
/// non-zero byte must be `0x80`, and the buffer must be exactly the size the
/// padding rule gives for what precedes it. Returns the length of
/// `content_type || plaintext`.
pub(crate) fn content_len(padded_len: usize, tail: &[u8]) -> Result<usize> {
    let malformed = Error::Malformed("record padding");
    let marker = tail.iter().rposition(|b| *b != 0).ok_or(malformed)?;
    if tail.get(marker) != Some(&0x80) || tail.len() > padded_len {
        return Err(malformed);
    }
    let content = padded_len - (tail.len() - marker);
    // content = 1 + n for a plaintext of n bytes; the rule is padded_len(n + 2).
    if content == 0 || self::padded_len(content + 1) != padded_len {
        return Err(malformed);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns `content_type || plaintext || 0x80 || 0x00*` of length
    /// `padded_len(len + 2)`.
    fn pad(content_type: u8, plaintext: &[u8]) -> Vec<u8> {
        padded_body(content_type, plaintext, &padding(plaintext.len()))
    }

    /// Removes the padding: truncates `buf` to `content_type || plaintext`.
    fn unpad(buf: &mut Vec<u8>) -> Result<()> {
        let content = content_len(buf.len(), buf)?;
        buf.truncate(content);
        Ok(())
    }

    #[test]
    fn padme_matches_paper_examples() {
        // Values from the PURBs paper's definition, checked by hand.
        assert_eq!(padme(0), 0);
        assert_eq!(padme(1), 1);
        assert_eq!(padme(9), 10);
        assert_eq!(padme(100), 104);
        assert_eq!(padme(256), 256);
        assert_eq!(padme(257), 272);
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(1025), 1088);
        assert_eq!(padme(1_000_000), 1_015_808);
    }

    #[test]
    fn padme_overhead_is_bounded() {
        for n in 2..200_000usize {
            let p = padme(n);
            assert!(p >= n);
            assert!((p - n) * 100 <= n * 12 + 100, "n={n} p={p}");
        }
    }

    #[test]
    fn short_records_share_one_size() {
        assert_eq!(pad(0, b"").len(), 256);
        assert_eq!(pad(0, b"HIV: negative").len(), 256);
        assert_eq!(pad(0, &[1u8; 254]).len(), 256);
        assert_eq!(pad(0, &[1u8; 255]).len(), padme(257));
    }

    #[test]
    fn unpad_inverts_pad() {
        for n in [0usize, 1, 254, 255, 256, 300, 5000] {
            let pt: Vec<u8> = (0..n).map(|i| (i % 251) as u8 + 1).collect();
            let mut p = pad(7, &pt);
            unpad(&mut p).unwrap();
            assert_eq!(p[0], 7);
            assert_eq!(&p[1..], pt.as_slice());
        }
        let mut canonical = vec![0u8; 256];
        canonical[..3].copy_from_slice(&[1, 2, 0x80]);
        unpad(&mut canonical).unwrap();
        assert_eq!(canonical, vec![1, 2]);
        assert!(unpad(&mut vec![0; 256]).is_err());
        assert!(unpad(&mut vec![1; 256]).is_err());
        // Not the size the rule gives for what precedes the marker.
        assert!(unpad(&mut vec![1, 2, 0x80, 0, 0]).is_err());
        let mut long = pad(1, &[7; 300]);
        long.extend_from_slice(&[0; 64]);
        assert!(unpad(&mut long).is_err());
        // The marker alone, no content type.
        let mut empty = vec![0u8; 256];
        empty[0] = 0x80;
        assert!(unpad(&mut empty).is_err());
    }

    #[test]
    fn the_tail_holds_the_padding_of_every_size() {
        // content_len from the last tail_len bytes agrees with the whole buffer.
        for n in (0..70_000usize)
            .step_by(7)
            .chain([1 << 20, (1 << 20) + 12_345])
        {
            let total = padded_len(n + 2);
            let pad_bytes = padding(n);
            assert_eq!(1 + n + pad_bytes.len(), total, "n={n}");
            assert!(pad_bytes.len() <= tail_len(total), "n={n}");
            let mut tail = vec![0u8; tail_len(total)];
            let off = tail.len() - pad_bytes.len();
            tail[off..].copy_from_slice(&pad_bytes);
            if off > 0 {
                tail[off - 1] = 0x55; // the plaintext's last byte, say
            }
            assert_eq!(content_len(total, &tail).unwrap(), n + 1, "n={n}");
        }
    }
}
