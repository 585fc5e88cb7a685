//! The sealed node-to-node channel of one protocol session.

use std::collections::BTreeMap;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::identity::{NodeKeys, NodePublicKey};

type EncappedKey = <X25519HkdfSha256 as Kem>::EncappedKey;

/// A party's index in its committee (the same numbering as the threshold
/// protocols'; this crate needs no more of them).
pub type PartyIndex = u16;

/// Largest plaintext a frame carries: room for the largest protocol envelope
/// (an aux-info round for 16 parties is far smaller). `custos-protocol`
/// checks at compile time that every envelope fits.
pub const MAX_PLAINTEXT: usize = (8 << 20) + 128;

/// Largest frame accepted from the relay: a plaintext plus the AEAD tag,
/// the encapsulated key and the header.
pub const MAX_FRAME: usize = (8 << 20) + 1024;

/// HPKE `info`: binds every frame to this protocol and version.
const INFO: &[u8] = b"custos-wire/v1/node-to-node";

/// The authenticated, unencrypted part of a frame (HPKE associated data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameHeader {
    /// The protocol session (the coordinator's 32-byte session id).
    pub session: [u8; 32],
    /// Sender's committee index.
    pub from: PartyIndex,
    /// Recipient's committee index.
    pub to: PartyIndex,
    /// Position in the (from, to) stream of this session, from 0.
    pub seq: u64,
}

/// One sealed message as the relay sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Routing data, authenticated.
    pub header: FrameHeader,
    /// HPKE encapsulated key.
    pub encapped_key: [u8; 32],
    /// ChaCha20-Poly1305 ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// Why a frame was refused. Every variant a relay can cause names the
/// claimed sender; the session must abort.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Bytes do not decode as a frame, have trailing data, or are too large.
    #[error("frame does not decode")]
    Malformed,
    /// The frame belongs to another session.
    #[error("frame claiming to be from party {from} belongs to another session")]
    WrongSession {
        /// Claimed sender.
        from: PartyIndex,
    },
    /// The frame is addressed to another party.
    #[error("frame from party {from} is addressed to party {to}")]
    Misdelivered {
        /// Claimed sender.
        from: PartyIndex,
        /// Addressee.
        to: PartyIndex,
    },
    /// The claimed sender is not in this session's roster.
    #[error("frame from party {from}, which is not in the session")]
    UnknownSender {
        /// Claimed sender.
        from: PartyIndex,
    },
    /// Authentication failed: the frame was altered, or not sealed by the
    /// claimed sender's key.
    #[error("frame claiming to be from party {from} fails authentication (altered or forged)")]
    Tampered {
        /// Claimed sender.
        from: PartyIndex,
    },
    /// An authentic frame delivered a second time.
    #[error("frame from party {from} replayed (sequence {seq})")]
    Replayed {
        /// Sender.
        from: PartyIndex,
        /// Its sequence number.
        seq: u64,
    },
    /// An authentic frame that skips ahead: an earlier one was dropped or
    /// held back.
    #[error("frame from party {from} out of order: expected sequence {expected}, got {got} (dropped or reordered)")]
    Reordered {
        /// Sender.
        from: PartyIndex,
        /// Next sequence due.
        expected: u64,
        /// Sequence received.
        got: u64,
    },
    /// The sealed envelope inside names another sender or recipient than the
    /// authenticated header.
    #[error("party {from} sealed an envelope that claims another sender or recipient")]
    Impersonation {
        /// Authenticated sender.
        from: PartyIndex,
    },
    /// We have no key for this recipient.
    #[error("no channel key for party {0}")]
    UnknownRecipient(PartyIndex),
    /// Our own key material is unusable.
    #[error("channel setup: {0}")]
    Setup(&'static str),
}

impl Frame {
    /// Canonical encoding (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes relay bytes; rejects oversized input and trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_FRAME {
            return Err(WireError::Malformed);
        }
        let (frame, rest) = postcard::take_from_bytes(bytes).map_err(|_| WireError::Malformed)?;
        if !rest.is_empty() {
            return Err(WireError::Malformed);
        }
        Ok(frame)
    }
}

