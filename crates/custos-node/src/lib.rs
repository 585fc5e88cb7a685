//! # custos-node
//!
//! The shard node: one share per key, encrypted at rest in the node's vault,
//! reached only through an outbound mutually authenticated TLS connection to
//! the server. Every protocol message to other nodes is sealed end to end
//! (custos-wire); the committee is pinned in `node.json` by the operator, so
//! a server that lies about membership or threshold is refused.

#![warn(missing_docs)]

pub mod certified;
pub mod checked;
pub mod config;
pub mod daemon;
pub mod job;
mod job_error;
pub mod purpose;
pub mod recheck;
pub mod store;
pub mod vault;
pub mod witness;
