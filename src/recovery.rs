//! Recovery codes: 128 random bits plus a 32-bit checksum, written as 32
//! Crockford base32 characters in eight groups of four
//! (`7K3M-Q9XD-...`). Reading accepts any case, spaces or dashes, and the
//! look-alikes I/L (as 1) and O (as 0). A checksum mismatch is reported as a
//! typo (`InvalidRecoveryCode`), never as a wrong key.

use core::fmt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::kdf::label;
use crate::rng::Rng;

/// Random bytes in a code.
pub const ENTROPY_LEN: usize = 16;
/// Checksum bytes in a code.
pub const CHECKSUM_LEN: usize = 4;
/// Characters in a code, without separators.
pub const CODE_CHARS: usize = 32;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A vault's recovery code. The only way in when every passkey is lost; shown
/// to the user once and never stored by medseal.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode(Box<[u8; ENTROPY_LEN]>);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

fn checksum(entropy: &[u8; ENTROPY_LEN]) -> [u8; CHECKSUM_LEN] {
    let mut h = Sha256::new();
    h.update(label::RECOVERY_CHECKSUM);
    h.update(entropy);
    let d = h.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(d.get(..CHECKSUM_LEN).unwrap_or(&[0; CHECKSUM_LEN]));
    out
}

fn decode_char(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|a| *a == c)
        .and_then(|p| u8::try_from(p).ok())
}

impl RecoveryCode {
    pub(crate) fn generate(rng: &mut Rng) -> Result<Self> {
        Ok(RecoveryCode(Box::new(rng.array()?)))
    }

    pub(crate) fn entropy(&self) -> &[u8; ENTROPY_LEN] {
        &self.0
    }

    /// Parses a code as a person typed it.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > 256 {
            return Err(Error::InvalidRecoveryCode);
        }
        let mut symbols = Zeroizing::new([0u8; CODE_CHARS]);
        let mut n = 0usize;
        for c in text.bytes() {
            if c == b'-' || c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                continue;
            }
            let v = decode_char(c).ok_or(Error::InvalidRecoveryCode)?;
            *symbols.get_mut(n).ok_or(Error::InvalidRecoveryCode)? = v;
            n += 1;
        }
        if n != CODE_CHARS {
            return Err(Error::InvalidRecoveryCode);
        }
        // 32 symbols x 5 bits = 160 bits = 20 bytes, big-endian bit order.
        let mut raw = Zeroizing::new([0u8; ENTROPY_LEN + CHECKSUM_LEN]);
        let mut i = 0usize;
        regroup(symbols.iter(), 5, 8, |b| {
            *raw.get_mut(i).ok_or(Error::InvalidRecoveryCode)? = b;
            i += 1;
            Ok(())
        })?;
        let (entropy, sum) = raw
            .split_first_chunk::<ENTROPY_LEN>()
            .ok_or(Error::InvalidRecoveryCode)?;
        if !bool::from(checksum(entropy).ct_eq(sum)) {
            return Err(Error::InvalidRecoveryCode);
        }
        Ok(RecoveryCode(Box::new(*entropy)))
    }

    /// The code as shown to the user: eight dash-separated groups of four.
    /// This is the secret itself: show it once, never log or store it.
    pub fn to_display_string(&self) -> String {
        let mut raw = Zeroizing::new([0u8; ENTROPY_LEN + CHECKSUM_LEN]);
        let (e, c) = raw.split_at_mut(ENTROPY_LEN);
        e.copy_from_slice(self.entropy());
        c.copy_from_slice(&checksum(self.entropy()));
        let mut out = String::with_capacity(CODE_CHARS + 7);
        let mut written = 0usize;
        // 20 bytes x 8 bits = 32 symbols of 5 bits; cannot fail.
        let _ = regroup(raw.iter(), 8, 5, |idx| {
            if written > 0 && written.is_multiple_of(4) {
                out.push('-');
            }
            out.push(char::from(*ALPHABET.get(usize::from(idx)).unwrap_or(&b'0')));
            written += 1;
            Ok(())
        });
        out
    }
}

/// Re-slices a big-endian bit string from groups of `from` bits into groups
/// of `to` bits (both at most 8), handing each to `emit`. Trailing bits that
/// do not fill a group are dropped (the lengths used here leave none). The
/// accumulator held secret bits: it is wiped.
fn regroup<'a>(
    input: impl Iterator<Item = &'a u8>,
    from: u32,
    to: u32,
    mut emit: impl FnMut(u8) -> Result<()>,
) -> Result<()> {
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mask = (1u64 << to) - 1;
    let mut r = Ok(());
    for v in input {
        acc = (acc << from) | u64::from(*v);
        bits += from;
        while bits >= to {
            bits -= to;
            if r.is_ok() {
                r = emit(((acc >> bits) & mask) as u8);
            }
        }
    }
    acc.zeroize();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip_and_forgiving_input() {
        let mut rng = Rng::Os;
        let code = RecoveryCode::generate(&mut rng).unwrap();
        let s = code.to_display_string();
        assert_eq!(s.len(), 39);
        assert_eq!(s.matches('-').count(), 7);
        let back = RecoveryCode::parse(&s).unwrap();
        assert_eq!(back.entropy(), code.entropy());
        let sloppy = s
            .to_lowercase()
            .replace('-', " ")
            .replace('1', "l")
            .replace('0', "o");
        assert_eq!(
            RecoveryCode::parse(&sloppy).unwrap().entropy(),
            code.entropy()
        );
        let joined = s.replace('-', "");
        assert_eq!(
            RecoveryCode::parse(&joined).unwrap().entropy(),
            code.entropy()
        );
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let code = RecoveryCode::generate(&mut Rng::Os).unwrap();
        let s: Vec<u8> = code.to_display_string().into_bytes();
        for i in 0..s.len() {
            if s[i] == b'-' {
                continue;
            }
            for &a in ALPHABET.iter() {
                if a == s[i] {
                    continue;
                }
                let mut t = s.clone();
                t[i] = a;
                let t = String::from_utf8(t).unwrap();
                assert_eq!(
                    RecoveryCode::parse(&t).unwrap_err(),
                    Error::InvalidRecoveryCode,
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn wrong_length_and_alphabet_rejected() {
        assert_eq!(
            RecoveryCode::parse("").unwrap_err(),
            Error::InvalidRecoveryCode
        );
        assert_eq!(
            RecoveryCode::parse("ABCD-EFGH").unwrap_err(),
            Error::InvalidRecoveryCode
        );
        assert_eq!(
            RecoveryCode::parse(&"U".repeat(32)).unwrap_err(),
            Error::InvalidRecoveryCode
        );
        assert_eq!(
            RecoveryCode::parse(&"A".repeat(33)).unwrap_err(),
            Error::InvalidRecoveryCode
        );
        assert_eq!(
            RecoveryCode::parse("é".repeat(16).as_str()).unwrap_err(),
            Error::InvalidRecoveryCode
        );
    }

    #[test]
    fn debug_prints_no_secret() {
        let code = RecoveryCode::generate(&mut Rng::Os).unwrap();
        assert_eq!(format!("{code:?}"), "RecoveryCode(<redacted>)");
    }
}
