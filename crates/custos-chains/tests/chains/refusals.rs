//! Bad input gets a typed error and nothing to sign.

use custos_chains::intent::{
    check_token, Asset, BitcoinNetwork, BitcoinTransfer, ChainIntent, EthereumTransfer, KnownToken,
    SolanaTransfer, TransferIntent, Utxo,
};
use custos_chains::{build, AccountKey, ChainError};
use custos_tss::Scheme;
use proptest::prelude::*;

fn secp_key() -> AccountKey {
    // Any valid compressed point will do: the generator.
    AccountKey {
        scheme: Scheme::EcdsaSecp256k1,
        public_key: hex::decode(
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        )
        .unwrap(),
    }
}

fn eth(to: &str, amount: u128) -> EthereumTransfer {
    EthereumTransfer {
        chain_id: 1,
        to: to.into(),
        asset: Asset::Native,
        amount,
        nonce: 0,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        gas_limit: 21_000,
    }
}

fn btc(to: &str, amount: u64, utxos: Vec<u64>, fee_rate: u64) -> BitcoinTransfer {
    BitcoinTransfer {
        network: BitcoinNetwork::Regtest,
        to: to.into(),
        amount,
        utxos: utxos
            .into_iter()
            .enumerate()
            .map(|(i, value)| Utxo {
                txid: [i as u8 + 1; 32],
                vout: 0,
                value,
            })
            .collect(),
        fee_rate,
    }
}

fn intent(chain: ChainIntent) -> TransferIntent {
    TransferIntent {
        version: 1,
        request_id: [1; 16],
        wallet: "w".into(),
        key_id: "ab".repeat(32),
        account: 0,
        chain,
    }
}

fn refused(chain: ChainIntent, key: &AccountKey) -> ChainError {
    build(&intent(chain), key).unwrap_err()
}

const GOOD_ETH: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const REGTEST: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

