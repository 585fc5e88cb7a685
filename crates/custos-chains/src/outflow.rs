//! What a request lets leave a wallet, as policy counts it: every
//! destination in canonical form, and per asset the most that can leave —
//! the amount plus, in the native asset's bucket, the maximum fee the
//! transaction allows (and, on Solana, the rent of an account it funds).

use std::collections::BTreeSet;

use bitcoin::{Address, ScriptBuf};

use crate::error::ChainError;
use crate::intent::{Asset, BitcoinNetwork, ChainIntent, TransferIntent};
use crate::psbt::Psbt;
use crate::{Unsigned, UnsignedTx};

/// The fee of a Solana transaction with one signature, in lamports.
pub const SOLANA_FEE_LAMPORTS: u64 = 5_000;
/// Rent-exempt balance of an SPL token account (165 bytes), which an SPL
/// transfer funds when it creates the recipient's associated account.
pub const TOKEN_ACCOUNT_RENT_LAMPORTS: u64 = 2_039_280;

/// Name of a chain's own asset in a bucket.
pub const NATIVE: &str = "native";

/// Destinations and per-asset maxima of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outflow {
    /// Every destination, canonical (EIP-55, lowercase bech32, base58).
    pub destinations: Vec<String>,
    /// `(asset, base units)`, one entry per asset, in first-seen order.
    pub spends: Vec<(String, u128)>,
}

impl Outflow {
    fn add(&mut self, asset: &str, amount: u128) -> Result<(), ChainError> {
        match self.spends.iter_mut().find(|(a, _)| a == asset) {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(amount)
                    .ok_or(ChainError::AmountOverflow("outflow"))?;
            }
            None => self.spends.push((asset.to_owned(), amount)),
        }
        Ok(())
    }
}

/// Canonical form of a Bitcoin address on `network` (bech32 lowercase).
pub fn canonical_bitcoin(s: &str, network: BitcoinNetwork) -> Result<String, ChainError> {
    Ok(crate::address::parse_bitcoin(s, network)?.to_string())
}

/// Canonical form of any address a policy may name: EIP-55 for `0x` and
/// 40 hex digits (any case), lowercase for a valid bech32 Bitcoin address,
/// else unchanged (base58 is case-sensitive already).
pub fn canonical_any(s: &str) -> String {
    if let Some(h) = s.strip_prefix("0x") {
        if h.len() == 40 {
            if let Ok(bytes) = hex::decode(h) {
                return alloy_primitives::Address::from_slice(&bytes).to_checksum(None);
            }
        }
    }
    let lower = s.to_ascii_lowercase();
    if (s == lower || s == s.to_ascii_uppercase())
        && lower
            .parse::<Address<bitcoin::address::NetworkUnchecked>>()
            .is_ok()
        && ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p))
    {
        return lower;
    }
    s.to_owned()
}

/// The outflow of a transfer, from its intent and the transaction the
/// caller built from it ([`crate::build`]).
pub fn of_transfer(intent: &TransferIntent, unsigned: &Unsigned) -> Result<Outflow, ChainError> {
    let mut out = Outflow::default();
    match (&intent.chain, &unsigned.tx) {
        (ChainIntent::Ethereum(e), UnsignedTx::Ethereum(_)) => {
            let to = crate::address::parse_ethereum(&e.to)?;
            out.destinations.push(to.to_checksum(None));
            let fee = e
                .max_fee_per_gas
                .checked_mul(u128::from(e.gas_limit))
                .ok_or(ChainError::AmountOverflow("fee"))?;
            match &e.asset {
                Asset::Native => out.add(NATIVE, e.amount)?,
                Asset::Token { address, .. } => {
                    let token = crate::address::parse_ethereum(address)?;
                    out.add(&token.to_checksum(None), e.amount)?;
                }
            }
            out.add(NATIVE, fee)?;
        }
        (ChainIntent::Bitcoin(b), UnsignedTx::Bitcoin(tx)) => {
            out.destinations.push(canonical_bitcoin(&b.to, b.network)?);
            let inputs = tx
                .prevouts
                .iter()
                .try_fold(0u64, |s, p| s.checked_add(p.value.to_sat()));
            let outputs = tx
                .tx
                .output
                .iter()
                .try_fold(0u64, |s, o| s.checked_add(o.value.to_sat()));
            let fee = inputs
                .zip(outputs)
                .and_then(|(i, o)| i.checked_sub(o))
                .ok_or(ChainError::AmountOverflow("fee"))?;
            out.add(NATIVE, u128::from(b.amount))?;
            out.add(NATIVE, u128::from(fee))?;
        }
        (ChainIntent::Solana(s), UnsignedTx::Solana(_)) => {
            out.destinations
                .push(crate::address::parse_solana(&s.to)?.to_string());
            let mut lamports = u128::from(SOLANA_FEE_LAMPORTS);
            match &s.asset {
                Asset::Native => out.add(NATIVE, u128::from(s.amount))?,
                Asset::Token { address, .. } => {
                    let mint = crate::address::parse_solana(address)?;
                    out.add(&mint.to_string(), u128::from(s.amount))?;
                    // The idempotent create funds the recipient's account
                    // when it does not exist yet: the most it can cost.
                    lamports += u128::from(TOKEN_ACCOUNT_RENT_LAMPORTS);
                }
            }
            out.add(NATIVE, lamports)?;
        }
        _ => return Err(ChainError::Intent("the intent and its transaction differ")),
    }
    Ok(out)
}

/// The outflow of a PSBT for a wallet whose own scripts are `own`: every
/// output not paying one of them is a destination (a script without an
/// address as `script:<hex>`), and the bitcoin bucket holds their sum plus
/// the fee (inputs minus outputs).
pub fn of_psbt(
    psbt: &Psbt,
    network: BitcoinNetwork,
    own: &BTreeSet<ScriptBuf>,
) -> Result<Outflow, ChainError> {
    let mut out = Outflow::default();
    let inputs = crate::psbt::input_value(psbt)?;
    let mut outputs = 0u64;
    let mut paid = 0u64;
    for o in &psbt.unsigned_tx.output {
        let v = o.value.to_sat();
        outputs = outputs
            .checked_add(v)
            .ok_or(ChainError::AmountOverflow("outputs"))?;
        if own.contains(&o.script_pubkey) {
            continue;
        }
        paid = paid
            .checked_add(v)
            .ok_or(ChainError::AmountOverflow("outputs"))?;
        let to = match Address::from_script(&o.script_pubkey, bitcoin::Network::from(network)) {
            Ok(a) => a.to_string(),
            Err(_) => format!("script:{}", hex::encode(o.script_pubkey.as_bytes())),
        };
        if !out.destinations.contains(&to) {
            out.destinations.push(to);
        }
    }
    let fee = inputs
        .checked_sub(outputs)
        .ok_or_else(|| ChainError::Psbt("outputs exceed inputs".into()))?;
    out.add(NATIVE, u128::from(paid))?;
    out.add(NATIVE, u128::from(fee))?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn policy_addresses_are_compared_in_canonical_form() {
        let eip55 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(canonical_any(&eip55.to_lowercase()), eip55);
        assert_eq!(canonical_any(eip55), eip55);
        let bech = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        assert_eq!(canonical_any(&bech.to_uppercase()), bech);
        // Mixed case is not bech32: left as it is (and matches nothing).
        let mixed = "bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        assert_eq!(canonical_any(mixed), mixed);
        let sol = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
        assert_eq!(canonical_any(sol), sol);
    }
}
