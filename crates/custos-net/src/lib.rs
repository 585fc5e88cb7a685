//! # custos-net
//!
//! The node ↔ server transport: TLS 1.3 with **mutual authentication by
//! pinned certificates**. Each side has a self-signed Ed25519 certificate made
//! at init; enrolment (an explicit operator step) records the other side's
//! SHA-256 certificate fingerprint. There is no CA and no trust on first use:
//! a certificate is accepted only if its fingerprint is pinned, and the
//! handshake signature is still verified with the provider's algorithms.
//!
//! Messages (`custos-protocol`'s control messages) travel length-prefixed
//! and bounded over the TLS stream ([`framing`]). This crate knows nothing of
//! what they mean: it depends on no chain or threshold library.

#![warn(missing_docs)]

pub mod clock;
pub mod framing;
mod identity;
mod pinning;

pub use framing::{read_msg, write_msg, ControlError, MAX_CONTROL};
pub use identity::{Fingerprint, TlsIdentity};
pub use pinning::{
    api_client_config, api_server_config, api_server_config_pem, client_config, peer_fingerprint,
    server_config, Enrolled,
};

/// Transport failures.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Certificate or key generation or parsing failed.
    #[error("TLS identity: {0}")]
    Identity(String),
    /// TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A control message was refused.
    #[error(transparent)]
    Control(#[from] ControlError),
}
