//! Typed transfer arguments → the chain part of an intent. One function for
//! everyone who turns "send this" into an intent: the server when it
//! prepares one, and the initiator's CLI when it checks, before signing,
//! that what the server prepared is exactly what was asked.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::intent::{
    Asset, BitcoinNetwork, BitcoinTransfer, ChainIntent, EthereumTransfer, KnownToken,
    SolanaTransfer, Utxo,
};

/// A transfer from one wallet account, chain-specific fields as named (the
/// API's transfer request has the same fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferArgs {
    /// `ethereum` | `bitcoin` | `solana`.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// Amount in base units (decimal string).
    pub amount: String,
    /// ERC-20 contract or SPL mint; absent for the native asset.
    pub asset: Option<String>,
    /// Account index (`m/0/index`), default 0.
    pub index: Option<u32>,
    /// Bitcoin network (default mainnet).
    pub network: Option<String>,
    /// Ethereum: EIP-155 chain id.
    pub chain_id: Option<u64>,
    /// Ethereum: nonce.
    pub nonce: Option<u64>,
    /// Ethereum: max fee per gas, wei (decimal string).
    pub max_fee_per_gas: Option<String>,
    /// Ethereum: max priority fee per gas, wei (decimal string).
    pub max_priority_fee_per_gas: Option<String>,
    /// Ethereum: gas limit.
    pub gas_limit: Option<u64>,
    /// Bitcoin: `TXID:VOUT:SATS` per UTXO to spend.
    pub utxos: Option<Vec<String>>,
    /// Bitcoin: fee rate, sat/vB.
    pub fee_rate: Option<u64>,
    /// Solana: recent blockhash (base58).
    pub recent_blockhash: Option<String>,
}

fn bad(msg: String) -> ChainError {
    ChainError::Arguments(msg)
}

fn need<T>(v: Option<T>, name: &str, chain: &str) -> Result<T, ChainError> {
    v.ok_or_else(|| bad(format!("{chain} transfers need {name}")))
}

fn number<T: FromStr>(s: &str, what: &str) -> Result<T, ChainError> {
    s.trim()
        .parse()
        .map_err(|_| bad(format!("{what} is not a whole number in range")))
}

/// A Bitcoin network by name; `None` is mainnet.
pub fn network(name: Option<&str>) -> Result<BitcoinNetwork, ChainError> {
    BitcoinNetwork::from_str(name.unwrap_or("mainnet")).map_err(|e| bad(e.to_string()))
}

fn utxo(s: &str) -> Result<Utxo, ChainError> {
    let mut parts = s.split(':');
    let (Some(txid), Some(vout), Some(value), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("UTXO {s:?} is not TXID:VOUT:SATS")));
    };
    let txid: [u8; 32] = hex::decode(txid)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(format!("UTXO {s:?}: txid is not 32 bytes of hex")))?;
    Ok(Utxo {
        txid,
        vout: number(vout, "vout")?,
        value: number(value, "UTXO value")?,
    })
}

/// The chain part of an intent for `r`, tokens resolved (with their
/// decimals) from `tokens`.
pub fn chain_intent(r: &TransferArgs, tokens: &[KnownToken]) -> Result<ChainIntent, ChainError> {
    let asset = |chain: &str| -> Result<Asset, ChainError> {
        match &r.asset {
            None => Ok(Asset::Native),
            Some(address) => tokens
                .iter()
                .find(|t| t.chain == chain && t.address == *address)
                .map(|t| Asset::Token {
                    address: t.address.clone(),
                    decimals: t.decimals,
                })
                .ok_or_else(|| bad(format!("unknown token {address}"))),
        }
    };
    match r.chain.as_str() {
        "ethereum" => Ok(ChainIntent::Ethereum(EthereumTransfer {
            chain_id: need(r.chain_id, "--chain-id", "ethereum")?,
            to: r.to.clone(),
            asset: asset("ethereum")?,
            amount: number(&r.amount, "amount")?,
            nonce: need(r.nonce, "--nonce", "ethereum")?,
            max_fee_per_gas: number(
                &need(r.max_fee_per_gas.clone(), "--max-fee-per-gas", "ethereum")?,
                "max fee per gas",
            )?,
            max_priority_fee_per_gas: number(
                &need(
                    r.max_priority_fee_per_gas.clone(),
                    "--max-priority-fee-per-gas",
                    "ethereum",
                )?,
                "max priority fee per gas",
            )?,
            gas_limit: need(r.gas_limit, "--gas-limit", "ethereum")?,
        })),
        "bitcoin" => {
            if r.asset.is_some() {
                return Err(bad("bitcoin transfers move bitcoin only".into()));
            }
            Ok(ChainIntent::Bitcoin(BitcoinTransfer {
                network: network(r.network.as_deref())?,
                to: r.to.clone(),
                amount: number(&r.amount, "amount")?,
                utxos: need(r.utxos.as_ref(), "--utxo", "bitcoin")?
                    .iter()
                    .map(|u| utxo(u))
                    .collect::<Result<_, _>>()?,
                fee_rate: need(r.fee_rate, "--fee-rate", "bitcoin")?,
            }))
        }
        "solana" => Ok(ChainIntent::Solana(SolanaTransfer {
            to: r.to.clone(),
            asset: asset("solana")?,
            amount: number(&r.amount, "amount")?,
            recent_blockhash: need(r.recent_blockhash.clone(), "--recent-blockhash", "solana")?,
        })),
        other => Err(bad(format!("unknown chain {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth() -> TransferArgs {
        TransferArgs {
            chain: "ethereum".into(),
            to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
            amount: "7".into(),
            chain_id: Some(1),
            nonce: Some(0),
            max_fee_per_gas: Some("2".into()),
            max_priority_fee_per_gas: Some("1".into()),
            gas_limit: Some(21000),
            ..TransferArgs::default()
        }
    }

    #[test]
    fn missing_fields_and_unknown_tokens_are_named() {
        let mut a = eth();
        a.nonce = None;
        assert_eq!(
            chain_intent(&a, &[]).unwrap_err().to_string(),
            "ethereum transfers need --nonce"
        );
        let mut a = eth();
        a.asset = Some("0xdAC17F958D2ee523a2206206994597C13D831ec7".into());
        assert_eq!(
            chain_intent(&a, &[]).unwrap_err().to_string(),
            "unknown token 0xdAC17F958D2ee523a2206206994597C13D831ec7"
        );
        let tokens = [KnownToken {
            chain: "ethereum".into(),
            address: "0xdAC17F958D2ee523a2206206994597C13D831ec7".into(),
            symbol: "USDT".into(),
            decimals: 6,
        }];
        let ChainIntent::Ethereum(t) = chain_intent(&a, &tokens).unwrap() else {
            panic!("ethereum");
        };
        assert_eq!(t.amount, 7);
        assert!(matches!(t.asset, Asset::Token { decimals: 6, .. }));
        let b = TransferArgs {
            chain: "bitcoin".into(),
            utxos: Some(vec!["00:1:2".into()]),
            fee_rate: Some(1),
            amount: "1".into(),
            ..TransferArgs::default()
        };
        assert!(chain_intent(&b, &[])
            .unwrap_err()
            .to_string()
            .contains("txid is not 32 bytes of hex"));
    }
}
