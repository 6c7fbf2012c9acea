//! Unit tests that need crate-private items.

mod record_v2;
mod wycheproof;
