//! custos-chains: published vectors, threshold-signed transfers on every
//! chain checked by each chain's own verifier, and refused intents.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod messages;
mod psbt;
mod refusals;
mod transfers;
mod vectors;
