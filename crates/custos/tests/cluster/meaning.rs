//! One meaning per signature (DESIGN "What each signature means"), with
//! the real processes: a single initiator who tries to spend through message
//! signing on every chain gets, at every path form and encoding the CLI
//! offers, a signature that independent verifiers reject for the
//! transaction (k256, libsecp256k1, dalek, the chains' transaction types)
//! and accept as the message it is; blind signing exists only on a wallet
//! created for it; policy counts every request of an asset in one bucket,
//! the maximum fee included; and an outpoint is never signed for under two
//! values.

use custos_chains::intent::{
    BitcoinNetwork, BitcoinTransfer, ChainIntent, EthereumTransfer, SolanaTransfer, Utxo,
    INTENT_VERSION,
};
use custos_chains::{AccountKey, Asset, TransferIntent, Unsigned};
use custos_tss::DerivationPath;

use super::*;

/// A wallet's public key material as the server shows it.
struct Shown {
    scheme: Scheme,
    key_id: String,
    root: Vec<u8>,
    chain_code: [u8; 32],
}

impl Shown {
    fn of(c: &mut Cluster, wallet: &str) -> Self {
        let w = c.run(&["wallet", "show", wallet, "--json"]).unwrap();
        Shown {
            scheme: w["scheme"].as_str().unwrap().parse().unwrap(),
            key_id: w["key_id"].as_str().unwrap().to_owned(),
            root: hex::decode(w["root_key"].as_str().unwrap()).unwrap(),
            chain_code: hex::decode(w["chain_code"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        }
    }

    fn key(&self, path: &str) -> AccountKey {
        let p: DerivationPath = path.parse().unwrap();
        AccountKey {
            scheme: self.scheme,
            public_key: custos_tss::hd::public_key_at(
                self.scheme,
                &self.root,
                &self.chain_code,
                &p,
            )
            .unwrap(),
        }
    }

    /// The transaction `chain` of account 0 would be, built as the nodes
    /// build it.
    fn transaction(&self, wallet: &str, chain: ChainIntent) -> Unsigned {
        let intent = TransferIntent {
            version: INTENT_VERSION,
            request_id: [0x77; 16],
            wallet: wallet.into(),
            key_id: self.key_id.clone(),
            account: 0,
            chain,
        };
        custos_chains::build(&intent, &self.key("m/0/0")).unwrap()
    }
}

fn eth_100() -> ChainIntent {
    ChainIntent::Ethereum(EthereumTransfer {
        chain_id: 1,
        to: ETH_TO.into(),
        asset: Asset::Native,
        amount: 100_000_000_000_000_000_000,
        nonce: 0,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        gas_limit: 21_000,
    })
}

fn btc_spend() -> ChainIntent {
    ChainIntent::Bitcoin(BitcoinTransfer {
        network: BitcoinNetwork::Regtest,
        to: BTC_TO.into(),
        amount: 90_000,
        utxos: vec![Utxo {
            txid: [0x99; 32],
            vout: 0,
            value: 100_000,
        }],
        fee_rate: 2,
    })
}

/// ivy asks a message signature of `message` (hex, or as text) at `path`.
fn sign_message(
    c: &mut Cluster,
    wallet: &str,
    format: &str,
    path: &str,
    message: &[u8],
    as_text: bool,
) -> Result<Value, String> {
    let key = c.key("ivy");
    let hex_message = hex::encode(message);
    let text = String::from_utf8(message.to_vec()).unwrap_or_default();
    let mut args = vec![
        "sign", "--wallet", wallet, "--format", format, "--path", path,
    ];
    if as_text {
        args.extend(["--message", &text]);
    } else {
        args.extend(["--message-hex", &hex_message]);
    }
    args.extend(["--json", "--key", &key]);
    c.run(&args)
}

fn raw_sig(r: &Value) -> Vec<u8> {
    hex::decode(r["signature"].as_str().unwrap()).unwrap()
}

pub(crate) fn one_meaning_per_signature(
    c: &mut Cluster,
    wallets: &BTreeMap<&str, String>,
    second: &str,
) {
    messages_never_sign_transactions(c, wallets);
    blind_signing_only_on_a_blind_wallet(c, wallets);
    one_bucket_per_asset_and_one_value_per_outpoint(c, second);
}

/// The README's attack, on every chain: the initiator alone (messages need
/// no approval here) asks a message signature of the transaction's own
/// signing bytes.
fn messages_never_sign_transactions(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    // Ethereum and Bitcoin P2WPKH: the ECDSA wallet; both conventions, root
    // and account paths, hex and text.
    let ecdsa = wallets["ecdsa-secp256k1"].clone();
    let shown = Shown::of(c, &ecdsa);
    let account = shown.key("m/0/0");
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&account.public_key).unwrap();
    let pk = bitcoin::secp256k1::PublicKey::from_slice(&account.public_key).unwrap();
    for tx in [
        shown.transaction(&ecdsa, eth_100()),
        shown.transaction(&ecdsa, btc_spend()),
    ] {
        let sighash = tx.payloads[0].message().to_vec();
        let hex_text = hex::encode(&sighash).into_bytes();
        // EIP-191 of the 32 raw bytes would be `eth_sign` of a hash (which
        // Safe owners and meta-transaction contracts accept): refused, at
        // every path.
        for path in ["m/0/0", "m"] {
            let err = sign_message(c, &ecdsa, "eip191", path, &sighash, false).unwrap_err();
            assert!(err.contains("not of exactly 32 bytes"), "{err}");
        }
        for (format, path, message, as_text) in [
            ("eip191", "m/0/0", &hex_text, true),
            ("eip191", "m", &hex_text, false),
            ("bip322", "m/0/0", &sighash, false),
            ("bip322", "m/7/0/0", &hex_text, true),
        ] {
            let r = sign_message(c, &ecdsa, format, path, message, as_text).unwrap();
            // A valid message signature, by the chain's convention...
            check_message(&r, "ecdsa-secp256k1", message);
            // ...that is no signature of the transaction (k256 and
            // libsecp256k1), and does not complete it.
            let sig = k256::ecdsa::Signature::from_slice(&raw_sig(&r)).unwrap();
            assert!(
                vk.verify_prehash(&sighash, &sig).is_err(),
                "{format} {path}"
            );
            let digest =
                bitcoin::secp256k1::Message::from_digest(sighash.clone().try_into().unwrap());
            let ls = bitcoin::secp256k1::ecdsa::Signature::from_compact(&raw_sig(&r)).unwrap();
            assert!(secp.verify_ecdsa(&digest, &ls, &pk).is_err());
            assert!(custos_chains::assemble(&tx, &[raw_sig(&r)]).is_err());
        }
    }
    // Bitcoin P2TR: the BIP-340 wallet's key-path sighash.
    let bip = wallets["schnorr-bip340"].clone();
    let shown = Shown::of(c, &bip);
    let tx = shown.transaction(&bip, btc_spend());
    let sighash = tx.payloads[0].message().to_vec();
    let x = bitcoin::secp256k1::XOnlyPublicKey::from_slice(&shown.key("m/0/0").public_key).unwrap();
    for path in ["m/0/0", "m"] {
        let r = sign_message(c, &bip, "bip322", path, &sighash, false).unwrap();
        check_message(&r, "schnorr-bip340", &sighash);
        let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(&raw_sig(&r)).unwrap();
        let digest = bitcoin::secp256k1::Message::from_digest(sighash.clone().try_into().unwrap());
        assert!(secp.verify_schnorr(&sig, &digest, &x).is_err());
        assert!(custos_chains::assemble(&tx, &[raw_sig(&r)]).is_err());
    }
    // Solana: a transaction message is binary, which the off-chain format
    // refuses; as text it signs its own domain (dalek rejects it for the
    // transaction).
    let ed = wallets["ed25519"].clone();
    let shown = Shown::of(c, &ed);
    let tx = shown.transaction(
        &ed,
        ChainIntent::Solana(SolanaTransfer {
            to: SOL_TO.into(),
            asset: Asset::Native,
            amount: 1_000_000_000_000,
            recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into(),
        }),
    );
    let tx_message = tx.payloads[0].message().to_vec();
    let err = sign_message(c, &ed, "solana-offchain", "m/0/0", &tx_message, false).unwrap_err();
    assert!(err.contains("off-chain message"), "{err}");
    let vk =
        ed25519_dalek::VerifyingKey::from_bytes(&shown.key("m/0/0").public_key.try_into().unwrap())
            .unwrap();
    let text = hex::encode(&tx_message).into_bytes();
    for path in ["m/0/0", "m"] {
        let r = sign_message(c, &ed, "solana-offchain", path, &text, true).unwrap();
        check_message(&r, "ed25519", &text);
        let sig = ed25519_dalek::Signature::from_slice(&raw_sig(&r)).unwrap();
        assert!(vk.verify_strict(&tx_message, &sig).is_err());
        assert!(custos_chains::assemble(&tx, &[raw_sig(&r)]).is_err());
    }
    // No other mode exists: the old node-side hashing and bare digests are
    // gone from ordinary wallets; a path is written canonically; a format of
    // another chain's key is refused.
    let err = sign_message(c, &ecdsa, "bip322", "m/0/00", b"hello", true).unwrap_err();
    assert!(err.contains("not written canonically"), "{err}");
    let key = c.key("ivy");
    let digest = hex::encode([0x11u8; 32]);
    let (ok, _, err) = custos(
        &c.data,
        &[
            "sign",
            "--wallet",
            &ecdsa,
            "--message-hex",
            &digest,
            "--hash",
            "sha256",
            "--key",
            &key,
        ],
    );
    assert!(!ok && err.contains("--hash"), "{err}");
    let err = sign_message(c, &ed, "eip191", "m", b"x", true).unwrap_err();
    assert!(err.contains("not signed with ed25519 keys"), "{err}");
}

/// Blind (bare-digest) signing: refused with a typed reason on an ordinary
/// wallet; a blind wallet exists only under an id an admin quorum allowed,
/// has no deposit address, and signs a digest only under a rule that names
/// blind requests (here: one approval) — never the initiator alone.
fn blind_signing_only_on_a_blind_wallet(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    let ecdsa = wallets["ecdsa-secp256k1"].clone();
    let key = c.key("ivy");
    let sighash = {
        let shown = Shown::of(c, &ecdsa);
        shown.transaction(&ecdsa, eth_100()).payloads[0]
            .message()
            .to_vec()
    };
    let hex_sighash = hex::encode(&sighash);
    let blind = |c: &mut Cluster, wallet: &str, digest: &str, path: &str| {
        let key = c.key("ivy");
        c.run(&[
            "sign", "--wallet", wallet, "--digest", digest, "--path", path, "--json", "--key", &key,
        ])
    };
    let err = blind(c, &ecdsa, &hex_sighash, "m/0/0").unwrap_err();
    assert!(err.contains("is not a blind wallet"), "{err}");
    // Not before governance allows it.
    let err = c
        .run(&[
            "wallet",
            "create",
            "--scheme",
            "ecdsa-secp256k1",
            "--blind",
            "vault-blind",
            "--json",
        ])
        .unwrap_err();
    assert!(err.contains("allows no blind wallet"), "{err}");
    let (ok, out, err) = custos(
        &c.data,
        &[
            "governance",
            "propose",
            "--allow-blind-wallet",
            "vault-blind",
        ],
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    let w = c
        .run(&[
            "wallet",
            "create",
            "--scheme",
            "ecdsa-secp256k1",
            "--blind",
            "vault-blind",
            "--json",
        ])
        .unwrap();
    assert_eq!(
        (w["id"].as_str(), w["blind"].as_bool()),
        (Some("vault-blind"), Some(true))
    );
    assert!(w["xpub"].is_null(), "{w}");
    // Once only.
    let err = c
        .run(&[
            "wallet",
            "create",
            "--scheme",
            "ed25519",
            "--blind",
            "vault-blind",
        ])
        .unwrap_err();
    assert!(err.contains("exists already"), "{err}");
    // Never offered for deposits, never a transfer or a message.
    let err = c
        .run(&[
            "address",
            "--wallet",
            "vault-blind",
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
        ])
        .unwrap_err();
    assert!(err.contains("blind wallet"), "{err}");
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            "vault-blind",
            "--chain",
            "ethereum",
            "--to",
            ETH_TO,
            "--amount",
            "1",
            "--chain-id",
            "1",
            "--nonce",
            "0",
            "--max-fee-per-gas",
            "1",
            "--max-priority-fee-per-gas",
            "1",
            "--gas-limit",
            "21000",
            "--key",
            &key,
        ])
        .unwrap_err();
    assert!(err.contains("blind wallet"), "{err}");
    let err = sign_message(c, "vault-blind", "eip191", "m", b"hello", true).unwrap_err();
    assert!(err.contains("blind digests only"), "{err}");
    // The attack: the sighash of a spend from one of the blind wallet's own
    // child addresses (funded by someone who derived it from the root key).
    // The catch-all "initiators" rule does not match a blind request; the
    // rule that names blind requests wants an approval: nothing is signed.
    let shown = Shown::of(c, "vault-blind");
    let tx = shown.transaction("vault-blind", btc_spend());
    let child_sighash = hex::encode(tx.payloads[0].message());
    let r = blind(c, "vault-blind", &child_sighash, "m/0/0").unwrap();
    assert_eq!(r["state"], "pending", "{r}");
    assert!(r["signed"].is_null(), "{r}");
    assert_eq!(r["decision"], "approve 1", "{r}");
    // What approvers see: the digest, its path, the wallet.
    assert_eq!(r["record"]["kind"], "blind", "{r}");
    assert_eq!(r["record"]["digest"], child_sighash.as_str(), "{r}");
    assert_eq!(r["record"]["path"], "m/0/0", "{r}");
    assert_eq!(r["record"]["wallet"], "vault-blind", "{r}");
    let pending = r["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = custos(
        &c.data,
        &[
            "reject",
            &pending,
            "--reason",
            "unknown digest",
            "--key",
            &c.key("ann"),
        ],
    );
    assert!(ok, "{err}");
    // Approved, a blind digest is signed in full at the path; the nodes'
    // journals show the blind request (there is no presignature path).
    let digest = hex::encode(sha2_256(b"an approved blind digest"));
    let r = blind(c, "vault-blind", &digest, "m/0/3").unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    approve(c, &id, "ann").unwrap();
    let r = c.run(&["requests", "show", &id]).unwrap();
    assert_eq!(r["state"], "signed", "{r}");
    let s = &r["signed"];
    assert_eq!(s["message"].as_str(), Some(digest.as_str()));
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&shown.key("m/0/3").public_key).unwrap();
    let sig =
        k256::ecdsa::Signature::from_slice(&hex::decode(s["signature"].as_str().unwrap()).unwrap())
            .unwrap();
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(&hex::decode(&digest).unwrap(), &sig)
        .unwrap();
    for i in [0, 1, 2] {
        let journal = c.journal(i);
        let Some(last) = journal.iter().rev().find(|e| e["kind"] == "sign") else {
            continue;
        };
        let detail: Value = serde_json::from_str(last["detail"].as_str().unwrap()).unwrap();
        if detail["request_id"] == id.as_str() {
            assert_eq!(
                detail["request"]["blind"]["digest"],
                digest.as_str(),
                "{last}"
            );
        }
    }
}

