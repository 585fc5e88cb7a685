//! Messages signed by chain convention, so that a message signature can
//! never be a transaction signature:
//!
//! - **EIP-191** `personal_sign` (Ethereum, ECDSA keys): the signed digest is
//!   `keccak256("\x19Ethereum Signed Message:\n" || len || message)`; a
//!   transaction's signing hash is keccak256 over `0x02 || rlp(..)` (EIP-1559)
//!   or an RLP list (legacy), never a preimage that starts with `0x19`
//!   (EIP-191 reserves that byte exactly for this). The message must be
//!   UTF-8 text and not exactly 32 bytes: that would be `eth_sign` of a hash,
//!   which contracts (Safe owners, meta-transactions) accept as approving a
//!   transaction.
//! - **BIP-322 "simple"** (Bitcoin, P2WPKH for ECDSA keys and P2TR for
//!   BIP-340 keys): the signature is an input signature of the virtual
//!   `to_sign` transaction, which spends output 0 of the virtual `to_spend`
//!   transaction whose only input has the null prevout and, as scriptSig,
//!   `OP_0 PUSH32[tagged_hash("BIP0322-signed-message", message)]`. A sighash
//!   commits to the outpoint it spends (BIP-143 and BIP-341), and that
//!   outpoint is the txid of a transaction that can never be mined.
//! - **Solana off-chain message, version 0** (Ed25519 keys), as
//!   `solana sign-offchain-message` makes it (the `solana-offchain-message`
//!   crate): `"\xffsolana offchain"` ‖ version 0 ‖ format ‖ u16 LE length ‖
//!   message; the signed bytes start with that signing domain; a Solana transaction message
//!   starts with its header byte, and `0xff` is neither a legacy header (255
//!   required signatures need 255 keys) nor a version prefix (version 127).
//!
//! The nodes build these bytes themselves from the request (never a digest
//! they are handed), as they build transactions.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::opcodes::OP_0;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, OutPoint, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use custos_tss::Scheme;
use serde::{Deserialize, Serialize};

use crate::bitcoin::{account, p2wpkh_sighash, taproot_key_sighash, witnesses, Spend};
use crate::error::ChainError;
use crate::intent::BitcoinNetwork;
use crate::tx::{AccountKey, Payload};

/// What a BIP-322 simple signature starts with (BIP-322 v1.0.0).
pub const BIP322_SIMPLE_PREFIX: &str = "smp";

/// Longest message the nodes sign in any format (the Solana off-chain
/// format's limit for messages a hardware wallet can show).
pub const MAX_MESSAGE: usize = 1212;

/// The convention a message is signed by; it fixes the chain and, with the
/// wallet's scheme, how the key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageFormat {
    /// EIP-191 `personal_sign` (ECDSA wallets).
    Eip191,
    /// BIP-322 simple: P2WPKH for ECDSA wallets, P2TR for BIP-340 wallets.
    Bip322,
    /// Solana off-chain message version 0 (Ed25519 wallets).
    SolanaOffchain,
}

impl MessageFormat {
    /// The chain whose convention it is (what policy matches on).
    pub fn chain(self) -> &'static str {
        match self {
            MessageFormat::Eip191 => "ethereum",
            MessageFormat::Bip322 => "bitcoin",
            MessageFormat::SolanaOffchain => "solana",
        }
    }

    /// The one format of a scheme's chain (`None`: ECDSA serves two).
    pub fn for_scheme(scheme: Scheme) -> Option<Self> {
        match scheme {
            Scheme::EcdsaSecp256k1 => None,
            Scheme::SchnorrBip340 => Some(MessageFormat::Bip322),
            Scheme::Ed25519 => Some(MessageFormat::SolanaOffchain),
        }
    }
}

impl std::fmt::Display for MessageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageFormat::Eip191 => "eip191",
            MessageFormat::Bip322 => "bip322",
            MessageFormat::SolanaOffchain => "solana-offchain",
        })
    }
}

