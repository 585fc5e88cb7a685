//! Solana transfers of SOL and SPL tokens (the Solana crates): one legacy
//! message, fee payer and only signer the wallet account.

use std::str::FromStr;

use base64::Engine;
use custos_tss::Scheme;
use solana_hash::Hash;
use solana_message::Message;
use solana_signature::Signature;
use solana_transaction::Transaction;

use crate::address::{parse_solana, solana_address};
use crate::error::ChainError;
use crate::intent::{Asset, SolanaTransfer};
use crate::tx::{AccountKey, Built, Payload, SignedTx};

/// An unsigned Solana transaction.
#[derive(Debug, Clone)]
pub struct UnsignedSol {
    message: Message,
    public_key: Vec<u8>,
}

pub(crate) fn build(
    t: &SolanaTransfer,
    key: &AccountKey,
) -> Result<Built<UnsignedSol>, ChainError> {
    if key.scheme != Scheme::Ed25519 {
        return Err(ChainError::Key("Solana needs an Ed25519 wallet"));
    }
    let from = solana_address(&key.public_key)?;
    let to = parse_solana(&t.to)?;
    let blockhash = Hash::from_str(&t.recent_blockhash)
        .map_err(|_| ChainError::Intent("recent blockhash is not base58 of 32 bytes"))?;
    let instructions = match &t.asset {
        Asset::Native => vec![solana_system_interface::instruction::transfer(
            &from, &to, t.amount,
        )],
        Asset::Token { address, decimals } => {
            let mint = parse_solana(address)?;
            let program = spl_token_interface::id();
            let source =
                spl_associated_token_account_interface::address::get_associated_token_address(
                    &from, &mint,
                );
            let destination =
                spl_associated_token_account_interface::address::get_associated_token_address(
                    &to, &mint,
                );
            vec![
                // The recipient's token account may not exist yet; creating
                // it is a no-op when it does (the wallet pays the rent).
                spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                    &from, &to, &mint, &program,
                ),
                spl_token_interface::instruction::transfer_checked(
                    &program,
                    &source,
                    &mint,
                    &destination,
                    &from,
                    &[],
                    t.amount,
                    *decimals,
                )
                .map_err(|e| ChainError::Encoding(e.to_string()))?,
            ]
        }
    };
    let message = Message::new_with_blockhash(&instructions, Some(&from), &blockhash);
    let bytes = bincode::serialize(&message).map_err(|e| ChainError::Encoding(e.to_string()))?;
    Ok(Built {
        from: from.to_string(),
        payloads: vec![Payload::Ed25519(bytes)],
        tx: UnsignedSol {
            message,
            public_key: key.public_key.clone(),
        },
    })
}

pub(crate) fn assemble(
    u: &UnsignedSol,
    from: &str,
    signatures: &[Vec<u8>],
) -> Result<SignedTx, ChainError> {
    let sig: [u8; 64] = signatures
        .first()
        .and_then(|s| s.as_slice().try_into().ok())
        .ok_or(ChainError::Signature("Ed25519 signature is 64 bytes"))?;
    let bytes = bincode::serialize(&u.message).map_err(|e| ChainError::Encoding(e.to_string()))?;
    if !custos_tss::verify(Scheme::Ed25519, &u.public_key, &bytes, &sig) {
        return Err(ChainError::Signature("does not verify"));
    }
    let tx = Transaction {
        signatures: vec![Signature::from(sig)],
        message: u.message.clone(),
    };
    let raw = bincode::serialize(&tx).map_err(|e| ChainError::Encoding(e.to_string()))?;
    Ok(SignedTx {
        chain: "solana",
        raw_tx: base64::engine::general_purpose::STANDARD.encode(raw),
        from: from.to_owned(),
        prevouts: Vec::new(),
    })
}
