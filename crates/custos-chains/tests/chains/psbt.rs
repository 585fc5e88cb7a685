//! A PSBT made with rust-bitcoin (as another wallet would), spending one
//! P2WPKH input of an ECDSA wallet and one P2TR input of a BIP-340 wallet:
//! each wallet signs its input, and the finalized transaction passes
//! libbitcoinconsensus.

use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use custos_chains::address::{address, AddressKind};
use custos_chains::intent::BitcoinNetwork;
use custos_chains::psbt::{apply, finish, input_value, parse, plan};
use custos_chains::ChainError;
use custos_tss::Scheme;

use crate::common::Wallet;
use crate::transfers::consensus_verify;

const NET: BitcoinNetwork = BitcoinNetwork::Regtest;

fn script_of(w: &Wallet, account: u32) -> ScriptBuf {
    let a = address(&w.account(account), AddressKind::Bitcoin(NET)).unwrap();
    bitcoin::Address::from_str(&a)
        .unwrap()
        .assume_checked()
        .script_pubkey()
}

fn fixture(ecdsa: &Wallet, schnorr: &Wallet) -> Psbt {
    let txin = |b: u8| TxIn {
        previous_output: OutPoint::new(Txid::from_str(&hex::encode([b; 32])).unwrap(), 1),
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![txin(0xa1), txin(0xb2)],
        output: vec![TxOut {
            value: Amount::from_sat(120_000),
            script_pubkey: bitcoin::Address::from_str(
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            )
            .unwrap()
            .assume_checked()
            .script_pubkey(),
        }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(TxOut {
        value: Amount::from_sat(70_000),
        script_pubkey: script_of(ecdsa, 2),
    });
    psbt.inputs[1].witness_utxo = Some(TxOut {
        value: Amount::from_sat(60_000),
        script_pubkey: script_of(schnorr, 5),
    });
    psbt
}

/// What `custos psbt sign --wallet` does for one wallet.
fn sign_with(w: &Wallet, bytes: &[u8]) -> Result<custos_chains::psbt::Signed, ChainError> {
    let mut psbt = parse(bytes)?;
    let key_at = |a: u32| Ok(w.account(a));
    let planned = plan(&psbt, NET, key_at)?;
    let sigs: Vec<Vec<u8>> = planned
        .iter()
        .map(|p| {
            w.sign_at(p.account, std::slice::from_ref(&p.payload))
                .remove(0)
        })
        .collect();
    apply(&mut psbt, NET, &planned, &sigs, key_at)?;
    finish(&psbt)
}

#[test]
fn psbt_from_another_tool_is_signed_by_two_wallets_and_finalizes() {
    let ecdsa = Wallet::new(Scheme::EcdsaSecp256k1);
    let schnorr = Wallet::new(Scheme::SchnorrBip340);
    let psbt = fixture(&ecdsa, &schnorr);
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(psbt.serialize());
    let first = sign_with(&ecdsa, text.as_bytes()).unwrap();
    assert!(first.raw_tx.is_none(), "the P2TR input is still unsigned");
    // The binary form works too, and the signed input is not signed again.
    let binary = parse(first.psbt.as_bytes()).unwrap().serialize();
    assert!(
        matches!(sign_with(&ecdsa, &binary), Err(ChainError::Psbt(m)) if m.contains("already finalized"))
    );
    let done = sign_with(&schnorr, &binary).unwrap();
    assert_eq!(done.prevouts.len(), 2);
    consensus_verify(&done.raw_tx.expect("complete"), &done.prevouts);
}

#[test]
fn a_psbt_with_more_inputs_than_the_cap_is_refused_at_parse() {
    let tx = |inputs: usize| Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..inputs)
            .map(|i| TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_str(&format!("{:064x}", i + 1)).unwrap(),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new(),
        }],
    };
    let cap = custos_chains::psbt::MAX_PSBT_IO;
    let ok = Psbt::from_unsigned_tx(tx(cap)).unwrap().serialize();
    assert!(parse(&ok).is_ok());
    let big = Psbt::from_unsigned_tx(tx(cap + 1)).unwrap().serialize();
    match parse(&big) {
        Err(ChainError::Psbt(e)) => assert!(e.contains("at most 500"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn psbt_refusals() {
    let ecdsa = Wallet::new(Scheme::EcdsaSecp256k1);
    let other = Wallet::new(Scheme::EcdsaSecp256k1);
    let schnorr = Wallet::new(Scheme::SchnorrBip340);
    let psbt = fixture(&ecdsa, &schnorr);
    let err = sign_with(&other, &psbt.serialize()).unwrap_err();
    assert_eq!(
        err,
        ChainError::Psbt("no input belongs to this wallet".into())
    );
    let mut trailing = psbt.serialize();
    trailing.push(0);
    assert_eq!(
        parse(&trailing).unwrap_err(),
        ChainError::Psbt("trailing bytes".into())
    );
    assert!(parse(b"not a psbt").is_err());
    // What policy sees: every input's value, whoever's; none without UTXOs.
    assert_eq!(input_value(&psbt).unwrap(), 130_000);
    let mut huge = psbt.clone();
    for i in &mut huge.inputs {
        i.witness_utxo.as_mut().unwrap().value = Amount::from_sat(u64::MAX / 2 + 1);
    }
    assert!(input_value(&huge).is_err());
    let mut no_utxo = psbt.clone();
    no_utxo.inputs[1].witness_utxo = None;
    assert!(input_value(&no_utxo).is_err());
    assert!(
        matches!(sign_with(&ecdsa, &no_utxo.serialize()), Err(ChainError::Psbt(m)) if m.contains("has no UTXO"))
    );
}