/// A PSBT with one wallet input (`txid:0` worth `value`) paying `paid` to
/// `to`, change (less a 1000-sat fee) back to the wallet's `own` address.
fn psbt_file(
    c: &mut Cluster,
    name: &str,
    txid: u8,
    value: u64,
    to: &str,
    paid: u64,
    own: &str,
) -> String {
    use std::str::FromStr;
    let script = |a: &str| {
        bitcoin::Address::from_str(a)
            .unwrap()
            .assume_checked()
            .script_pubkey()
    };
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint::new(
                bitcoin::Txid::from_str(&hex::encode([txid; 32])).unwrap(),
                0,
            ),
            ..Default::default()
        }],
        output: vec![
            bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(paid),
                script_pubkey: script(to),
            },
            bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(value - paid - 1000),
                script_pubkey: script(own),
            },
        ],
    };
    let mut psbt = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(value),
        script_pubkey: script(own),
    });
    let file = c.data.join(name);
    std::fs::write(&file, psbt.serialize()).unwrap();
    file.display().to_string()
}

/// Policy for `second`: bitcoin only to the vault, 150 000 sat an hour in
/// one bucket for transfers and PSBTs alike; ether up to 0.001 a request,
/// the maximum fee included; nothing else.
fn second_policy(second: &str) -> String {
    let rules: Value = serde_json::from_str(POLICY).unwrap();
    let mut list = vec![
        serde_json::json!({"name": "second: bitcoin to the vault", "wallets": [second], "chains": ["bitcoin-regtest"],
            "destination": {"addresses": [BTC_TO.to_uppercase()]},
            "velocity": {"scope": "wallet", "window_secs": 3600, "max_sum": "150000"},
            "action": {"type": "allow"}}),
        serde_json::json!({"name": "second: small ether", "wallets": [second], "chains": ["ethereum"],
            "assets": ["native"], "max_amount": "1000000000000000", "action": {"type": "allow"}}),
        serde_json::json!({"name": "second: nothing else", "wallets": [second], "action": {"type": "block"}}),
    ];
    list.extend(rules["rules"].as_array().unwrap().iter().cloned());
    serde_json::json!({ "rules": list }).to_string()
}

