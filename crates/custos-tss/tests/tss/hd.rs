//! HD children of threshold keys match rust-bitcoin's BIP-32 `derive_pub` of
//! the wallet's xpub; BIP-340 keys additionally match rust-bitcoin's Taproot
//! output-key tweak.

use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath as BtcPath, Fingerprint, Xpub};
use bitcoin::key::TapTweak;
use bitcoin::secp256k1::{PublicKey, Secp256k1, XOnlyPublicKey};
use bitcoin::NetworkKind;
use custos_tss::{DerivationPath, KeyShare, Scheme};

use crate::common::dkg;

fn xpub(share: &KeyShare) -> Xpub {
    let (key, chain_code) = share.extended_public_key().unwrap();
    Xpub {
        network: NetworkKind::Main,
        depth: 0,
        parent_fingerprint: Fingerprint::default(),
        child_number: ChildNumber::from_normal_idx(0).unwrap(),
        public_key: PublicKey::from_slice(&key).unwrap(),
        chain_code: ChainCode::from(chain_code),
    }
}

const PATHS: [&str; 3] = ["m/0/0", "m/0/5", "m/1/2/3"];

#[test]
fn ecdsa_children_match_rust_bitcoin_xpub() {
    let shares = dkg(Scheme::EcdsaSecp256k1, 2, 3);
    let secp = Secp256k1::verification_only();
    let xpub = xpub(&shares[0]);
    for p in PATHS {
        let btc: BtcPath = p.parse().unwrap();
        let expected = xpub.derive_pub(&secp, &btc).unwrap().public_key.serialize();
        let path: DerivationPath = p.parse().unwrap();
        for share in &shares {
            assert_eq!(share.public_key(&path).unwrap(), expected.to_vec(), "{p}");
        }
    }
}

#[test]
fn bip340_children_match_xpub_and_taproot_tweak() {
    let shares = dkg(Scheme::SchnorrBip340, 2, 3);
    let secp = Secp256k1::new();
    let xpub = xpub(&shares[0]);
    for p in ["m"].into_iter().chain(PATHS) {
        let btc: BtcPath = p.parse().unwrap();
        let internal = XOnlyPublicKey::from(xpub.derive_pub(&secp, &btc).unwrap().public_key);
        let (output, _) = internal.tap_tweak(&secp, None);
        let path: DerivationPath = p.parse().unwrap();
        assert_eq!(
            shares[1].public_key(&path).unwrap(),
            output.to_x_only_public_key().serialize().to_vec(),
            "{p}"
        );
    }
}

#[test]
fn ed25519_has_no_xpub_and_hardened_paths_are_refused() {
    let shares = dkg(Scheme::Ed25519, 2, 3);
    assert!(shares[0].extended_public_key().is_err());
    assert!("m/0'".parse::<DerivationPath>().is_err());
    assert!(DerivationPath::new(vec![1 << 31]).is_err());
}

#[test]
fn watch_only_derivation_matches_the_shares() {
    for scheme in Scheme::ALL {
        let shares = dkg(scheme, 2, 3);
        let (root, chain_code) = shares[0].root_public().unwrap();
        for p in ["m"].into_iter().chain(PATHS) {
            let path: DerivationPath = p.parse().unwrap();
            let watch_only =
                custos_tss::hd::public_key_at(scheme, &root, &chain_code, &path).unwrap();
            assert_eq!(
                watch_only,
                shares[2].public_key(&path).unwrap(),
                "{scheme} {p}"
            );
        }
    }
}
