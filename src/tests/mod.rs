//! Unit tests that need crate-private items.

mod wycheproof;
