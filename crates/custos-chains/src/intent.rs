//! Transfer intents: what an initiator asks for, one typed structure per
//! chain, with a canonical versioned encoding and a stable hash. Nodes build
//! the transaction from the intent alone.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ChainError;

/// Encoding version of [`TransferIntent`].
pub const INTENT_VERSION: u16 = 1;
/// Largest encoded intent.
pub const MAX_INTENT_BYTES: usize = 64 * 1024;
/// Most UTXOs one Bitcoin intent may spend.
pub const MAX_UTXOS: usize = 500;
const MAX_TEXT: usize = 128;
const HASH_TAG: &[u8] = b"custos/intent/v1\0";

/// A transfer from one wallet account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferIntent {
    /// [`INTENT_VERSION`].
    pub version: u16,
    /// Unique per request; a node signs each request id at most once.
    pub request_id: [u8; 16],
    /// Server wallet id (for people and logs).
    pub wallet: String,
    /// The wallet's threshold key id (hex), which nodes know it by.
    pub key_id: String,
    /// Account index: the key at `m/0/account`.
    pub account: u32,
    /// The chain-specific part.
    pub chain: ChainIntent,
}

/// One variant per chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainIntent {
    /// EIP-1559 transaction.
    Ethereum(EthereumTransfer),
    /// Segwit v0 (ECDSA wallets) or Taproot key-path (BIP-340 wallets) spend.
    Bitcoin(BitcoinTransfer),
    /// Legacy-message transaction with one signer, the wallet.
    Solana(SolanaTransfer),
}

/// What moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Asset {
    /// Ether, bitcoin or SOL.
    Native,
    /// An ERC-20 contract or SPL mint, with its decimals.
    Token {
        /// Contract (0x, EIP-55) or mint (base58) address.
        address: String,
        /// Decimals of the token.
        decimals: u8,
    },
}

/// An Ethereum transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthereumTransfer {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Recipient (EIP-55 checksummed).
    pub to: String,
    /// Ether or an ERC-20 token.
    pub asset: Asset,
    /// Amount in wei or token base units.
    pub amount: u128,
    /// Sender nonce.
    pub nonce: u64,
    /// EIP-1559 max fee per gas (wei).
    pub max_fee_per_gas: u128,
    /// EIP-1559 max priority fee per gas (wei).
    pub max_priority_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
}

/// Bitcoin networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitcoinNetwork {
    /// Mainnet.
    Mainnet,
    /// Testnet (3).
    Testnet,
    /// Signet.
    Signet,
    /// Regtest.
    Regtest,
}

impl std::str::FromStr for BitcoinNetwork {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, ChainError> {
        match s {
            "mainnet" | "bitcoin" => Ok(Self::Mainnet),
            "testnet" => Ok(Self::Testnet),
            "signet" => Ok(Self::Signet),
            "regtest" => Ok(Self::Regtest),
            _ => Err(ChainError::Intent(
                "unknown network (mainnet|testnet|signet|regtest)",
            )),
        }
    }
}

/// An output the wallet account owns, to spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utxo {
    /// Transaction id, in the usual (display) byte order.
    pub txid: [u8; 32],
    /// Output index.
    pub vout: u32,
    /// Value in satoshis.
    pub value: u64,
}

/// A Bitcoin transfer; change goes back to the account's own address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitcoinTransfer {
    /// Network (addresses must belong to it).
    pub network: BitcoinNetwork,
    /// Recipient address.
    pub to: String,
    /// Amount in satoshis.
    pub amount: u64,
    /// Outputs of the account to spend, all of them.
    pub utxos: Vec<Utxo>,
    /// Fee rate in sat/vB.
    pub fee_rate: u64,
}

/// A Solana transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolanaTransfer {
    /// Recipient wallet (base58); for tokens, the owner of the destination
    /// associated token account.
    pub to: String,
    /// SOL or an SPL token.
    pub asset: Asset,
    /// Lamports or token base units.
    pub amount: u64,
    /// Recent blockhash (base58).
    pub recent_blockhash: String,
}

impl BitcoinNetwork {
    /// The chain name policy sees: `bitcoin` on mainnet, `bitcoin-testnet`,
    /// `bitcoin-signet`, `bitcoin-regtest` elsewhere. Segwit sighashes do not
    /// commit to a network, so a request labelled with a test network that
    /// spends mainnet coins must not match a mainnet rule (nor a test
    /// address stand for the mainnet one with the same script).
    pub fn policy_chain(self) -> &'static str {
        match self {
            BitcoinNetwork::Mainnet => "bitcoin",
            BitcoinNetwork::Testnet => "bitcoin-testnet",
            BitcoinNetwork::Signet => "bitcoin-signet",
            BitcoinNetwork::Regtest => "bitcoin-regtest",
        }
    }
}

