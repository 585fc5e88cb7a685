//! Integration tests of the threshold core: one test binary, one module per area.

mod adversarial;
mod common;
mod driver;
mod ecdsa;
mod hd;
mod shares;
mod signing;
mod vectors;
