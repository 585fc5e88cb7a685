//! Policy as the nodes and the server apply it to a signing record: the
//! governance chain's documents with every address in canonical form, the
//! record as a policy request, and the witnessed ledger as velocity
//! entries. One function each, so the server's preview and every node's
//! decision cannot drift apart.

use custos_chains::outflow::canonical_any;
use custos_governance::State;
use custos_policy::{AddressBook, Destination, Policy, PolicyError, Request, Spent};

use crate::authz::SigningRecord;

/// The policy and address book of `state`, validated, with every address
/// they name in canonical form (EIP-55, lowercase bech32), as records carry
/// destinations.
pub fn load(state: &State) -> Result<(Policy, AddressBook), PolicyError> {
    let (mut policy, mut book) =
        custos_policy::from_documents(state.policy.as_deref(), state.address_book.as_deref())?;
    for rule in &mut policy.rules {
        if let Some(Destination::Addresses(list)) = &mut rule.destination {
            for a in list.iter_mut() {
                *a = canonical_any(a);
            }
        }
        if let Some(assets) = &mut rule.assets {
            for a in assets.iter_mut() {
                *a = canonical_any(a);
            }
        }
    }
    for entries in book.groups.values_mut() {
        for (_, a) in entries.iter_mut() {
            *a = canonical_any(a);
        }
    }
    Ok((policy, book))
}

/// `record` as policy sees it; `None` if an amount is not a number.
pub fn request_of(record: &SigningRecord, state: &State, book: &AddressBook) -> Option<Request> {
    Some(Request {
        kind: record.kind,
        initiator: record.initiator.clone(),
        roles: state.role_names(&record.initiator),
        wallet: record.wallet.clone(),
        wallet_groups: book.groups_of_wallet(&record.wallet),
        chain: record.chain.clone(),
        destinations: record.destinations.clone(),
        spends: record.spends()?,
    })
}

