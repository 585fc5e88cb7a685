//! Transfers and PSBTs on every chain, checked by each chain's own software.

use super::*;

pub(crate) const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

pub(crate) const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

pub(crate) const ETH_TO: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

pub(crate) const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

pub(crate) const SOL_TO: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

pub(crate) fn eth_transfer(wallet: &str, nonce: u64, asset: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = [
        "transfer",
        "--wallet",
        wallet,
        "--chain",
        "ethereum",
        "--to",
        ETH_TO,
        "--amount",
        "1000000000000000",
        "--index",
        "2",
        "--chain-id",
        "11155111",
        "--max-fee-per-gas",
        "30000000000",
        "--max-priority-fee-per-gas",
        "1000000000",
        "--gas-limit",
        "65000",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(["--nonce".into(), nonce.to_string()]);
    a.extend([
        "--key".into(),
        format!(
            "{}/ivy.key",
            std::env::temp_dir()
                .join(format!("custos-cluster-{}", std::process::id()))
                .display()
        ),
    ]);
    if let Some(t) = asset {
        a.extend(["--asset".into(), t.into()]);
    }
    a
}

impl Cluster {
    pub(crate) fn run_strings(&mut self, args: &[String]) -> Result<Value, String> {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs)
    }

    pub(crate) fn address(&mut self, wallet: &str, chain: &str, index: u32) -> String {
        let i = index.to_string();
        let r = self
            .run(&[
                "address",
                "--wallet",
                wallet,
                "--chain",
                chain,
                "--network",
                "regtest",
                "--index",
                &i,
                "--json",
            ])
            .unwrap();
        r["address"].as_str().unwrap().to_owned()
    }
}

/// Every input passes libbitcoinconsensus with its prevout.
pub(crate) fn consensus_verify(raw_hex: &str, prevouts: &[(Vec<u8>, u64)]) {
    let tx = hex::decode(raw_hex).unwrap();
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|(s, v)| bitcoinconsensus::Utxo {
            script_pubkey: s.as_ptr(),
            script_pubkey_len: s.len() as u32,
            value: *v as i64,
        })
        .collect();
    for (i, (s, v)) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify(s, *v, &tx, Some(&utxos), i)
            .unwrap_or_else(|e| panic!("input {i}: {e:?}"));
    }
}