impl ChainIntent {
    /// The chain name policy sees (see [`BitcoinNetwork::policy_chain`]).
    pub fn policy_chain(&self) -> &'static str {
        match self {
            ChainIntent::Bitcoin(b) => b.network.policy_chain(),
            other => other.name(),
        }
    }

    /// `ethereum` | `bitcoin` | `solana`.
    pub fn name(&self) -> &'static str {
        match self {
            ChainIntent::Ethereum(_) => "ethereum",
            ChainIntent::Bitcoin(_) => "bitcoin",
            ChainIntent::Solana(_) => "solana",
        }
    }
}

impl TransferIntent {
    /// Canonical encoding (postcard, fixed field order).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ChainError> {
        postcard::to_stdvec(self).map_err(|_| ChainError::Intent("does not encode"))
    }

    /// Decodes an intent: bounded, no trailing bytes, only the canonical
    /// encoding, known version, and [`TransferIntent::validate`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChainError> {
        if bytes.len() > MAX_INTENT_BYTES {
            return Err(ChainError::Intent("too large"));
        }
        let (intent, rest): (TransferIntent, _) =
            postcard::take_from_bytes(bytes).map_err(|_| ChainError::Intent("does not decode"))?;
        if !rest.is_empty() {
            return Err(ChainError::Intent("trailing bytes"));
        }
        if intent.to_bytes()? != bytes {
            return Err(ChainError::Intent("not in canonical encoding"));
        }
        intent.validate()?;
        Ok(intent)
    }

    /// SHA-256 over a domain tag and the canonical encoding: what initiator
    /// and approvers sign and what a node journals.
    pub fn hash(&self) -> Result<[u8; 32], ChainError> {
        let mut h = Sha256::new();
        h.update(HASH_TAG);
        h.update(self.to_bytes()?);
        Ok(h.finalize().into())
    }

    /// Checks what does not need the chain libraries: version, bounds,
    /// non-zero amounts, UTXO list.
    pub fn validate(&self) -> Result<(), ChainError> {
        if self.version != INTENT_VERSION {
            return Err(ChainError::Intent("unsupported version"));
        }
        if self.wallet.len() > MAX_TEXT
            || self.key_id.len() != 64
            || hex::decode(&self.key_id).is_err()
        {
            return Err(ChainError::Intent("wallet or key id"));
        }
        if self.account >= 1 << 31 {
            return Err(ChainError::Intent(
                "account index must be non-hardened (< 2^31)",
            ));
        }
        let (to, zero, asset) = match &self.chain {
            ChainIntent::Ethereum(e) => (&e.to, e.amount == 0, Some(&e.asset)),
            ChainIntent::Bitcoin(b) => (&b.to, b.amount == 0, None),
            ChainIntent::Solana(s) => (&s.to, s.amount == 0, Some(&s.asset)),
        };
        if to.len() > MAX_TEXT {
            return Err(ChainError::Address("too long".into()));
        }
        if let Some(Asset::Token { address, .. }) = asset {
            if address.len() > MAX_TEXT {
                return Err(ChainError::Address("token address too long".into()));
            }
        }
        if zero {
            return Err(ChainError::ZeroAmount);
        }
        if let ChainIntent::Bitcoin(b) = &self.chain {
            if b.utxos.is_empty() || b.utxos.len() > MAX_UTXOS {
                return Err(ChainError::Intent("1 to 500 UTXOs"));
            }
            let mut seen = std::collections::BTreeSet::new();
            if !b.utxos.iter().all(|u| seen.insert((u.txid, u.vout))) {
                return Err(ChainError::Intent("a UTXO is listed twice"));
            }
        }
        if let ChainIntent::Solana(s) = &self.chain {
            if s.recent_blockhash.len() > MAX_TEXT {
                return Err(ChainError::Intent("blockhash"));
            }
        }
        Ok(())
    }

    /// The derivation path of the account key, `m/0/account`.
    pub fn path(&self) -> String {
        format!("m/0/{}", self.account)
    }
}

/// A token the deployment knows, with its decimals. Intents naming any
/// other token are refused ([`check_token`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownToken {
    /// `ethereum` | `solana`.
    pub chain: String,
    /// Contract (EIP-55) or mint (base58).
    pub address: String,
    /// Ticker, for people.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
}

/// Refuses an intent whose token is not in `known` (or has other decimals).
pub fn check_token(intent: &TransferIntent, known: &[KnownToken]) -> Result<(), ChainError> {
    let asset = match &intent.chain {
        ChainIntent::Ethereum(e) => &e.asset,
        ChainIntent::Solana(s) => &s.asset,
        ChainIntent::Bitcoin(_) => return Ok(()),
    };
    match asset {
        Asset::Native => Ok(()),
        Asset::Token { address, decimals } => known
            .iter()
            .any(|t| {
                t.chain == intent.chain.name() && t.address == *address && t.decimals == *decimals
            })
            .then_some(())
            .ok_or_else(|| ChainError::UnknownToken(address.clone())),
    }
}
