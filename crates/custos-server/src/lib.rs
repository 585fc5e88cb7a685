//! # custos-server
//!
//! The coordinator: REST API, DKG and signing workflow, relay of sealed
//! node-to-node frames, and the store (SQLite by default, PostgreSQL for
//! larger deployments). It is trusted with nothing secret: shares live only
//! in nodes, node traffic is sealed end to end, and nodes pin the committee.

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

pub mod api;
mod api_chains;
pub mod config;
pub mod daemon;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod hub;
pub mod store;
pub mod transfers;
pub mod workflow;
