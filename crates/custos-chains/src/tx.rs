//! What every chain module shares: the account key, what one signature
//! signs, a chain's unsigned transaction with its payloads, and a signed
//! transaction. A leaf: `lib.rs` wraps each chain's unsigned transaction.

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

/// A chain's unsigned transaction, with its sender and what must be signed.
pub(crate) struct Built<T> {
    /// The sending address.
    pub from: String,
    /// One payload per required signature, in order.
    pub payloads: Vec<Payload>,
    /// The chain's transaction.
    pub tx: T,
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
