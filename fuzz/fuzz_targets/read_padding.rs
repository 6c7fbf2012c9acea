//! A decrypted body read two ways: from its padding tail (`openAsync`,
//! `record::plaintext_len`) and whole (`open`, `record::finish_open`). Same
//! answer for every input, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::{padding, record};

fuzz_target!(|body: &[u8]| {
    let Some(&first) = body.first() else {
        assert!(record::finish_open(Vec::new()).is_err());
        return;
    };
    let tail = &body[body.len() - padding::tail_len(body.len())..];
    let from_tail = record::plaintext_len(first, body.len(), tail);
    let whole = record::finish_open(body.to_vec());
    match (from_tail, whole) {
        (Ok((ct, len)), Ok((ct2, plain))) => {
            assert_eq!(ct, ct2);
            assert_eq!(&body[1..1 + len], plain.as_slice());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("tail {a:?} vs whole {b:?}"),
    }
});
