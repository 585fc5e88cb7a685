//! Messages by chain convention: published vectors (BIP-322, the Solana
//! off-chain format, EIP-191) through the product functions, threshold
//! signatures checked by independent verifiers (alloy recovery, the
//! `bip322` crate, the Solana off-chain crate), and the one-meaning rule: a
//! message signature over a transaction's own signing bytes is never a
//! signature of that transaction.

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1};
use custos_chains::intent::{Asset, BitcoinNetwork, ChainIntent, EthereumTransfer, SolanaTransfer};
use custos_chains::message::{self, MessageFormat};
use custos_chains::{AccountKey, Payload};
use custos_tss::Scheme;
use serde_json::Value;

use crate::common::{intent, Wallet};

fn vectors() -> Value {
    let path = format!("{}/tests/vectors/messages.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn ecdsa_key(wif: &str) -> (bitcoin::secp256k1::SecretKey, AccountKey) {
    let sk = bitcoin::PrivateKey::from_wif(wif).unwrap().inner;
    let pk = sk.public_key(&Secp256k1::new());
    let key = AccountKey {
        scheme: Scheme::EcdsaSecp256k1,
        public_key: pk.serialize().to_vec(),
    };
    (sk, key)
}

#[test]
fn bip322_hashes_virtual_transactions_and_p2wpkh_signatures_match_the_bip() {
    let v = vectors();
    for c in v["bip322"]["message_hashes"].as_array().unwrap() {
        let hash = message::bip322_message_hash(s(&c["message"]).as_bytes());
        assert_eq!(hex::encode(hash), s(&c["hash"]));
    }
    let p = &v["bip322"]["p2wpkh"];
    let (sk, key) = ecdsa_key(s(&p["wif"]));
    let address = bitcoin::Address::from_str(s(&p["address"]))
        .unwrap()
        .assume_checked();
    assert_eq!(
        message::signer_address(MessageFormat::Bip322, &key, BitcoinNetwork::Mainnet).unwrap(),
        address.to_string()
    );
    for c in p["cases"].as_array().unwrap() {
        let m = s(&c["message"]).as_bytes();
        let to_spend = message::bip322_to_spend(&address.script_pubkey(), m);
        let to_sign = message::bip322_to_sign(&to_spend);
        assert_eq!(to_spend.compute_txid().to_string(), s(&c["to_spend"]));
        assert_eq!(to_sign.compute_txid().to_string(), s(&c["to_sign"]));
        // RFC 6979 over the payload this crate makes: the BIP's signature,
        // byte for byte.
        let Payload::Ecdsa(digest) = message::payload(MessageFormat::Bip322, &key, m).unwrap()
        else {
            panic!("P2WPKH signs ECDSA")
        };
        let sig = Secp256k1::new().sign_ecdsa(&Message::from_digest(digest), &sk);
        let encoded =
            message::encode(MessageFormat::Bip322, &key, m, &sig.serialize_compact()).unwrap();
        assert_eq!(encoded, s(&c["rfc6979_signature"]));
        assert!(matches!(
            bip322::verify_simple_encoded(s(&p["address"]), s(&c["message"]), &encoded),
            Ok(bip322::Verification::Valid { .. })
        ));
    }
}

#[test]
fn the_published_p2tr_signature_verifies_against_this_crates_sighash() {
    let v = vectors();
    let p = &v["bip322"]["p2tr"];
    let secp = Secp256k1::new();
    let sk = bitcoin::PrivateKey::from_wif(s(&p["wif"])).unwrap().inner;
    let keypair = bitcoin::key::Keypair::from_secret_key(&secp, &sk);
    let (internal, _) = keypair.x_only_public_key();
    let output = bitcoin::key::TapTweak::tap_tweak(internal, &secp, None).0;
    let key = AccountKey {
        scheme: Scheme::SchnorrBip340,
        public_key: output.to_x_only_public_key().serialize().to_vec(),
    };
    assert_eq!(
        message::signer_address(MessageFormat::Bip322, &key, BitcoinNetwork::Mainnet).unwrap(),
        s(&p["address"])
    );
    let m = s(&p["message"]).as_bytes();
    let Payload::Bip340(sighash) = message::payload(MessageFormat::Bip322, &key, m).unwrap() else {
        panic!("P2TR signs BIP-340")
    };
    // The BIP's witness: one 64-byte signature (SIGHASH_DEFAULT) over our sighash.
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s(&p["signature"]).trim_start_matches("smp"))
        .unwrap();
    let witness: bitcoin::Witness = bitcoin::consensus::deserialize(&raw).unwrap();
    let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(witness.nth(0).unwrap()).unwrap();
    secp.verify_schnorr(
        &sig,
        &Message::from_digest(sighash),
        &output.to_x_only_public_key(),
    )
    .unwrap();
    // Our encoding of it is what BIP-322 verifiers accept.
    let ours = message::encode(MessageFormat::Bip322, &key, m, sig.as_ref()).unwrap();
    assert_eq!(ours, s(&p["signature"]));
}

