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

#![warn(missing_docs)]

pub mod address;
pub mod args;
pub mod bitcoin;
pub mod error;
pub mod ethereum;
pub mod intent;
pub mod message;
pub mod outflow;
pub mod psbt;
pub mod solana;
mod tx;

pub use error::ChainError;
pub use intent::{Asset, ChainIntent, TransferIntent};
pub use tx::{AccountKey, Payload, SignedTx};

/// An unsigned transaction, with what must be signed to complete it.
#[derive(Debug, Clone)]
pub struct Unsigned {
    /// The sending address.
    pub from: String,
    /// One payload per required signature, in order.
    pub payloads: Vec<Payload>,
    tx: UnsignedTx,
}

impl<T> tx::Built<T> {
    fn into(self, wrap: impl FnOnce(T) -> UnsignedTx) -> Unsigned {
        Unsigned {
            from: self.from,
            payloads: self.payloads,
            tx: wrap(self.tx),
        }
    }
}

#[derive(Debug, Clone)]
enum UnsignedTx {
    Ethereum(ethereum::UnsignedEth),
    Bitcoin(bitcoin::UnsignedBtc),
    Solana(solana::UnsignedSol),
}

/// Builds the unsigned transaction and its signing payloads from `intent`
/// for the wallet account whose key is `key`.
pub fn build(intent: &TransferIntent, key: &AccountKey) -> Result<Unsigned, ChainError> {
    intent.validate()?;
    match &intent.chain {
        ChainIntent::Ethereum(e) => ethereum::build(e, key).map(|b| b.into(UnsignedTx::Ethereum)),
        ChainIntent::Bitcoin(b) => bitcoin::build(b, key).map(|b| b.into(UnsignedTx::Bitcoin)),
        ChainIntent::Solana(s) => solana::build(s, key).map(|b| b.into(UnsignedTx::Solana)),
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
