//! # custos-protocol
//!
//! What a shard node and the server say to each other, and what a node needs
//! to decide *for itself* whether a job was authorised:
//!
//! - [`control`]: the messages over the mutually authenticated TLS
//!   connection (jobs, relayed sealed frames, progress, governance pushes,
//!   witness requests, outcomes);
//! - [`attest`]: admins' wallet orders, nodes' wallet attestations and
//!   audit freshness answers (statements that do not rest on the server);
//! - [`authz`]: the signing requests users sign, the initiator's and
//!   approvers' signatures, and the audit records that make up every node's
//!   velocity ledger;
//! - [`sign_entry`]: the audit entry of a dispatched signing, which
//!   witnesses and auditors check against the initiator's signature and
//!   witnesses recompute from the request;
//! - [`sealed`]: threshold-protocol envelopes carried in `custos-wire`'s
//!   sealed frames, with the check that an envelope names the authenticated
//!   sender.
//!
//! This crate stands above the pure cores (threshold, chains, governance,
//! audit) and the bottom floor (`custos-wire`); the daemons stand above it.
//! Pure: no sockets, files or clocks. Not here: the byte framing of control
//! messages over a stream (`custos-net`), and what a node or the server does
//! with a message (their crates).

#![warn(missing_docs)]

pub mod attest;
pub mod authz;
pub mod control;
pub mod policy;
pub mod request;
pub mod sealed;
pub mod sign_entry;