#[test]
fn solana_offchain_and_eip191_match_their_published_vectors() {
    let v = vectors();
    let ed = AccountKey {
        scheme: Scheme::Ed25519,
        public_key: vec![7; 32],
    };
    for c in v["solana_offchain"]["cases"].as_array().unwrap() {
        let p = message::payload(
            MessageFormat::SolanaOffchain,
            &ed,
            s(&c["message"]).as_bytes(),
        )
        .unwrap();
        assert_eq!(hex::encode(p.message()), s(&c["serialized"]));
    }
    let e = &v["eip191"];
    let sk =
        k256::ecdsa::SigningKey::from_slice(&hex::decode(s(&e["private_key"])).unwrap()).unwrap();
    let key = AccountKey {
        scheme: Scheme::EcdsaSecp256k1,
        public_key: sk.verifying_key().to_sec1_bytes().to_vec(),
    };
    assert_eq!(
        message::signer_address(MessageFormat::Eip191, &key, BitcoinNetwork::Mainnet).unwrap(),
        s(&e["address"])
    );
    let m = s(&e["message"]).as_bytes();
    let digest = message::payload(MessageFormat::Eip191, &key, m).unwrap();
    let (sig, _) = sk.sign_prehash_recoverable(digest.message()).unwrap();
    let encoded = message::encode(MessageFormat::Eip191, &key, m, &sig.to_bytes()).unwrap();
    assert_eq!(encoded, s(&e["signature"]));
}

/// A threshold signature of `format` message `m` at `m/0/3`, encoded.
fn threshold_message(w: &Wallet, format: MessageFormat, m: &[u8]) -> (AccountKey, Vec<u8>, String) {
    let key = w.account(3);
    let payload = message::payload(format, &key, m).unwrap();
    let sig = w.sign_at(3, std::slice::from_ref(&payload)).remove(0);
    let encoded = message::encode(format, &key, m, &sig).unwrap();
    (key, sig, encoded)
}

#[test]
fn threshold_message_signatures_verify_by_each_chains_convention() {
    let text = "Custos signs this message only";
    // EIP-191: alloy recovers the account's address.
    let w = Wallet::new(Scheme::EcdsaSecp256k1);
    let (key, _, encoded) = threshold_message(&w, MessageFormat::Eip191, text.as_bytes());
    let sig = alloy_primitives::Signature::from_str(&encoded).unwrap();
    assert_eq!(
        sig.recover_address_from_msg(text)
            .unwrap()
            .to_checksum(None),
        message::signer_address(MessageFormat::Eip191, &key, BitcoinNetwork::Mainnet).unwrap()
    );
    // BIP-322 P2WPKH and P2TR: the bip322 crate's verifier.
    for w in [&w, &Wallet::new(Scheme::SchnorrBip340)] {
        let (key, _, encoded) = threshold_message(w, MessageFormat::Bip322, text.as_bytes());
        let address =
            message::signer_address(MessageFormat::Bip322, &key, BitcoinNetwork::Mainnet).unwrap();
        assert!(matches!(
            bip322::verify_simple_encoded(&address, text, &encoded),
            Ok(bip322::Verification::Valid { .. })
        ));
        assert!(bip322::verify_simple_encoded(&address, "another text", &encoded).is_err());
    }
    // Solana off-chain: the crate the Solana CLI uses verifies it.
    let w = Wallet::new(Scheme::Ed25519);
    let (key, sig, _) = threshold_message(&w, MessageFormat::SolanaOffchain, text.as_bytes());
    let m = solana_offchain_message::OffchainMessage::new(0, text.as_bytes()).unwrap();
    let pk = solana_pubkey::Pubkey::try_from(key.public_key.as_slice()).unwrap();
    let sig = solana_signature::Signature::from(<[u8; 64]>::try_from(sig.as_slice()).unwrap());
    assert!(m.verify(&pk, &sig).unwrap());
}

