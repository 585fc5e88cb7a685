//! Integration tests of the threshold core: one test binary, one module per area.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod adversarial;
mod common;
mod driver;
mod ecdsa;
mod hd;
mod shares;
mod signing;
mod vectors;
