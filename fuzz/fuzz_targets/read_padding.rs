//! A decrypted body read two ways: from its padding tail (`openLarge`,
//! `hazmat::read_body`) and whole (`open`, `hazmat::finish_body`). Same
//! answer for every input, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::hazmat;

fuzz_target!(|body: &[u8]| {
    let Some(&first) = body.first() else {
        assert!(hazmat::finish_body(Vec::new()).is_err());
        return;
    };
    let tail = &body[body.len() - hazmat::body_tail_len(body.len())..];
    let from_tail = hazmat::read_body(first, body.len(), tail);
    let whole = hazmat::finish_body(body.to_vec());
    match (from_tail, whole) {
        (Ok((ct, len)), Ok((ct2, plain))) => {
            assert_eq!(ct, ct2);
            assert_eq!(&body[1..1 + len], plain.as_slice());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("tail {a:?} vs whole {b:?}"),
    }
});