/// One meaning per signature: asking a message signature of exactly the
/// bytes a transaction signs yields a signature that is not one of the
/// transaction (checked by k256, libsecp256k1 and dalek).
#[test]
fn a_message_of_a_transactions_signing_bytes_is_not_a_transaction_signature() {
    let ecdsa = Wallet::new(Scheme::EcdsaSecp256k1);
    let eth = intent(
        &ecdsa,
        3,
        ChainIntent::Ethereum(EthereumTransfer {
            chain_id: 1,
            to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
            asset: Asset::Native,
            amount: 100_000_000_000_000_000_000,
            nonce: 0,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            gas_limit: 21_000,
        }),
    );
    let unsigned = custos_chains::build(&eth, &ecdsa.account(3)).unwrap();
    let sighash = unsigned.payloads[0].message().to_vec();
    // EIP-191 of a 32-byte value is `eth_sign` of a hash: refused, also as
    // 32 bytes of text; binary is refused too.
    for m in [sighash.clone(), vec![b'a'; 32], vec![0xff, 0x00, 0x01]] {
        assert!(message::payload(MessageFormat::Eip191, &ecdsa.account(3), &m).is_err());
    }
    let as_text = hex::encode(&sighash).into_bytes();
    for (format, m) in [
        (MessageFormat::Eip191, &as_text),
        (MessageFormat::Bip322, &sighash),
        (MessageFormat::Bip322, &as_text),
    ] {
        let (key, sig, _) = threshold_message(&ecdsa, format, m);
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_key).unwrap();
        let sig = k256::ecdsa::Signature::from_slice(&sig).unwrap();
        assert!(vk.verify_prehash(&sighash, &sig).is_err(), "{format}");
        // And it does not complete the transaction.
        assert!(custos_chains::assemble(&unsigned, &[sig.to_vec()]).is_err());
    }
    let bip = Wallet::new(Scheme::SchnorrBip340);
    let digest = bitcoin::hashes::sha256::Hash::hash(b"a taproot sighash").to_byte_array();
    let (key, sig, _) = threshold_message(&bip, MessageFormat::Bip322, &digest);
    let x = bitcoin::secp256k1::XOnlyPublicKey::from_slice(&key.public_key).unwrap();
    let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(&sig).unwrap();
    assert!(Secp256k1::verification_only()
        .verify_schnorr(&sig, &Message::from_digest(digest), &x)
        .is_err());
    let ed = Wallet::new(Scheme::Ed25519);
    let sol = intent(
        &ed,
        3,
        ChainIntent::Solana(SolanaTransfer {
            to: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            asset: Asset::Native,
            amount: 1_000_000_000,
            recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into(),
        }),
    );
    let unsigned = custos_chains::build(&sol, &ed.account(3)).unwrap();
    let tx_message = unsigned.payloads[0].message().to_vec();
    // A transaction message is binary: the off-chain format refuses it.
    assert!(message::payload(MessageFormat::SolanaOffchain, &ed.account(3), &tx_message).is_err());
    // Text that happens to be printable still signs its own domain.
    let (key, sig, _) = threshold_message(&ed, MessageFormat::SolanaOffchain, b"transfer 1 SOL");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key.try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    assert!(vk.verify_strict(b"transfer 1 SOL", &sig).is_err());
    assert!(vk.verify_strict(&tx_message, &sig).is_err());
    // Every format refuses a key of another scheme.
    assert!(message::payload(MessageFormat::Eip191, &ed.account(0), b"x").is_err());
    assert!(message::payload(MessageFormat::SolanaOffchain, &ecdsa.account(0), b"x").is_err());
}
