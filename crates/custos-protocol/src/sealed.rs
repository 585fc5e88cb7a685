//! Threshold-protocol envelopes inside sealed frames.
//!
//! `custos-wire` seals and opens bytes; this module binds those bytes to a
//! [`custos_tss::Envelope`] and refuses an envelope whose sender or recipient
//! differs from the frame's authenticated header, so that an authentic peer
//! cannot speak in another party's name.

use custos_tss::Envelope;
use custos_wire::{Channel, Frame, WireError};
use rand_core::{CryptoRng, RngCore};

// Every envelope the threshold layer accepts must fit in one frame.
const _: () = assert!(custos_tss::session::MAX_PAYLOAD + 128 <= custos_wire::MAX_PLAINTEXT);

/// Sealing and opening of protocol envelopes on a node's [`Channel`].
pub trait EnvelopeChannel {
    /// Seals a protocol envelope for its recipient.
    fn seal_envelope(
        &mut self,
        env: &Envelope,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Frame, WireError>;

    /// Opens a frame holding a protocol envelope and checks that the envelope
    /// names the authenticated sender and us.
    fn open_envelope(&mut self, frame: &Frame) -> Result<Envelope, WireError>;
}

impl EnvelopeChannel for Channel<'_> {
    fn seal_envelope(
        &mut self,
        env: &Envelope,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Frame, WireError> {
        if env.from != self.me() {
            return Err(WireError::Setup("envelope is not ours"));
        }
        self.seal(env.to, &env.to_bytes(), rng)
    }

    fn open_envelope(&mut self, frame: &Frame) -> Result<Envelope, WireError> {
        let from = frame.header.from;
        let plaintext = self.open(frame)?;
        let env =
            Envelope::from_bytes(&plaintext).map_err(|_| WireError::Impersonation { from })?;
        if env.from != from || env.to != self.me() {
            return Err(WireError::Impersonation { from });
        }
        Ok(env)
    }
}