#[test]
fn ethereum_refusals() {
    let k = secp_key();
    let e = refused(
        ChainIntent::Ethereum(eth("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 1)),
        &k,
    );
    assert!(matches!(e, ChainError::Checksum(_)), "{e}");
    let e = refused(
        ChainIntent::Ethereum(eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 1)),
        &k,
    );
    assert!(matches!(e, ChainError::Checksum(_)), "{e}");
    let e = refused(
        ChainIntent::Ethereum(eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", 1)),
        &k,
    );
    assert!(matches!(e, ChainError::Address(_)), "{e}");
    let e = refused(ChainIntent::Ethereum(eth(GOOD_ETH, 0)), &k);
    assert_eq!(e, ChainError::ZeroAmount);
    let mut t = eth(GOOD_ETH, 1);
    t.gas_limit = 10_000_000;
    t.max_fee_per_gas = 1_000_000_000_000;
    let e = refused(ChainIntent::Ethereum(t), &k);
    assert!(matches!(e, ChainError::FeeTooHigh { .. }), "{e}");
    let mut t = eth(GOOD_ETH, 1);
    t.max_fee_per_gas = u128::MAX;
    let e = refused(ChainIntent::Ethereum(t), &k);
    assert!(matches!(e, ChainError::AmountOverflow(_)), "{e}");
    let mut t = eth(GOOD_ETH, 1);
    t.max_priority_fee_per_gas = t.max_fee_per_gas + 1;
    assert!(matches!(
        refused(ChainIntent::Ethereum(t), &k),
        ChainError::Fee(_)
    ));
    let ed = AccountKey {
        scheme: Scheme::Ed25519,
        public_key: vec![1; 32],
    };
    assert!(matches!(
        refused(ChainIntent::Ethereum(eth(GOOD_ETH, 1)), &ed),
        ChainError::Key(_)
    ));
}

#[test]
fn bitcoin_refusals() {
    let k = secp_key();
    let e = refused(
        ChainIntent::Bitcoin(btc(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            10_000,
            vec![50_000],
            2,
        )),
        &k,
    );
    assert!(matches!(e, ChainError::WrongNetwork(_)), "{e}");
    let e = refused(
        ChainIntent::Bitcoin(btc("bcrt1qnotanaddress", 10_000, vec![50_000], 2)),
        &k,
    );
    assert!(matches!(e, ChainError::Address(_)), "{e}");
    let e = refused(
        ChainIntent::Bitcoin(btc(REGTEST, 100_000, vec![50_000, 40_000], 2)),
        &k,
    );
    assert!(
        matches!(
            e,
            ChainError::InsufficientFunds {
                available: 90_000,
                ..
            }
        ),
        "{e}"
    );
    // Change of a few hundred sat: below dust, refused rather than burnt.
    let e = refused(
        ChainIntent::Bitcoin(btc(REGTEST, 49_500, vec![50_000], 2)),
        &k,
    );
    assert!(matches!(e, ChainError::Dust { what: "change", .. }), "{e}");
    let e = refused(ChainIntent::Bitcoin(btc(REGTEST, 100, vec![50_000], 2)), &k);
    assert!(
        matches!(
            e,
            ChainError::Dust {
                what: "payment",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(
        ChainIntent::Bitcoin(btc(REGTEST, 10_000, vec![50_000], 5_000)),
        &k,
    );
    assert!(matches!(e, ChainError::Fee(_)), "{e}");
    let many = vec![2_000_000; 200];
    let e = refused(ChainIntent::Bitcoin(btc(REGTEST, 10_000, many, 1_500)), &k);
    assert!(matches!(e, ChainError::FeeTooHigh { .. }), "{e}");
    let e = refused(
        ChainIntent::Bitcoin(btc(REGTEST, 10_000, vec![u64::MAX / 2, u64::MAX / 2], 2)),
        &k,
    );
    assert!(matches!(e, ChainError::AmountOverflow(_)), "{e}");
    let e = refused(ChainIntent::Bitcoin(btc(REGTEST, 0, vec![50_000], 2)), &k);
    assert_eq!(e, ChainError::ZeroAmount);
    let mut dup = btc(REGTEST, 10_000, vec![50_000, 50_000], 2);
    dup.utxos[1] = dup.utxos[0];
    assert!(matches!(
        refused(ChainIntent::Bitcoin(dup), &k),
        ChainError::Intent(_)
    ));
    // Exact spend (no change) is fine.
    let fee = build(
        &intent(ChainIntent::Bitcoin(btc(REGTEST, 10_000, vec![200_000], 1))),
        &k,
    )
    .unwrap();
    assert_eq!(fee.payloads.len(), 1);
}

#[test]
fn solana_refusals_and_unknown_tokens() {
    let key = AccountKey {
        scheme: Scheme::Ed25519,
        public_key: vec![3; 32],
    };
    let sol = |to: &str, blockhash: &str| {
        ChainIntent::Solana(SolanaTransfer {
            to: to.into(),
            asset: Asset::Native,
            amount: 5,
            recent_blockhash: blockhash.into(),
        })
    };
    let hash = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N";
    assert!(matches!(
        refused(sol("not-base58-0OIl", hash), &key),
        ChainError::Address(_)
    ));
    assert!(matches!(
        refused(sol("3yZe7d", hash), &key),
        ChainError::Address(_)
    ));
    assert!(matches!(
        refused(
            sol("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", "xyz"),
            &key
        ),
        ChainError::Intent(_)
    ));
    let usdc = KnownToken {
        chain: "solana".into(),
        address: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into(),
        symbol: "USDC".into(),
        decimals: 6,
    };
    let token = |address: &str, decimals| {
        intent(ChainIntent::Solana(SolanaTransfer {
            to: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            asset: Asset::Token {
                address: address.into(),
                decimals,
            },
            amount: 5,
            recent_blockhash: hash.into(),
        }))
    };
    let known = [usdc];
    assert!(check_token(
        &token("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
        &known
    )
    .is_ok());
    assert!(matches!(
        check_token(
            &token("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 9),
            &known
        ),
        Err(ChainError::UnknownToken(_))
    ));
    assert!(matches!(
        check_token(
            &token("So11111111111111111111111111111111111111112", 9),
            &known
        ),
        Err(ChainError::UnknownToken(_))
    ));
}

#[test]
fn intent_encoding_is_canonical_and_bounded() {
    let i = intent(ChainIntent::Ethereum(eth(GOOD_ETH, 5)));
    let bytes = i.to_bytes().unwrap();
    assert_eq!(TransferIntent::from_bytes(&bytes).unwrap(), i);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        TransferIntent::from_bytes(&trailing).unwrap_err(),
        ChainError::Intent("trailing bytes")
    );
    assert!(TransferIntent::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    // Any change to the intent changes its hash.
    let mut other = i.clone();
    other.account = 1;
    assert_ne!(other.hash().unwrap(), i.hash().unwrap());
    let mut v2 = i.clone();
    v2.version = 2;
    assert!(TransferIntent::from_bytes(&v2.to_bytes().unwrap()).is_err());
    let mut hardened = i;
    hardened.account = 1 << 31;
    assert!(TransferIntent::from_bytes(&hardened.to_bytes().unwrap()).is_err());
}

proptest! {
    #[test]
    fn intent_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = TransferIntent::from_bytes(&bytes);
    }

    #[test]
    fn intents_round_trip(amount in 1u128.., nonce: u64, account in 0u32..(1 << 31), id: [u8; 16]) {
        let mut i = intent(ChainIntent::Ethereum(eth(GOOD_ETH, amount)));
        i.account = account;
        i.request_id = id;
        if let ChainIntent::Ethereum(e) = &mut i.chain { e.nonce = nonce; }
        let bytes = i.to_bytes().unwrap();
        prop_assert_eq!(TransferIntent::from_bytes(&bytes).unwrap(), i);
    }
}
