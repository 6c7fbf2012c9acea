//! Arbitrary bytes as a vault hand-off message: typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::HandoffReceiver;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = HandoffReceiver::new() {
        let _ = r.accept(data, None, 0);
    }
});
