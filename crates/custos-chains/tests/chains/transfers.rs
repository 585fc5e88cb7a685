//! Threshold-signed transfers on every chain, each checked by the chain's own
//! verifier: libbitcoinconsensus (Bitcoin Core's script interpreter) for every
//! input, alloy sender recovery for Ethereum, the Solana crates' signature
//! verification for Solana.

use std::str::FromStr;

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_sol_types::SolCall;
use base64::Engine;
use custos_chains::address::{address, AddressKind};
use custos_chains::ethereum::transferCall;
use custos_chains::intent::{
    Asset, BitcoinNetwork, BitcoinTransfer, ChainIntent, EthereumTransfer, SolanaTransfer, Utxo,
};
use custos_tss::Scheme;

use crate::common::{intent, Wallet};

fn utxo(byte: u8, vout: u32, value: u64) -> Utxo {
    Utxo {
        txid: [byte; 32],
        vout,
        value,
    }
}

/// Every input of `raw` passes libbitcoinconsensus with its prevout.
pub fn consensus_verify(raw_hex: &str, prevouts: &[(Vec<u8>, u64)]) {
    let tx = hex::decode(raw_hex).unwrap();
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|(script, value)| bitcoinconsensus::Utxo {
            script_pubkey: script.as_ptr(),
            script_pubkey_len: script.len() as u32,
            value: *value as i64,
        })
        .collect();
    for (i, (script, value)) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify(script, *value, &tx, Some(&utxos), i)
            .unwrap_or_else(|e| panic!("input {i}: {e:?}"));
    }
    // And a flipped witness byte must fail, so the check above can fail.
    let mut bad = tx.clone();
    let last = bad.len() - 10;
    bad[last] ^= 1;
    assert!((0..prevouts.len()).any(|i| {
        bitcoinconsensus::verify(&prevouts[i].0, prevouts[i].1, &bad, Some(&utxos), i).is_err()
    }));
}

fn bitcoin_transfer(scheme: Scheme, to: &str) {
    let w = Wallet::new(scheme);
    let i = intent(
        &w,
        3,
        ChainIntent::Bitcoin(BitcoinTransfer {
            network: BitcoinNetwork::Regtest,
            to: to.into(),
            amount: 150_000,
            utxos: vec![utxo(0x11, 0, 100_000), utxo(0x22, 5, 90_000)],
            fee_rate: 5,
        }),
    );
    let signed = w.transfer(&i);
    let own = address(&w.account(3), AddressKind::Bitcoin(BitcoinNetwork::Regtest)).unwrap();
    assert_eq!(signed.from, own);
    assert_eq!(signed.prevouts.len(), 2);
    consensus_verify(&signed.raw_tx, &signed.prevouts);
    let tx: bitcoin::Transaction =
        bitcoin::consensus::deserialize(&hex::decode(&signed.raw_tx).unwrap()).unwrap();
    assert_eq!(tx.output.len(), 2, "payment and change");
    let to_script = bitcoin::Address::from_str(to)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    assert_eq!(tx.output[0].script_pubkey, to_script);
    assert_eq!(tx.output[0].value.to_sat(), 150_000);
    let own_script = bitcoin::Address::from_str(&own)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    assert_eq!(tx.output[1].script_pubkey, own_script, "change to self");
    let fee = 190_000 - 150_000 - tx.output[1].value.to_sat();
    assert!(
        fee >= 5 * tx.vsize() as u64 && fee <= 6 * tx.vsize() as u64,
        "fee {fee}"
    );
}

#[test]
fn bitcoin_p2wpkh_spend_passes_libbitcoinconsensus() {
    bitcoin_transfer(
        Scheme::EcdsaSecp256k1,
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    );
}

#[test]
fn bitcoin_p2tr_key_path_spend_passes_libbitcoinconsensus() {
    bitcoin_transfer(
        Scheme::SchnorrBip340,
        "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6",
    );
}

