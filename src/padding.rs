//! Length hiding. The content-type byte and a plaintext of `n` bytes are
//! followed by one `0x80` byte and zeros up to `padded_len(n + 2)`:
//! - everything up to 256 bytes becomes 256 bytes, so the many short records
//!   of a health record (a lab value, an allergy, a dose) all look alike;
//! - above that, Padme (Nikitin et al., "Reducing Metadata Leakage from
//!   Encrypted Files and Communication with PURBs", PETS 2019): at most
//!   O(log log n) bits of the length leak, for at most 12 % overhead.

use crate::error::{Error, Result};

/// Smallest padded size.
pub const MIN_PADDED: usize = 256;

/// Padme: rounds `len` up so that only its top `floor(log2(log2 len)) + 1`
/// bits can be non-zero.
pub fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = u32::BITS - 1 - e.leading_zeros() + 1; // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    (len + mask) & !mask
}

/// The padded size of a buffer that holds `content_len` bytes (the
/// content-type byte, the plaintext and its `0x80` terminator).
pub fn padded_len(content_len: usize) -> usize {
    padme(content_len).max(MIN_PADDED)
}

/// Returns `content_type || plaintext || 0x80 || 0x00*` of length
/// `padded_len(len + 2)`.
pub(crate) fn pad(content_type: u8, plaintext: &[u8]) -> Vec<u8> {
    let total = padded_len(plaintext.len() + 2);
    let mut v = Vec::with_capacity(total + crate::aead::TAG_LEN);
    v.push(content_type);
    v.extend_from_slice(plaintext);
    v.push(0x80);
    v.resize(total, 0);
    v
}

/// Strips padding in place. The buffer was authenticated already, so a bad
/// terminator means a faulty writer, not an attacker: `Malformed`.
pub(crate) fn unpad(buf: &mut Vec<u8>) -> Result<()> {
    let end = buf
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(Error::Malformed("record padding"))?;
    if buf.get(end) != Some(&0x80) {
        return Err(Error::Malformed("record padding"));
    }
    buf.truncate(end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut zero_tail = vec![1, 2, 0x80, 0, 0];
        unpad(&mut zero_tail).unwrap();
        assert_eq!(zero_tail, vec![1, 2]);
        assert!(unpad(&mut vec![0, 0]).is_err());
        assert!(unpad(&mut vec![1, 2, 3]).is_err());
    }
}