/// A signed (or dispatched) `record` at `time`, for velocity.
pub fn spent_of(record: &SigningRecord, time: i64) -> Option<Spent> {
    Some(Spent {
        time,
        wallet: record.wallet.clone(),
        initiator: record.initiator.clone(),
        kind: record.kind,
        chain: record.chain.clone(),
        spends: record.spends()?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::authz::{plan, BlindRequest, MessageRequest, PsbtRequest, SigningRequest};
    use custos_chains::intent::{Asset, ChainIntent, EthereumTransfer, INTENT_VERSION};
    use custos_chains::message::MessageFormat;
    use custos_chains::TransferIntent;
    use custos_governance::{Role, User};
    use custos_policy::{check_approvals, evaluate};
    use custos_tss::Scheme;
    use std::collections::{BTreeMap, BTreeSet};

    const NOW: i64 = 1_764_000_000;
    /// The wallet's key at every path (the secp256k1 generator).
    const G: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    const TO: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    fn record(r: &SigningRequest) -> SigningRecord {
        let key_at = |_: &custos_tss::DerivationPath| Ok(hex::decode(G).unwrap());
        SigningRecord::new(r, "ivy", &plan(r, Scheme::EcdsaSecp256k1, &key_at).unwrap()).unwrap()
    }

    /// Whether `policy` lets initiator ivy's `r` be signed without
    /// approvals after `earlier` (signed a minute ago).
    fn decide(
        policy: &str,
        r: &SigningRequest,
        _approvers: &[&str],
        earlier: &[&SigningRequest],
    ) -> Result<(), PolicyError> {
        let state = State {
            users: BTreeMap::from([(
                "ivy".to_owned(),
                User {
                    key: [1; 32],
                    roles: BTreeSet::from([Role::Initiator]),
                },
            )]),
            admin_quorum: 1,
            policy: Some(policy.as_bytes().to_vec()),
            address_book: None,
            blind_wallets: BTreeSet::new(),
            committees: BTreeMap::new(),
            demo: true,
        };
        let (policy, book) = load(&state)?;
        let request = request_of(&record(r), &state, &book).unwrap();
        let ledger: Vec<Spent> = earlier
            .iter()
            .map(|e| spent_of(&record(e), NOW - 60).unwrap())
            .collect();
        let d = evaluate(&policy, &book, &request, NOW, &ledger)?;
        check_approvals(&d, "ivy", &[])
    }

    fn eth(id: u8, amount: u128, max_fee_per_gas: u128) -> SigningRequest {
        SigningRequest::Transfer(TransferIntent {
            version: INTENT_VERSION,
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 0,
            chain: ChainIntent::Ethereum(EthereumTransfer {
                chain_id: 1,
                to: TO.into(),
                asset: Asset::Native,
                amount,
                nonce: 0,
                max_fee_per_gas,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
            }),
        })
    }

    #[test]
    fn the_maximum_fee_counts_towards_an_amount_limit() {
        // 1 ETH allowed; 0.99 ETH with a fee cap of 0.021 ETH is more.
        let w = String::from(
            r#"{"rules":[{"name":"small ether","chains":["ethereum"],"assets":["native"],
                "max_amount":"1000000000000000000","action":{"type":"allow"}}]}"#,
        );
        let ok = eth(1, 990_000_000_000_000_000, 100_000_000);
        decide(&w, &ok, &[], &[]).unwrap();
        let fee_heavy = eth(2, 990_000_000_000_000_000, 1_000_000_000_000);
        assert!(matches!(
            decide(&w, &fee_heavy, &[], &[]),
            Err(PolicyError::Denied(_))
        ));
    }

    /// A PSBT spending one `sats` output of the wallet (G at m/0/0) to `to`,
    /// with change back to the wallet.
    fn psbt(id: u8, sats: u64, to: &str, paid: u64) -> SigningRequest {
        use bitcoin::{
            absolute, transaction, Address, Amount, OutPoint, Transaction, TxIn, TxOut, Txid,
        };
        use std::str::FromStr;
        let own = custos_chains::address::p2wpkh(
            &hex::decode(G).unwrap(),
            custos_chains::intent::BitcoinNetwork::Regtest,
        )
        .unwrap();
        let to = Address::from_str(to).unwrap().assume_checked();
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(
                    Txid::from_str(&format!("{id:02x}").repeat(32)).unwrap(),
                    0,
                ),
                ..TxIn::default()
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(paid),
                    script_pubkey: to.script_pubkey(),
                },
                TxOut {
                    value: Amount::from_sat(sats - paid - 500),
                    script_pubkey: own.script_pubkey(),
                },
            ],
        };
        let mut p = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
        p.inputs[0].witness_utxo = Some(TxOut {
            value: Amount::from_sat(sats),
            script_pubkey: own.script_pubkey(),
        });
        SigningRequest::Psbt(PsbtRequest {
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            network: "regtest".into(),
            psbt: p.serialize(),
        })
    }

    fn btc(id: u8, amount: u64) -> SigningRequest {
        use custos_chains::intent::{BitcoinNetwork, BitcoinTransfer, Utxo};
        SigningRequest::Transfer(TransferIntent {
            version: INTENT_VERSION,
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 0,
            chain: ChainIntent::Bitcoin(BitcoinTransfer {
                network: BitcoinNetwork::Regtest,
                to: dest(),
                amount,
                utxos: vec![Utxo {
                    txid: [id; 32],
                    vout: 0,
                    value: 1_000_000,
                }],
                fee_rate: 2,
            }),
        })
    }

    /// Regtest P2WPKH addresses of 2G and 3G (not the wallet's, which is G).
    fn p2wpkh(pk: &str) -> String {
        custos_chains::address::p2wpkh(
            &hex::decode(pk).unwrap(),
            custos_chains::intent::BitcoinNetwork::Regtest,
        )
        .unwrap()
        .to_string()
    }
    fn dest() -> String {
        p2wpkh("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
    }
    fn other() -> String {
        p2wpkh("02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9")
    }

    #[test]
    fn psbts_and_transfers_fill_one_bucket_and_every_output_must_be_allowed() {
        let policy = format!(
            r#"{{"rules":[{{"name":"to the vault","chains":["bitcoin-regtest"],"destination":{{"addresses":["{}"]}},
                "velocity":{{"scope":"wallet","window_secs":3600,"max_sum":"150000"}},"action":{{"type":"allow"}}}}]}}"#,
            dest().to_uppercase()
        );
        let w = String::from(&policy);
        // A PSBT to the allowed destination (named in upper case by the
        // policy: compared canonically), within the limit: signed.
        let p = psbt(1, 200_000, &dest(), 90_000);
        let r = record(&p);
        assert_eq!(
            (r.destinations.as_slice(), r.spends[0].amount.as_str()),
            (&[dest()][..], "90500")
        );
        decide(&w, &p, &[], &[]).unwrap();
        // A transfer after it: 90 500 + 60 000 + fee exceeds 150 000 in the
        // one bitcoin bucket of the wallet.
        assert!(matches!(
            decide(&w, &btc(2, 60_000), &[], &[&p]),
            Err(PolicyError::Denied(_))
        ));
        decide(&w, &btc(3, 50_000), &[], &[&p]).unwrap();
        // A PSBT paying a destination the policy does not allow: refused.
        assert!(matches!(
            decide(&w, &psbt(4, 200_000, &other(), 1_000), &[], &[]),
            Err(PolicyError::Denied(_))
        ));
    }

    #[test]
    fn messages_and_blind_digests_match_only_rules_that_name_them() {
        // The README's catch-all allows initiators' transfers, not messages.
        let w = String::from(
            r#"{"rules":[{"name":"initiators","initiators":[{"role":"initiator"}],"action":{"type":"allow"}}]}"#,
        );
        let m = SigningRequest::Message(MessageRequest {
            request_id: [9; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            path: "m/0/0".into(),
            format: MessageFormat::Eip191,
            message: b"hello".to_vec(),
        });
        assert!(matches!(
            decide(&w, &m, &[], &[]),
            Err(PolicyError::Denied("no policy rule matches (default deny)"))
        ));
        let w = String::from(
            r#"{"rules":[{"name":"messages","kinds":["message"],"action":{"type":"allow"}}]}"#,
        );
        decide(&w, &m, &[], &[]).unwrap();
        let b = SigningRequest::Blind(BlindRequest {
            request_id: [8; 16],
            wallet: "bw".into(),
            key_id: "00".repeat(32),
            path: "m".into(),
            digest: [7; 32],
        });
        assert!(decide(&w, &b, &[], &[]).is_err());
        assert!(decide(&w, &eth(1, 10, 1), &[], &[]).is_err());
    }
}