pub(crate) fn json_prevouts(r: &Value) -> Vec<(Vec<u8>, u64)> {
    r["prevouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                hex::decode(p[0].as_str().unwrap()).unwrap(),
                p[1].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Transfers on every chain and a PSBT, signed by the 2-of-3 cluster and
/// checked by each chain's own verifier.
pub(crate) fn chain_transfers(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_consensus::Transaction as _;
    use alloy_eips::eip2718::Decodable2718;
    let (ecdsa, bip, ed) = (
        wallets["ecdsa-secp256k1"].clone(),
        wallets["schnorr-bip340"].clone(),
        wallets["ed25519"].clone(),
    );
    // Ethereum: ether and an ERC-20 token; the sender recovered by alloy is
    // the wallet's address.
    let eth_from = c.address(&ecdsa, "ethereum", 2);
    for (nonce, asset) in [(0, None), (1, Some(USDT))] {
        let r = signed(c.run_strings(&eth_transfer(&ecdsa, nonce, asset)).unwrap());
        assert_eq!(r["chain"], "ethereum");
        assert_eq!(r["from"], eth_from.as_str());
        let raw = hex::decode(r["raw_tx"].as_str().unwrap().strip_prefix("0x").unwrap()).unwrap();
        let env = alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
        assert_eq!(env.recover_signer().unwrap().to_checksum(None), eth_from);
        assert_eq!(env.nonce(), nonce);
    }
    // The ECDSA wallet's xpub derives the same account keys watch-only.
    let shown = c.run(&["wallet", "show", &ecdsa, "--json"]).unwrap();
    let xpub: bitcoin::bip32::Xpub = shown["xpub"].as_str().unwrap().parse().unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let child = xpub
        .derive_pub(
            &secp,
            &"m/0/1".parse::<bitcoin::bip32::DerivationPath>().unwrap(),
        )
        .unwrap();
    let watch_only = bitcoin::Address::p2wpkh(
        &bitcoin::CompressedPublicKey(child.public_key),
        bitcoin::Network::Regtest,
    );
    assert_eq!(watch_only.to_string(), c.address(&ecdsa, "bitcoin", 1));
    // Bitcoin: P2WPKH (ECDSA wallet) and P2TR key path (BIP-340 wallet); every
    // input passes libbitcoinconsensus.
    for (wallet, txid) in [(&ecdsa, "aa"), (&bip, "bb")] {
        let from = c.address(wallet, "bitcoin", 1);
        let (u1, u2) = (
            format!("{}:0:100000", txid.repeat(32)),
            format!("{}:1:50000", "cd".repeat(32)),
        );
        let r = c
            .run(&[
                "transfer",
                "--wallet",
                wallet,
                "--chain",
                "bitcoin",
                "--network",
                "regtest",
                "--to",
                BTC_TO,
                "--amount",
                "120000",
                "--index",
                "1",
                "--utxo",
                &u1,
                "--utxo",
                &u2,
                "--fee-rate",
                "3",
                "--key",
                &c.key("ivy"),
                "--json",
            ])
            .unwrap();
        let r = signed(r);
        assert_eq!(r["from"], from.as_str());
        let prevouts: Vec<(Vec<u8>, u64)> = r["prevouts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    hex::decode(p[0].as_str().unwrap()).unwrap(),
                    p[1].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(prevouts.len(), 2);
        consensus_verify(r["raw_tx"].as_str().unwrap(), &prevouts);
    }
    // Solana: SOL and an SPL token; signatures verify with the Solana crates
    // and the wallet pays the fee.
    let sol_from = c.address(&ed, "solana", 0);
    for asset in [None, Some(USDC)] {
        let mut args = vec![
            "transfer",
            "--wallet",
            &ed,
            "--chain",
            "solana",
            "--to",
            SOL_TO,
            "--amount",
            "5000",
            "--recent-blockhash",
            "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            "--json",
        ];
        let key = c.key("ivy");
        args.extend(["--key", &key]);
        if let Some(a) = asset {
            args.extend(["--asset", a]);
        }
        let r = signed(c.run(&args).unwrap());
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["raw_tx"].as_str().unwrap())
            .unwrap();
        let tx: solana_transaction::Transaction = bincode::deserialize(&raw).unwrap();
        tx.verify().unwrap();
        assert_eq!(tx.message.account_keys[0].to_string(), sol_from);
    }
    // Bad input: a typed error, nothing signed.
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &ed,
            "--chain",
            "solana",
            "--to",
            SOL_TO,
            "--amount",
            "5",
            "--recent-blockhash",
            "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            "--asset",
            "So11111111111111111111111111111111111111112",
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("unknown token"), "{err}");
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &ecdsa,
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--to",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "--amount",
            "1000",
            "--utxo",
            &format!("{}:0:5000", "ee".repeat(32)),
            "--fee-rate",
            "2",
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("another network"), "{err}");

    // A PSBT made with rust-bitcoin, spending one P2WPKH input of the ECDSA
    // wallet and one P2TR input of the BIP-340 wallet: each wallet signs its
    // input; the result finalizes and passes libbitcoinconsensus.
    use std::str::FromStr;
    let script = |a: &str| {
        bitcoin::Address::from_str(a)
            .unwrap()
            .assume_checked()
            .script_pubkey()
    };
    let (p2wpkh, p2tr) = (
        c.address(&ecdsa, "bitcoin", 4),
        c.address(&bip, "bitcoin", 4),
    );
    let txin = |b: u8| bitcoin::TxIn {
        previous_output: bitcoin::OutPoint::new(
            bitcoin::Txid::from_str(&hex::encode([b; 32])).unwrap(),
            0,
        ),
        sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
        ..Default::default()
    };
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![txin(0x51), txin(0x52)],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(90_000),
            script_pubkey: script(BTC_TO),
        }],
    };
    let mut psbt = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(60_000),
        script_pubkey: script(&p2wpkh),
    });
    psbt.inputs[1].witness_utxo = Some(bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(40_000),
        script_pubkey: script(&p2tr),
    });
    let file = c.data.join("fixture.psbt");
    std::fs::write(&file, psbt.serialize()).unwrap();
    let f = file.to_str().unwrap().to_owned();
    let r = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &ecdsa,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap();
    assert!(
        r["raw_tx"].is_null(),
        "the P2TR input is not signed yet: {r}"
    );
    std::fs::write(&file, r["psbt"].as_str().unwrap()).unwrap();
    let err = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &ecdsa,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("already finalized"), "{err}");
    let r = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &bip,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap();
    consensus_verify(r["raw_tx"].as_str().unwrap(), &json_prevouts(&r));
}
