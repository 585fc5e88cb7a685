//! # custos-server
//!
//! The coordinator: REST API, DKG and signing workflow, relay of sealed
//! node-to-node frames, and the store (SQLite by default, PostgreSQL for
//! larger deployments). It is trusted with nothing secret: shares live only
//! in nodes, node traffic is sealed end to end, and nodes pin the committee.
//!
//! Layout, bottom up: [`machine`] holds the pure state machines (a request's
//! life, a checkpoint round) tested without sockets or a database;
//! [`store`], [`authority`] (governance and audit state), [`access`] (API
//! nonces and login sessions), [`totp_seal`] and [`files`] hold state;
//! [`hub`] talks to the nodes; [`signing`], [`wallets`], [`transfers`] and
//! [`requests`] are the workflows; [`api`] is the HTTP edge and [`daemon`]
//! the one driver that does the I/O.

#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod authority;
pub mod config;
pub mod daemon;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod faults;
pub mod files;
pub mod hub;
pub mod machine;
pub mod requests;
pub mod signing;
pub mod store;
pub mod totp_seal;
pub mod transfers;
pub mod wallets;

/// The earlier path of the chain endpoints' types.
pub use api::chains as api_chains;
