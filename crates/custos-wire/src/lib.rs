//! # custos-wire
//!
//! Node identities and the end-to-end sealed channel that carries threshold
//! protocol messages between shard nodes *through* the untrusted server.
//!
//! Every [`Frame`] is sealed with HPKE (RFC 9180) in **Auth mode**
//! (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305): only the
//! recipient node can open it, and opening proves it was sealed by the sender
//! node's static key. The frame header — session id, sender, recipient and a
//! per-(sender, recipient) sequence number — is the AEAD's associated data, so
//! a relay cannot change it. A [`Channel`] checks the sequence only *after*
//! authentication: an altered or forged frame is [`WireError::Tampered`], an
//! authentic frame seen again is [`WireError::Replayed`], one that skips ahead
//! (a drop or a reorder) is [`WireError::Reordered`].
//!
//! Pure: no sockets, files or clocks; randomness comes in as an argument.
//! Not here: transport to the server (mutual TLS in the node), enrolment of
//! node keys (an explicit operator step), timeouts.

#![warn(missing_docs)]

mod channel;
mod identity;

pub use channel::{Channel, Frame, FrameHeader, PartyIndex, WireError, MAX_FRAME, MAX_PLAINTEXT};
pub use identity::{NodeKeys, NodePublicKey};
