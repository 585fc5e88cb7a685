//! # custos-node
//!
//! The shard node. This version holds the share vault: how a node keeps its
//! key shares, ECDSA aux info, safe primes and channel key encrypted at rest.
//! The node daemon, its SQLite store and journal, and its channel to the
//! server come next (issue 4).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
#![warn(missing_docs)]

pub mod job;
pub mod store;
pub mod vault;
