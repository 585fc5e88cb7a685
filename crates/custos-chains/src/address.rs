//! Addresses from wallet keys, and parsing of recipients with each chain's
//! own checks (EIP-55 checksum, bech32/bech32m and network, base58 length).

use std::str::FromStr;

use alloy_primitives::Address as EthAddress;
use bitcoin::key::{TweakedPublicKey, UntweakedPublicKey};
use bitcoin::secp256k1::{PublicKey, Secp256k1, XOnlyPublicKey};
use bitcoin::{Address as BtcAddress, CompressedPublicKey};
use custos_tss::Scheme;
use solana_pubkey::Pubkey;

use crate::error::ChainError;
use crate::intent::BitcoinNetwork;
use crate::tx::AccountKey;

impl From<BitcoinNetwork> for bitcoin::Network {
    fn from(n: BitcoinNetwork) -> Self {
        match n {
            BitcoinNetwork::Mainnet => bitcoin::Network::Bitcoin,
            BitcoinNetwork::Testnet => bitcoin::Network::Testnet,
            BitcoinNetwork::Signet => bitcoin::Network::Signet,
            BitcoinNetwork::Regtest => bitcoin::Network::Regtest,
        }
    }
}

/// Which address to make for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// Ethereum (ECDSA keys).
    Ethereum,
    /// Bitcoin: P2WPKH for ECDSA keys, P2TR key path for BIP-340 keys.
    Bitcoin(BitcoinNetwork),
    /// Solana (Ed25519 keys).
    Solana,
}

/// The address of `key` on a chain.
pub fn address(key: &AccountKey, kind: AddressKind) -> Result<String, ChainError> {
    match (key.scheme, kind) {
        (Scheme::EcdsaSecp256k1, AddressKind::Ethereum) => {
            Ok(ethereum_address(&key.public_key)?.to_checksum(None))
        }
        (Scheme::EcdsaSecp256k1, AddressKind::Bitcoin(n)) => {
            Ok(p2wpkh(&key.public_key, n)?.to_string())
        }
        (Scheme::SchnorrBip340, AddressKind::Bitcoin(n)) => {
            Ok(p2tr_output(&key.public_key, n)?.to_string())
        }
        (Scheme::Ed25519, AddressKind::Solana) => Ok(solana_address(&key.public_key)?.to_string()),
        _ => Err(ChainError::Key(
            "this wallet's scheme has no address on that chain",
        )),
    }
}

/// Ethereum address of a 33-byte compressed secp256k1 key.
pub fn ethereum_address(public_key: &[u8]) -> Result<EthAddress, ChainError> {
    let pk = PublicKey::from_slice(public_key).map_err(|_| ChainError::Key("secp256k1 key"))?;
    let uncompressed = pk.serialize_uncompressed();
    let xy = uncompressed
        .get(1..)
        .ok_or(ChainError::Key("secp256k1 key"))?;
    Ok(EthAddress::from_raw_public_key(xy))
}

/// Parses an Ethereum recipient: `0x` and 40 hex digits with a valid EIP-55
/// checksum (unchecksummed addresses are refused: a typo would go unseen).
pub fn parse_ethereum(s: &str) -> Result<EthAddress, ChainError> {
    let hex_part = s
        .strip_prefix("0x")
        .ok_or_else(|| ChainError::Address(format!("{s}: no 0x prefix")))?;
    if hex_part.len() != 40 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ChainError::Address(format!("{s}: not 20 hex bytes")));
    }
    EthAddress::parse_checksummed(s, None)
        .map_err(|_| ChainError::Checksum(format!("{s} is not EIP-55 checksummed")))
}

/// P2WPKH address of a 33-byte compressed key.
pub fn p2wpkh(public_key: &[u8], network: BitcoinNetwork) -> Result<BtcAddress, ChainError> {
    let pk = CompressedPublicKey::from_slice(public_key)
        .map_err(|_| ChainError::Key("compressed secp256k1 key"))?;
    Ok(BtcAddress::p2wpkh(&pk, bitcoin::Network::from(network)))
}

/// P2TR address of an x-only output key that already carries its tweak
/// (custos-tss BIP-340 keys are BIP-86 output keys).
pub fn p2tr_output(output_key: &[u8], network: BitcoinNetwork) -> Result<BtcAddress, ChainError> {
    let x = XOnlyPublicKey::from_slice(output_key).map_err(|_| ChainError::Key("x-only key"))?;
    Ok(BtcAddress::p2tr_tweaked(
        TweakedPublicKey::dangerous_assume_tweaked(x),
        bitcoin::Network::from(network),
    ))
}

/// BIP-86 P2TR address of an x-only internal key (no script tree).
pub fn p2tr_internal(
    internal_key: &[u8],
    network: BitcoinNetwork,
) -> Result<BtcAddress, ChainError> {
    let x: UntweakedPublicKey =
        XOnlyPublicKey::from_slice(internal_key).map_err(|_| ChainError::Key("x-only key"))?;
    Ok(BtcAddress::p2tr(
        &Secp256k1::verification_only(),
        x,
        None,
        bitcoin::Network::from(network),
    ))
}

/// Parses a Bitcoin recipient and requires it to belong to `network`.
pub fn parse_bitcoin(s: &str, network: BitcoinNetwork) -> Result<BtcAddress, ChainError> {
    BtcAddress::from_str(s)
        .map_err(|e| ChainError::Address(format!("{s}: {e}")))?
        .require_network(network.into())
        .map_err(|_| ChainError::WrongNetwork(s.to_owned()))
}

/// Solana address (base58) of a 32-byte Ed25519 key.
pub fn solana_address(public_key: &[u8]) -> Result<Pubkey, ChainError> {
    let bytes: [u8; 32] = public_key
        .try_into()
        .map_err(|_| ChainError::Key("Ed25519 key"))?;
    Ok(Pubkey::new_from_array(bytes))
}

/// Parses a Solana address (base58, 32 bytes).
pub fn parse_solana(s: &str) -> Result<Pubkey, ChainError> {
    Pubkey::from_str(s)
        .map_err(|_| ChainError::Address(format!("{s}: not a base58 Solana address")))
}

/// The wallet's root extended public key (BIP-32 `xpub`, mainnet version
/// bytes; `tpub` for the test networks), from which anyone can derive the
/// account keys `m/0/i` watch-only. secp256k1 wallets only.
pub fn xpub(
    root_key: &[u8],
    chain_code: &[u8; 32],
    network: BitcoinNetwork,
) -> Result<String, ChainError> {
    use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpub};
    let public_key =
        PublicKey::from_slice(root_key).map_err(|_| ChainError::Key("compressed secp256k1 key"))?;
    let network = match network {
        BitcoinNetwork::Mainnet => bitcoin::NetworkKind::Main,
        _ => bitcoin::NetworkKind::Test,
    };
    Ok(Xpub {
        network,
        depth: 0,
        parent_fingerprint: Fingerprint::default(),
        child_number: ChildNumber::Normal { index: 0 },
        public_key,
        chain_code: ChainCode::from(*chain_code),
    }
    .to_string())
}
