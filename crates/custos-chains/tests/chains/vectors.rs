//! Published vectors through the product functions: EIP-155, a mainnet
//! EIP-1559 transaction, BIP-143 P2WPKH, BIP-341 key-path sighashes and
//! addresses, BIP-86 addresses.

use std::str::FromStr;

use alloy_consensus::{SignableTransaction, TxEip1559, TxLegacy};
use alloy_primitives::{Address, Signature, TxKind, B256, U256};
use bitcoin::consensus::deserialize;
use bitcoin::{Amount, ScriptBuf, TapSighashType, Transaction, TxOut};
use custos_chains::address::{p2tr_internal, p2tr_output};
use custos_chains::bitcoin::{p2wpkh_sighash, taproot_key_sighash};
use custos_chains::intent::BitcoinNetwork;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn eip155_example() {
    let v = &load("published.json")["eip155"];
    let tx = TxLegacy {
        chain_id: Some(v["chain_id"].as_u64().unwrap()),
        nonce: v["nonce"].as_u64().unwrap(),
        gas_price: u128::from(v["gas_price"].as_u64().unwrap()),
        gas_limit: v["gas_limit"].as_u64().unwrap(),
        to: TxKind::Call(Address::from_str(v["to"].as_str().unwrap()).unwrap()),
        value: U256::from_str(v["value"].as_str().unwrap()).unwrap(),
        input: Default::default(),
    };
    let mut data = Vec::new();
    tx.encode_for_signing(&mut data);
    assert_eq!(data, h(&v["signing_data"]));
    assert_eq!(tx.signature_hash().to_vec(), h(&v["signing_hash"]));
    // Sign with the published key (k256, RFC 6979) and compare the signed tx.
    let key = k256::ecdsa::SigningKey::from_slice(&h(&v["private_key"])).unwrap();
    let (sig, recid) = key
        .sign_prehash_recoverable(tx.signature_hash().as_slice())
        .unwrap();
    let sig = Signature::from_signature_and_parity(sig, recid.is_y_odd());
    let signed = tx.into_signed(sig);
    let mut raw = Vec::new();
    signed.rlp_encode(&mut raw);
    assert_eq!(raw, h(&v["signed_tx"]));
}

#[test]
fn eip1559_mainnet_transaction() {
    let v = &load("published.json")["eip1559_mainnet"];
    let tx = TxEip1559 {
        chain_id: v["chain_id"].as_u64().unwrap(),
        nonce: v["nonce"].as_u64().unwrap(),
        gas_limit: v["gas_limit"].as_u64().unwrap(),
        max_fee_per_gas: u128::from(v["max_fee_per_gas"].as_u64().unwrap()),
        max_priority_fee_per_gas: u128::from(v["max_priority_fee_per_gas"].as_u64().unwrap()),
        to: TxKind::Call(Address::from_str(v["to"].as_str().unwrap()).unwrap()),
        value: U256::from_str(v["value"].as_str().unwrap()).unwrap(),
        access_list: Default::default(),
        input: h(&v["input"]).into(),
    };
    let sig = Signature::from_scalars_and_parity(
        B256::from_slice(&h(&v["r"])),
        B256::from_slice(&h(&v["s"])),
        v["y_parity"].as_bool().unwrap(),
    );
    let signer = sig
        .recover_address_from_prehash(&tx.signature_hash())
        .unwrap();
    assert_eq!(signer.to_checksum(None), v["signer"].as_str().unwrap());
    let signed = tx.into_signed(sig);
    assert_eq!(signed.hash().to_vec(), h(&v["tx_hash"]));
}

#[test]
fn bip143_native_p2wpkh() {
    let v = &load("published.json")["bip143_p2wpkh"];
    let tx: Transaction = deserialize(&h(&v["unsigned_tx"])).unwrap();
    let script = ScriptBuf::from_bytes(h(&v["script_pubkey"]));
    let got = p2wpkh_sighash(
        &tx,
        v["input_index"].as_u64().unwrap() as usize,
        &script,
        Amount::from_sat(v["amount"].as_u64().unwrap()),
    )
    .unwrap();
    assert_eq!(got.to_vec(), h(&v["sighash"]));
}

#[test]
fn bip341_key_path_sighashes_and_addresses() {
    let v = load("bip341-wallet-test-vectors.json");
    let mut default_rows = 0;
    for k in v["keyPathSpending"].as_array().unwrap() {
        let tx: Transaction = deserialize(&h(&k["given"]["rawUnsignedTx"])).unwrap();
        let prevouts: Vec<TxOut> = k["given"]["utxosSpent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| TxOut {
                value: Amount::from_sat(u["amountSats"].as_u64().unwrap()),
                script_pubkey: ScriptBuf::from_bytes(h(&u["scriptPubKey"])),
            })
            .collect();
        for input in k["inputSpending"].as_array().unwrap() {
            let index = input["given"]["txinIndex"].as_u64().unwrap() as usize;
            let ty = input["given"]["hashType"].as_u64().unwrap() as u32;
            let hash_type = TapSighashType::from_consensus_u8(ty as u8).unwrap();
            default_rows += usize::from(hash_type == TapSighashType::Default);
            let got = taproot_key_sighash(&tx, index, &prevouts, hash_type).unwrap();
            assert_eq!(
                got.to_vec(),
                h(&input["intermediary"]["sigHash"]),
                "input {index}"
            );
        }
    }
    assert!(
        default_rows >= 1,
        "the SIGHASH_DEFAULT row Custos signs with"
    );
    let mut checked = 0;
    for s in v["scriptPubKey"].as_array().unwrap() {
        if !s["given"]["scriptTree"].is_null() {
            continue; // Custos makes key-path-only outputs
        }
        let internal = h(&s["given"]["internalPubkey"]);
        let address = p2tr_internal(&internal, BitcoinNetwork::Mainnet).unwrap();
        assert_eq!(
            address.to_string(),
            s["expected"]["bip350Address"].as_str().unwrap()
        );
        assert_eq!(
            address.script_pubkey().to_bytes(),
            h(&s["expected"]["scriptPubKey"])
        );
        checked += 1;
    }
    assert_eq!(checked, 1);
}

#[test]
fn bip86_addresses() {
    let v = &load("published.json")["bip86"];
    for row in v["rows"].as_array().unwrap() {
        let from_internal =
            p2tr_internal(&h(&row["internal_key"]), BitcoinNetwork::Mainnet).unwrap();
        let from_output = p2tr_output(&h(&row["output_key"]), BitcoinNetwork::Mainnet).unwrap();
        assert_eq!(from_internal.to_string(), row["address"].as_str().unwrap());
        assert_eq!(from_output, from_internal);
    }
}

#[test]
fn bip32_master_xpubs() {
    let path = format!(
        "{}/../custos-tss/tests/vectors/bip32-test-vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for vector in v["vectors"].as_array().unwrap() {
        for chain in vector["chains"].as_array().into_iter().flatten() {
            if chain["path"] != "m" {
                continue;
            }
            let expected = chain["xpub"].as_str().unwrap();
            let parsed = bitcoin::bip32::Xpub::from_str(expected).unwrap();
            let got = custos_chains::address::xpub(
                &parsed.public_key.serialize(),
                &parsed.chain_code.to_bytes(),
                BitcoinNetwork::Mainnet,
            )
            .unwrap();
            assert_eq!(got, expected);
            checked += 1;
        }
    }
    assert!(checked >= 3);
}
