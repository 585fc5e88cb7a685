//! # custos-audit
//!
//! The tamper-evident audit log's pure core: entries hash-linked to their
//! predecessor and signed by the server's log key ([`entry`]); an RFC 9162
//! Merkle tree over the entries with inclusion and consistency proofs
//! ([`merkle`]); checkpoints (size + root) that shard nodes co-sign only
//! when the new one provably extends the last one they signed
//! ([`checkpoint`]); and an offline verifier of an exported log that names
//! the first bad entry ([`verify`]).
//!
//! It does not store, send or time anything: times and keys come in as
//! arguments.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod entry;
pub mod merkle;
pub mod verify;

/// A 32-byte SHA-256 hash.
pub type Hash = [u8; 32];

/// Why an audit artifact was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A proof does not verify or does not fit the sizes.
    #[error("proof: {0}")]
    Proof(&'static str),
    /// The new checkpoint does not extend the last one co-signed (a fork,
    /// a truncation or a rollback).
    #[error("checkpoint does not extend the last co-signed one: {0}")]
    NotAnExtension(&'static str),
    /// Entry `seq` is bad: altered, missing, out of order or badly signed.
    #[error("entry {seq}: {reason}")]
    Entry {
        /// First bad entry.
        seq: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Entries `from..to` are validly signed but differ from what the
    /// co-signed checkpoint of size `to` committed to (history rewritten
    /// with the server's key).
    #[error("entries {from}..{to} differ from the co-signed checkpoint of size {to}")]
    Rewritten {
        /// Size of the last checkpoint that still matches.
        from: u64,
        /// Size of the first that does not.
        to: u64,
    },
    /// A checkpoint is bad.
    #[error("checkpoint of size {size}: {reason}")]
    Checkpoint {
        /// Its size.
        size: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The export holds no checkpoint at all.
    #[error("the export holds no co-signed checkpoint")]
    NoCheckpoint,
    /// The export ends before a checkpoint the nodes say they co-signed.
    #[error("the export has {entries} entries, but the nodes co-signed a checkpoint of size {size}: the log was cut")]
    Cut {
        /// The nodes' checkpoint size.
        size: u64,
        /// Entries in the export.
        entries: u64,
    },
    /// Bytes do not decode.
    #[error("encoding: {0}")]
    Encoding(&'static str),
}