fn psbt_sign(c: &mut Cluster, wallet: &str, file: &str) -> Result<Value, String> {
    let key = c.key("ivy");
    c.run(&[
        "psbt",
        "sign",
        "--wallet",
        wallet,
        "--network",
        "regtest",
        file,
        "--json",
        "--key",
        &key,
    ])
}

fn btc_transfer(c: &mut Cluster, wallet: &str, amount: &str, utxo: &str) -> Result<Value, String> {
    let key = c.key("ivy");
    c.run(&[
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
        amount,
        "--utxo",
        utxo,
        "--fee-rate",
        "2",
        "--key",
        &key,
        "--json",
    ])
}

fn eth_small(c: &mut Cluster, wallet: &str, nonce: &str, max_fee: &str) -> Result<Value, String> {
    let key = c.key("ivy");
    c.run(&[
        "transfer",
        "--wallet",
        wallet,
        "--chain",
        "ethereum",
        "--to",
        ETH_TO,
        "--amount",
        "900000000000000",
        "--chain-id",
        "1",
        "--nonce",
        nonce,
        "--max-fee-per-gas",
        max_fee,
        "--max-priority-fee-per-gas",
        "1000000000",
        "--gas-limit",
        "21000",
        "--key",
        &key,
        "--json",
    ])
}