fn ethereum(asset: Asset) -> (Wallet, EthereumTransfer, custos_chains::SignedTx) {
    let w = Wallet::new(Scheme::EcdsaSecp256k1);
    let t = EthereumTransfer {
        chain_id: 11_155_111,
        to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
        asset,
        amount: 1_234_567_890_000_000,
        nonce: 7,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_500_000_000,
        gas_limit: 90_000,
    };
    let i = intent(&w, 0, ChainIntent::Ethereum(t.clone()));
    let signed = w.transfer(&i);
    (w, t, signed)
}

fn recover(raw: &str) -> (TxEnvelope, alloy_primitives::Address) {
    let bytes = hex::decode(raw.strip_prefix("0x").unwrap()).unwrap();
    let env = TxEnvelope::decode_2718(&mut bytes.as_slice()).unwrap();
    let signer = env.recover_signer().unwrap();
    (env, signer)
}

#[test]
fn ethereum_native_transfer_recovers_to_the_wallet() {
    let (w, t, signed) = ethereum(Asset::Native);
    let (env, signer) = recover(&signed.raw_tx);
    let wallet = address(&w.account(0), AddressKind::Ethereum).unwrap();
    assert_eq!(signer.to_checksum(None), wallet);
    assert_eq!(signed.from, wallet);
    assert_eq!(env.chain_id(), Some(t.chain_id));
    assert_eq!(env.value(), alloy_primitives::U256::from(t.amount));
    assert_eq!(env.to().unwrap().to_checksum(None), t.to);
}

#[test]
fn ethereum_erc20_transfer_recovers_to_the_wallet() {
    let contract = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
    let (w, t, signed) = ethereum(Asset::Token {
        address: contract.into(),
        decimals: 6,
    });
    let (env, signer) = recover(&signed.raw_tx);
    assert_eq!(
        signer.to_checksum(None),
        address(&w.account(0), AddressKind::Ethereum).unwrap()
    );
    assert_eq!(env.to().unwrap().to_checksum(None), contract);
    assert_eq!(env.value(), alloy_primitives::U256::ZERO);
    let call = transferCall::abi_decode(env.input()).unwrap();
    assert_eq!(call.to.to_checksum(None), t.to);
    assert_eq!(call.amount, alloy_primitives::U256::from(t.amount));
}

fn solana(asset: Asset) -> (Wallet, solana_transaction::Transaction) {
    let w = Wallet::new(Scheme::Ed25519);
    let i = intent(
        &w,
        1,
        ChainIntent::Solana(SolanaTransfer {
            to: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            asset,
            amount: 42_000,
            recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into(),
        }),
    );
    let signed = w.transfer(&i);
    assert_eq!(
        signed.from,
        address(&w.account(1), AddressKind::Solana).unwrap()
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&signed.raw_tx)
        .unwrap();
    let tx: solana_transaction::Transaction = bincode::deserialize(&raw).unwrap();
    tx.verify()
        .expect("signatures verify with the Solana crates");
    assert_eq!(
        tx.message.account_keys[0].to_string(),
        signed.from,
        "fee payer"
    );
    // A flipped message byte must fail verification.
    let mut bad = tx.clone();
    bad.message.recent_blockhash = solana_hash::Hash::new_from_array([7; 32]);
    assert!(bad.verify().is_err());
    (w, tx)
}

#[test]
fn solana_native_transfer_verifies_and_is_paid_by_the_wallet() {
    let (_, tx) = solana(Asset::Native);
    assert_eq!(tx.message.instructions.len(), 1);
}

#[test]
fn solana_spl_transfer_verifies_and_is_paid_by_the_wallet() {
    let (_, tx) = solana(Asset::Token {
        address: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into(),
        decimals: 6,
    });
    let programs: Vec<String> = tx
        .message
        .instructions
        .iter()
        .map(|ix| tx.message.account_keys[usize::from(ix.program_id_index)].to_string())
        .collect();
    assert_eq!(
        programs,
        [
            "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        ]
    );
}