/// One node's end of the sealed channels of one session.
pub struct Channel<'k> {
    session: [u8; 32],
    me: PartyIndex,
    keys: &'k NodeKeys,
    roster: BTreeMap<PartyIndex, NodePublicKey>,
    next_out: BTreeMap<PartyIndex, u64>,
    next_in: BTreeMap<PartyIndex, u64>,
}

impl std::fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("me", &self.me)
            .field("peers", &self.roster.keys())
            .finish_non_exhaustive()
    }
}

impl<'k> Channel<'k> {
    /// Opens channels for `session` to every party of `roster` (committee
    /// index → enrolled public key). The roster must list `me` with our key.
    pub fn new(
        session: [u8; 32],
        me: PartyIndex,
        keys: &'k NodeKeys,
        roster: BTreeMap<PartyIndex, NodePublicKey>,
    ) -> Result<Self, WireError> {
        if roster.get(&me) != Some(&keys.public()) {
            return Err(WireError::Setup(
                "roster does not list our key at our index",
            ));
        }
        let peers: Vec<_> = roster.keys().copied().filter(|&p| p != me).collect();
        Ok(Self {
            session,
            me,
            keys,
            next_out: peers.iter().map(|&p| (p, 0)).collect(),
            next_in: peers.iter().map(|&p| (p, 0)).collect(),
            roster,
        })
    }

    /// Our committee index.
    pub fn me(&self) -> PartyIndex {
        self.me
    }

    /// Seals `plaintext` for party `to` as the next frame of that stream.
    pub fn seal(
        &mut self,
        to: PartyIndex,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Frame, WireError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(WireError::Setup("plaintext too large"));
        }
        let recipient = self
            .roster
            .get(&to)
            .and_then(NodePublicKey::hpke)
            .ok_or(WireError::UnknownRecipient(to))?;
        let seq = self
            .next_out
            .get_mut(&to)
            .ok_or(WireError::UnknownRecipient(to))?;
        let header = FrameHeader {
            session: self.session,
            from: self.me,
            to,
            seq: *seq,
        };
        let aad = postcard::to_stdvec(&header).map_err(|_| WireError::Setup("header encoding"))?;
        let own = self
            .keys
            .hpke_public()
            .ok_or(WireError::Setup("own public key"))?;
        let mode = OpModeS::Auth((self.keys.secret().clone(), own));
        let (encapped, ciphertext) =
            hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
                &mode, &recipient, INFO, plaintext, &aad, rng,
            )
            .map_err(|_| WireError::Setup("hpke seal"))?;
        let encapped_key = encapped.to_bytes().into();
        *seq = seq
            .checked_add(1)
            .ok_or(WireError::Setup("sequence exhausted"))?;
        Ok(Frame {
            header,
            encapped_key,
            ciphertext,
        })
    }

    /// Authenticates and opens a frame, then checks its sequence number.
    pub fn open(&mut self, frame: &Frame) -> Result<Vec<u8>, WireError> {
        let h = frame.header;
        if h.session != self.session {
            return Err(WireError::WrongSession { from: h.from });
        }
        if h.to != self.me {
            return Err(WireError::Misdelivered {
                from: h.from,
                to: h.to,
            });
        }
        let sender = match self.roster.get(&h.from) {
            Some(key) if h.from != self.me => key.hpke().ok_or(WireError::Setup("roster key"))?,
            _ => return Err(WireError::UnknownSender { from: h.from }),
        };
        let aad = postcard::to_stdvec(&h).map_err(|_| WireError::Setup("header encoding"))?;
        let encapped = EncappedKey::from_bytes(&frame.encapped_key)
            .map_err(|_| WireError::Tampered { from: h.from })?;
        let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Auth(sender),
            self.keys.secret(),
            &encapped,
            INFO,
            &frame.ciphertext,
            &aad,
        )
        .map_err(|_| WireError::Tampered { from: h.from })?;
        // The header is authentic from here on.
        let expected = self
            .next_in
            .get_mut(&h.from)
            .ok_or(WireError::UnknownSender { from: h.from })?;
        if h.seq < *expected {
            return Err(WireError::Replayed {
                from: h.from,
                seq: h.seq,
            });
        }
        if h.seq > *expected {
            return Err(WireError::Reordered {
                from: h.from,
                expected: *expected,
                got: h.seq,
            });
        }
        *expected += 1;
        Ok(plaintext)
    }
}
