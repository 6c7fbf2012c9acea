//! Arbitrary text as a SMART Health Link payload and as a JWE file of it:
//! typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // First line: a shlink (or a viewer URL); the rest: a JWE.
    let (link, jwe) = text.split_once('\n').unwrap_or((text, text));
    let _ = medseal::shl::parse_shlink(link);
    let _ = medseal::shl::jwe_decrypt(&[9u8; 32], jwe);
    let _ = medseal::link::open_link_file(link, jwe);
    let valid = "shlink:/eyJ1cmwiOiJodHRwczovL2V4YW1wbGUub3JnL3NobC9hYmMiLCJrZXkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIn0";
    let _ = medseal::link::open_link_file(valid, jwe);
});
