//! EIP-1559 transfers of ether and ERC-20 tokens (alloy).

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Signature, TxKind, B256, U256};
use alloy_sol_types::{sol, SolCall};
use custos_tss::Scheme;

use crate::address::{ethereum_address, parse_ethereum};
use crate::error::ChainError;
use crate::intent::{Asset, EthereumTransfer};
use crate::tx::{AccountKey, Built, Payload, SignedTx};

/// Largest total fee (`max_fee_per_gas · gas_limit`) a node signs: 1 ether.
pub const FEE_CAP_WEI: u128 = 1_000_000_000_000_000_000;
/// Gas of a plain ether transfer, the least any transaction needs.
pub const MIN_GAS: u64 = 21_000;

sol! {
    /// ERC-20 `transfer`.
    function transfer(address to, uint256 amount) returns (bool);
}

/// An unsigned EIP-1559 transaction.
#[derive(Debug, Clone)]
pub struct UnsignedEth {
    tx: TxEip1559,
    from: Address,
}

pub(crate) fn build(
    t: &EthereumTransfer,
    key: &AccountKey,
) -> Result<Built<UnsignedEth>, ChainError> {
    if key.scheme != Scheme::EcdsaSecp256k1 {
        return Err(ChainError::Key("Ethereum needs an ECDSA wallet"));
    }
    let from = ethereum_address(&key.public_key)?;
    let to = parse_ethereum(&t.to)?;
    if t.gas_limit < MIN_GAS {
        return Err(ChainError::Fee("gas limit below 21000"));
    }
    if t.max_priority_fee_per_gas > t.max_fee_per_gas {
        return Err(ChainError::Fee("priority fee above max fee"));
    }
    if t.chain_id == 0 {
        return Err(ChainError::Fee("chain id 0"));
    }
    let fee = t
        .max_fee_per_gas
        .checked_mul(u128::from(t.gas_limit))
        .ok_or(ChainError::AmountOverflow("fee"))?;
    if fee > FEE_CAP_WEI {
        return Err(ChainError::FeeTooHigh {
            fee,
            cap: FEE_CAP_WEI,
        });
    }
    let (kind, value, input) = match &t.asset {
        Asset::Native => (TxKind::Call(to), U256::from(t.amount), Default::default()),
        Asset::Token { address, .. } => {
            let contract = parse_ethereum(address)?;
            let call = transferCall {
                to,
                amount: U256::from(t.amount),
            };
            (TxKind::Call(contract), U256::ZERO, call.abi_encode().into())
        }
    };
    let tx = TxEip1559 {
        chain_id: t.chain_id,
        nonce: t.nonce,
        gas_limit: t.gas_limit,
        max_fee_per_gas: t.max_fee_per_gas,
        max_priority_fee_per_gas: t.max_priority_fee_per_gas,
        to: kind,
        value,
        access_list: Default::default(),
        input,
    };
    // EIP-1559: keccak256(0x02 || rlp([chain_id, nonce, ..., access_list])).
    let digest = tx.signature_hash();
    Ok(Built {
        from: from.to_checksum(None),
        payloads: vec![Payload::Ecdsa(digest.0)],
        tx: UnsignedEth { tx, from },
    })
}

/// The y-parity is not part of a custos-tss signature: it is the one of the
/// two under which the signature recovers to the sender.
pub(crate) fn assemble(
    u: &UnsignedEth,
    from: &str,
    signatures: &[Vec<u8>],
) -> Result<SignedTx, ChainError> {
    let sig: &[u8; 64] = signatures
        .first()
        .and_then(|s| s.as_slice().try_into().ok())
        .ok_or(ChainError::Signature("ECDSA signature is 64 bytes r||s"))?;
    let (r, s) = sig.split_at(32);
    let hash = u.tx.signature_hash();
    let signature = [false, true]
        .into_iter()
        .map(|parity| {
            Signature::from_scalars_and_parity(B256::from_slice(r), B256::from_slice(s), parity)
        })
        .find(|candidate| candidate.recover_address_from_prehash(&hash).ok() == Some(u.from))
        .ok_or(ChainError::Signature("does not recover to the sender"))?;
    let envelope = TxEnvelope::from(u.tx.clone().into_signed(signature));
    Ok(SignedTx {
        chain: "ethereum",
        raw_tx: format!("0x{}", hex::encode(envelope.encoded_2718())),
        from: from.to_owned(),
        prevouts: Vec::new(),
    })
}