fn refused_by_policy(r: Result<Value, String>, what: &str) {
    match r {
        Ok(v) => {
            assert_eq!(v["state"], "rejected", "{what}: {v}");
            assert!(
                v["error"].as_str().unwrap().contains("blocks"),
                "{what}: {v}"
            );
        }
        Err(e) => assert!(e.contains("blocks"), "{what}: {e}"),
    }
}

fn one_bucket_per_asset_and_one_value_per_outpoint(c: &mut Cluster, second: &str) {
    let file = c.data.join("second-policy.json");
    std::fs::write(&file, second_policy(second)).unwrap();
    let (ok, out, err) = custos(
        &c.data,
        &["governance", "propose", "--policy", file.to_str().unwrap()],
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    let own = c.address(second, "bitcoin", 0);
    let other = custos_chains::address::p2wpkh(
        &hex::decode("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5").unwrap(),
        BitcoinNetwork::Regtest,
    )
    .unwrap()
    .to_string();
    // A PSBT paying the vault 90 000 (+ 1000 fee) from 0x61..:0 = 200 000.
    let f = psbt_file(c, "p1.psbt", 0x61, 200_000, BTC_TO, 90_000, &own);
    let r = psbt_sign(c, second, &f).unwrap();
    assert!(r["raw_tx"].as_str().is_some(), "{r}");
    consensus_verify(r["raw_tx"].as_str().unwrap(), &json_prevouts(&r));
    // The same outpoint stated at 150 000: the policy allows it (11 000 more
    // in the bucket), every node refuses it from the history it witnessed
    // (and, behind that, from the values it recorded when it signed).
    let f = psbt_file(c, "p2.psbt", 0x61, 150_000, BTC_TO, 10_000, &own);
    let err = psbt_sign(c, second, &f).unwrap_err();
    assert!(
        err.contains("was stated at 200000 sats by an earlier request; this one states 150000"),
        "{err}"
    );
    // A transfer after the PSBTs: 102 000 + 60 000 + fee exceeds the one
    // bitcoin bucket's 150 000.
    let utxo = format!("{}:0:100000", "62".repeat(32));
    refused_by_policy(btc_transfer(c, second, "60000", &utxo), "velocity");
    // A PSBT paying a destination no rule allows.
    let f3 = psbt_file(c, "p3.psbt", 0x63, 50_000, &other, 10_000, &own);
    refused_by_policy(psbt_sign(c, second, &f3), "destination");
    // The fee counts: 0.0009 ether with a 0.00021 fee cap exceeds 0.001;
    // with a 0.000021 cap it does not.
    refused_by_policy(eth_small(c, second, "0", "10000000000"), "fee");
    let r = eth_small(c, second, "0", "1000000000").unwrap();
    assert!(
        r["signed"]["raw_tx"].as_str().unwrap().starts_with("0x02"),
        "{r}"
    );
    // A lying server that dispatches the refused requests anyway: every
    // node reaches the same decision from its own ledger.
    c.restart_server(Some("CUSTOS_AUTH_FAULT=accept"));
    let err = btc_transfer(c, second, "60000", &utxo).unwrap_err();
    assert!(
        err.contains("policy: a policy rule blocks this request"),
        "{err}"
    );
    let err = psbt_sign(c, second, &f3).unwrap_err();
    assert!(
        err.contains("policy: a policy rule blocks this request"),
        "{err}"
    );
    let err = eth_small(c, second, "1", "10000000000").unwrap_err();
    assert!(
        err.contains("policy: a policy rule blocks this request"),
        "{err}"
    );
    c.restart_server(None);
}
