//! # custos-server
//!
//! The coordinator. This version holds its store: wallets, committees,
//! enrolled nodes, protocol sessions and signing requests, in SQLite (the
//! embedded default) or PostgreSQL, behind one [`store::Store`] interface.
//! The REST API, the DKG/signing workflow and the relay of sealed node frames
//! come next (issue 4). The store holds no secret: shares live only in nodes.

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

pub mod store;
