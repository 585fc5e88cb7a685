//! custos-chains: published vectors, threshold-signed transfers on every
//! chain checked by each chain's own verifier, and refused intents.

mod common;
mod refusals;
mod transfers;
mod vectors;
