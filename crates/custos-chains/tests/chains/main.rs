//! custos-chains: published vectors, threshold-signed transfers on every
//! chain checked by each chain's own verifier, and refused intents.

mod common;
mod psbt;
mod refusals;
mod transfers;
mod vectors;
