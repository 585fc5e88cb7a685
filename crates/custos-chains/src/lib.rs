//! # custos-chains
//!
//! Addresses, transfer intents, unsigned transactions, signing payloads and
//! signed-transaction assembly for Ethereum (EIP-1559), Bitcoin (P2WPKH,
//! P2TR key path) and Solana — built with each chain's own libraries
//! (alloy, rust-bitcoin, the Solana crates), never hand-rolled encodings.
//!
//! Every shard node calls [`build`] on the [`TransferIntent`] it was sent and
//! signs the payloads *it* computed; it never signs a hash it is handed.
//!
//! Pure: no sockets, files or clocks. It does not look anything up on a
//! chain: UTXOs, nonces, fees and blockhashes come in the intent, and a
//! wrong one makes a transaction the chain rejects, never a signature over
//! something else.

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

pub mod address;
pub mod args;
pub mod bitcoin;
pub mod error;
pub mod ethereum;
pub mod intent;
pub mod psbt;
pub mod solana;

pub use error::ChainError;
pub use intent::{Asset, ChainIntent, TransferIntent};

use custos_tss::Scheme;

/// What one threshold signature must sign, computed from the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// ECDSA over this digest (EIP-1559 signing hash, BIP-143 sighash).
    Ecdsa([u8; 32]),
    /// BIP-340 over this BIP-341 key-path sighash (Taproot output key).
    Bip340([u8; 32]),
    /// Ed25519 over these message bytes (a Solana message).
    Ed25519(Vec<u8>),
}

impl Payload {
    /// The bytes the threshold signature is made over.
    pub fn message(&self) -> &[u8] {
        match self {
            Payload::Ecdsa(d) | Payload::Bip340(d) => d,
            Payload::Ed25519(m) => m,
        }
    }

    /// The scheme that signs it.
    pub fn scheme(&self) -> Scheme {
        match self {
            Payload::Ecdsa(_) => Scheme::EcdsaSecp256k1,
            Payload::Bip340(_) => Scheme::SchnorrBip340,
            Payload::Ed25519(_) => Scheme::Ed25519,
        }
    }
}

/// The signing key of one wallet account, as signatures verify against it:
/// 33-byte compressed secp256k1 (ECDSA), 32-byte x-only Taproot output key
/// (BIP-340), or 32-byte Ed25519.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// Scheme of the wallet.
    pub scheme: Scheme,
    /// Public key bytes.
    pub public_key: Vec<u8>,
}

/// An unsigned transaction, with what must be signed to complete it.
#[derive(Debug, Clone)]
pub struct Unsigned {
    /// The sending address.
    pub from: String,
    /// One payload per required signature, in order.
    pub payloads: Vec<Payload>,
    tx: UnsignedTx,
}

#[derive(Debug, Clone)]
enum UnsignedTx {
    Ethereum(ethereum::UnsignedEth),
    Bitcoin(bitcoin::UnsignedBtc),
    Solana(solana::UnsignedSol),
}

/// A signed transaction, ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// `ethereum` | `bitcoin` | `solana`.
    pub chain: &'static str,
    /// Ethereum: 0x-hex EIP-2718; Bitcoin: hex; Solana: base64.
    pub raw_tx: String,
    /// The sending address.
    pub from: String,
    /// Bitcoin: each input's prevout (script, value), in input order.
    pub prevouts: Vec<(Vec<u8>, u64)>,
}

/// Builds the unsigned transaction and its signing payloads from `intent`
/// for the wallet account whose key is `key`.
pub fn build(intent: &TransferIntent, key: &AccountKey) -> Result<Unsigned, ChainError> {
    intent.validate()?;
    match &intent.chain {
        ChainIntent::Ethereum(e) => ethereum::build(e, key),
        ChainIntent::Bitcoin(b) => bitcoin::build(b, key),
        ChainIntent::Solana(s) => solana::build(s, key),
    }
}

/// Puts the signatures (one per payload, in order; as custos-tss encodes
/// them) into the transaction.
pub fn assemble(unsigned: &Unsigned, signatures: &[Vec<u8>]) -> Result<SignedTx, ChainError> {
    if signatures.len() != unsigned.payloads.len() {
        return Err(ChainError::Signature("one signature per payload"));
    }
    match &unsigned.tx {
        UnsignedTx::Ethereum(tx) => ethereum::assemble(tx, &unsigned.from, signatures),
        UnsignedTx::Bitcoin(tx) => bitcoin::assemble(tx, &unsigned.from, signatures),
        UnsignedTx::Solana(tx) => solana::assemble(tx, &unsigned.from, signatures),
    }
}
