//! Arbitrary bytes as a stream (FORMAT.md §17): typed errors, never a panic.
//! Three ways in: the input as a whole stream (its first 134 bytes to
//! `Vault::open_stream`, all of it to `StreamOpener::open_all`); the input
//! as the chunks after a real header (so the chunk reader runs with a key
//! that opens); and the input as an edit of a real stream, which must then
//! not open unless it left the stream as it was. A u64 of the input goes to
//! `plaintext_size`, which must agree with `sealed_size` where it answers.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medseal::record::RecordContext;
use medseal::stream::{plaintext_size, sealed_size, HEADER_LEN};
use medseal::{PasskeyUnlock, PrfOutput, Vault};

struct Fixture {
    vault: Vault,
    plaintext: Vec<u8>,
    /// Two full chunks and a short last one (§17.2).
    sealed: Vec<u8>,
}

/// A deterministic vault (as the other targets) and one stream it sealed.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let prf = PrfOutput::new(&[7u8; 32]).unwrap();
        let p = PasskeyUnlock {
            credential_id: b"fuzz".to_vec(),
            prf_salt: [1; 32],
            prf_output: prf,
            label: None,
        };
        let mut vault = Vault::create(p).unwrap().0;
        let plaintext: Vec<u8> = (0..2 * 16384 + 100u32).map(|i| (i % 251) as u8).collect();
        let sealed = vault
            .seal_stream(&RecordContext::new(b"r"), 1)
            .unwrap()
            .seal_all(&plaintext)
            .unwrap();
        assert_eq!(sealed_size(plaintext.len() as u64), Ok(sealed.len() as u64));
        Fixture {
            vault,
            plaintext,
            sealed,
        }
    })
}

/// Opens `sealed` as a stream of record `r`: the plaintext, or the error.
fn open(vault: &Vault, sealed: &[u8]) -> medseal::Result<Vec<u8>> {
    let opener = vault.open_stream(
        &sealed[..HEADER_LEN.min(sealed.len())],
        &RecordContext::new(b"r"),
    )?;
    let mut released = Vec::new();
    opener.open_all(sealed, &mut released)?;
    Ok(released)
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();

    // The input as a whole stream.
    let _ = open(&f.vault, data);

    // A length, both ways round.
    if data.len() >= 8 {
        let n = u64::from_le_bytes(data[..8].try_into().unwrap());
        if let Ok(plain) = plaintext_size(n) {
            assert_eq!(sealed_size(plain), Ok(n), "plaintext_size({n}) = {plain}");
        }
        if let Ok(len) = sealed_size(n) {
            assert_eq!(plaintext_size(len), Ok(n), "sealed_size({n}) = {len}");
        }
    }

    // The input as the chunks after a real header: only the real chunks open.
    let mut chunks = f.sealed[..HEADER_LEN].to_vec();
    chunks.extend_from_slice(data);
    if let Ok(plain) = open(&f.vault, &chunks) {
        assert!(
            chunks == f.sealed && plain == f.plaintext,
            "foreign chunks opened"
        );
    }

    // The input as an edit of the real stream: bytes 0..2 an offset, byte 2 a
    // cut from the end, the rest XORed in at the offset.
    if data.len() >= 3 {
        let mut edited = f.sealed.clone();
        let at = usize::from(u16::from_le_bytes([data[0], data[1]])) * 8 % edited.len();
        for (b, x) in edited[at..].iter_mut().zip(&data[3..]) {
            *b ^= x;
        }
        edited.truncate(edited.len() - usize::from(data[2]).min(edited.len()));
        if let Ok(plain) = open(&f.vault, &edited) {
            assert!(
                edited == f.sealed && plain == f.plaintext,
                "an edited stream opened"
            );
        }
    }
});
