//! `custos wallet` and `custos address`: threshold keys and their accounts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Result};
use clap::Subcommand;
use custos_chains::address::AddressKind;
use custos_protocol::attest::WalletOrder;
use custos_tss::Scheme;

use crate::client::{self, Client};
use crate::{trust, userkey};

#[derive(Subcommand)]
pub enum WalletCommand {
    /// Create a wallet by DKG across the committee (an order signed with
    /// an admin's key, which every node checks itself).
    Create {
        /// ecdsa-secp256k1 | schnorr-bip340 | ed25519
        #[arg(long)]
        scheme: String,
        /// The wallet's id (default: random).
        #[arg(long)]
        id: Option<String>,
        /// The committee to hold it (default: the governance chain's only one).
        #[arg(long)]
        committee: Option<String>,
        /// Create the blind wallet of this id (allowed first by an admin
        /// quorum: `governance propose --allow-blind-wallet ID`); its key
        /// signs bare digests only (`custos sign --blind`).
        #[arg(long, value_name = "ID")]
        blind: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// An admin's key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// List wallets (each checked against its committee's attestations).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one wallet: every field from the committee's attestations
    /// (refused without `t` valid ones), the xpub derived here.
    Show {
        /// Wallet id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct AddressArgs {
    /// Wallet id.
    #[arg(long)]
    wallet: String,
    /// Account index.
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// ethereum | bitcoin | solana (default: the wallet scheme's chain).
    #[arg(long)]
    chain: Option<String>,
    /// Bitcoin network: mainnet | testnet | signet | regtest.
    #[arg(long)]
    network: Option<String>,
    /// Print {"address": ...}.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: WalletCommand, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    match cmd {
        WalletCommand::Create {
            scheme,
            id,
            committee,
            blind,
            json,
            key,
        } => {
            let key = userkey::locate(key, data_dir)?;
            let c = c.read_as(&key);
            let chain = trust::governance(&c, Some(&key))?;
            let committee = match committee {
                Some(id) => id,
                None => {
                    let ids: Vec<&String> = chain.gov.state().committees.keys().collect();
                    match ids.as_slice() {
                        [only] => (*only).clone(),
                        _ => bail!("name the committee (--committee): the chain has {ids:?}"),
                    }
                }
            };
            let wallet = match (&blind, id) {
                (Some(b), Some(i)) if *b != i => bail!("a blind wallet's id is its --blind id"),
                (Some(b), _) => b.clone(),
                (None, Some(i)) => i,
                (None, None) => random_id(),
            };
            let order = WalletOrder {
                wallet,
                scheme: scheme.parse::<Scheme>()?,
                blind: blind.is_some(),
                committee,
                head: chain.gov.head(),
                time: custos_net::clock::unix_now(),
            };
            let signature = hex::encode(key.sign(&order.message()));
            let stop = AtomicBool::new(false);
            let created = std::thread::scope(|s| {
                s.spawn(|| c.watch_progress(&stop));
                let created = c.signed(
                    &key,
                    "POST",
                    "/v1/wallets",
                    &serde_json::json!({ "order": order, "signature": signature }),
                );
                stop.store(true, Ordering::Relaxed);
                created
            })?;
            // What the committee attested must be what was ordered.
            let a = trust::attested(&chain.gov, &created)?;
            let s = &a.statement;
            if (&s.wallet, s.scheme, s.blind, &s.committee)
                != (&order.wallet, order.scheme, order.blind, &order.committee)
            {
                bail!(
                    "the committee attested another wallet than ordered: {}",
                    s.wallet
                );
            }
            show(&chain.gov, &created, json)?;
        }
        WalletCommand::List { json } => {
            let chain = trust::governance(&c, None)?;
            let list = c.wallets()?;
            let mut views = Vec::new();
            for w in list.as_array().into_iter().flatten() {
                let a = trust::attested(&chain.gov, w)?;
                views.push(a.view(&trust::member_names(&chain.gov, &a.statement.committee))?);
            }
            if json {
                println!("{}", serde_json::Value::Array(views));
            } else {
                for v in &views {
                    client::print_wallet(v, false);
                }
            }
        }
        WalletCommand::Show { id, json } => {
            let chain = trust::governance(&c, None)?;
            let w = c.wallet(&id)?;
            if trust::attested(&chain.gov, &w)?.statement.wallet != id {
                bail!("asked for wallet {id}, the server answered with another");
            }
            show(&chain.gov, &w, json)?;
        }
    }
    Ok(())
}

fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Prints the wallet from its attestations (refused without enough).
fn show(gov: &custos_governance::Governance, w: &serde_json::Value, json: bool) -> Result<()> {
    let a = trust::attested(gov, w)?;
    let view = a.view(&trust::member_names(gov, &a.statement.committee))?;
    client::print_wallet(&view, json);
    Ok(())
}

/// `custos address`: derived here from the attested key.
pub fn address(a: AddressArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let w = trust::wallet(&c, None, &a.wallet)?;
    let chain = a.chain.unwrap_or_else(|| {
        match w.statement.scheme {
            Scheme::EcdsaSecp256k1 => "ethereum",
            Scheme::SchnorrBip340 => "bitcoin",
            Scheme::Ed25519 => "solana",
        }
        .to_owned()
    });
    let kind = match chain.as_str() {
        "ethereum" => AddressKind::Ethereum,
        "bitcoin" => AddressKind::Bitcoin(custos_chains::args::network(a.network.as_deref())?),
        "solana" => AddressKind::Solana,
        other => bail!("unknown chain {other:?} (ethereum, bitcoin or solana)"),
    };
    let address = w.address(a.index, kind)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "address": address, "attested_by": w.members.len() })
        );
    } else {
        println!("{address}");
    }
    Ok(())
}