impl std::str::FromStr for MessageFormat {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, ChainError> {
        match s {
            "eip191" | "ethereum" => Ok(MessageFormat::Eip191),
            "bip322" | "bitcoin" => Ok(MessageFormat::Bip322),
            "solana-offchain" | "solana" => Ok(MessageFormat::SolanaOffchain),
            _ => Err(ChainError::Arguments(format!(
                "unknown message format {s:?} (eip191 | bip322 | solana-offchain)"
            ))),
        }
    }
}

/// What a message signing signs: the payload for the threshold protocol.
pub fn payload(
    format: MessageFormat,
    key: &AccountKey,
    message: &[u8],
) -> Result<Payload, ChainError> {
    if message.len() > MAX_MESSAGE {
        return Err(ChainError::Arguments(format!(
            "a message is at most {MAX_MESSAGE} bytes"
        )));
    }
    match (format, key.scheme) {
        (MessageFormat::Eip191, Scheme::EcdsaSecp256k1) => {
            // `personal_sign` of exactly 32 bytes is `eth_sign` of a hash,
            // which contracts accept as approving what the hash commits to
            // (a Safe transaction, a meta-transaction, an order): refused,
            // as is binary, whose meaning no approver can read.
            if message.len() == 32 || std::str::from_utf8(message).is_err() {
                return Err(ChainError::Arguments(
                    "an EIP-191 message is UTF-8 text, and not of exactly 32 bytes (that would sign a hash)".into(),
                ));
            }
            Ok(Payload::Ecdsa(
                alloy_primitives::eip191_hash_message(message).0,
            ))
        }
        (MessageFormat::Bip322, Scheme::EcdsaSecp256k1 | Scheme::SchnorrBip340) => {
            bip322_payload(key, message)
        }
        (MessageFormat::SolanaOffchain, Scheme::Ed25519) => {
            // Version 0, as `solana sign-offchain-message` makes it; the
            // crate picks the format (ASCII, UTF-8) and refuses the rest.
            let m = solana_offchain_message::OffchainMessage::new(0, message).map_err(|_| {
                ChainError::Arguments("an off-chain message is 1 to 1212 bytes of UTF-8".into())
            })?;
            let bytes = m
                .serialize()
                .map_err(|_| ChainError::Encoding("off-chain message".into()))?;
            Ok(Payload::Ed25519(bytes))
        }
        (f, s) => Err(ChainError::Arguments(format!(
            "{f} messages are not signed with {s} keys"
        ))),
    }
}

/// A message signature in its chain's own encoding: EIP-191 `0x` r‖s‖v
/// (v 27 or 28), BIP-322 simple (base64 of the witness), Solana base58.
/// The signature is verified against the key first.
pub fn encode(
    format: MessageFormat,
    key: &AccountKey,
    message: &[u8],
    signature: &[u8],
) -> Result<String, ChainError> {
    let payload = payload(format, key, message)?;
    match format {
        MessageFormat::Eip191 => {
            let sig: &[u8; 64] = signature
                .try_into()
                .map_err(|_| ChainError::Signature("ECDSA signature is 64 bytes r||s"))?;
            let (r, s) = sig.split_at(32);
            let from = crate::address::ethereum_address(&key.public_key)?;
            let v = [false, true]
                .into_iter()
                .find(|&parity| {
                    alloy_primitives::Signature::from_scalars_and_parity(
                        alloy_primitives::B256::from_slice(r),
                        alloy_primitives::B256::from_slice(s),
                        parity,
                    )
                    .recover_address_from_msg(message)
                    .ok()
                        == Some(from)
                })
                .ok_or(ChainError::Signature("does not recover to the signer"))?;
            Ok(format!("0x{}{:02x}", hex::encode(sig), 27 + u8::from(v)))
        }
        MessageFormat::Bip322 => {
            let (_, spend) = account(key, BitcoinNetwork::Mainnet)?;
            let witness = witnesses(&[payload], &spend, &[signature.to_vec()])?
                .pop()
                .ok_or(ChainError::Signature("witness"))?;
            use base64::Engine;
            Ok(format!(
                "{BIP322_SIMPLE_PREFIX}{}",
                base64::engine::general_purpose::STANDARD
                    .encode(bitcoin::consensus::encode::serialize(&witness))
            ))
        }
        MessageFormat::SolanaOffchain => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(
                key.public_key
                    .as_slice()
                    .try_into()
                    .map_err(|_| ChainError::Key("Ed25519 key"))?,
            )
            .map_err(|_| ChainError::Key("Ed25519 key"))?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| ChainError::Signature("Ed25519 signature is 64 bytes"))?;
            vk.verify_strict(payload.message(), &sig)
                .map_err(|_| ChainError::Signature("does not verify"))?;
            Ok(solana_signature::Signature::from(sig.to_bytes()).to_string())
        }
    }
}

/// The address a message signature names (the key's address by the
/// format's convention; BIP-322 on `network`).
pub fn signer_address(
    format: MessageFormat,
    key: &AccountKey,
    network: BitcoinNetwork,
) -> Result<String, ChainError> {
    match format {
        MessageFormat::Eip191 => {
            Ok(crate::address::ethereum_address(&key.public_key)?.to_checksum(None))
        }
        MessageFormat::Bip322 => Ok(account(key, network)?.0.to_string()),
        MessageFormat::SolanaOffchain => {
            Ok(crate::address::solana_address(&key.public_key)?.to_string())
        }
    }
}

/// BIP-322's message hash: SHA-256 tagged `BIP0322-signed-message`.
pub fn bip322_message_hash(message: &[u8]) -> [u8; 32] {
    let tag = sha256::Hash::hash(b"BIP0322-signed-message");
    let mut engine = sha256::Hash::engine();
    engine.input(tag.as_ref());
    engine.input(tag.as_ref());
    engine.input(message);
    sha256::Hash::from_engine(engine).to_byte_array()
}

/// BIP-322's virtual `to_spend` transaction for `script_pubkey`.
pub fn bip322_to_spend(script_pubkey: &ScriptBuf, message: &[u8]) -> Transaction {
    let hash = PushBytesBuf::from(bip322_message_hash(message));
    Transaction {
        version: Version(0),
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::all_zeros(),
                vout: 0xFFFF_FFFF,
            },
            script_sig: Builder::new()
                .push_opcode(OP_0)
                .push_slice(hash)
                .into_script(),
            sequence: Sequence::ZERO,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: script_pubkey.clone(),
        }],
    }
}

/// BIP-322's virtual `to_sign` transaction spending `to_spend`'s output.
pub fn bip322_to_sign(to_spend: &Transaction) -> Transaction {
    Transaction {
        version: Version(0),
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: to_spend.compute_txid(),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ZERO,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: Builder::new().push_opcode(OP_RETURN).into_script(),
        }],
    }
}

fn bip322_payload(key: &AccountKey, message: &[u8]) -> Result<Payload, ChainError> {
    // The script does not depend on the network; only the address text does.
    let (address, spend) = account(key, BitcoinNetwork::Mainnet)?;
    let script = address.script_pubkey();
    let to_spend = bip322_to_spend(&script, message);
    let to_sign = bip322_to_sign(&to_spend);
    match spend {
        Spend::P2wpkh(_) => Ok(Payload::Ecdsa(p2wpkh_sighash(
            &to_sign,
            0,
            &script,
            Amount::ZERO,
        )?)),
        Spend::P2tr(_) => {
            let prevouts = to_spend.output.clone();
            Ok(Payload::Bip340(taproot_key_sighash(
                &to_sign,
                0,
                &prevouts,
                TapSighashType::Default,
            )?))
        }
    }
}
