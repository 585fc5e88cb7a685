//! `custos wallet` and `custos address`: threshold keys and their accounts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::Subcommand;

use crate::client::{self, Client};
use crate::json::Field;
use crate::userkey;

#[derive(Subcommand)]
pub enum WalletCommand {
    /// Create a wallet by DKG across the committee.
    Create {
        /// ecdsa-secp256k1 | schnorr-bip340 | ed25519
        #[arg(long)]
        scheme: String,
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
    /// List wallets.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one wallet.
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
            blind,
            json,
            key,
        } => {
            let key = userkey::locate(key, data_dir)?;
            let c = c.read_as(&key);
            let stop = AtomicBool::new(false);
            let created = std::thread::scope(|s| {
                s.spawn(|| c.watch_progress(&stop));
                let created = c.signed(
                    &key,
                    "POST",
                    "/v1/wallets",
                    &serde_json::json!({ "scheme": scheme, "blind": blind }),
                );
                stop.store(true, Ordering::Relaxed);
                created
            })?;
            client::print_wallet(&created, json)
        }
        WalletCommand::List { json } => {
            let list = c.wallets()?;
            if json {
                println!("{list}");
            } else {
                for w in list.as_array().into_iter().flatten() {
                    client::print_wallet(w, false);
                }
            }
        }
        WalletCommand::Show { id, json } => client::print_wallet(&c.wallet(&id)?, json),
    }
    Ok(())
}

/// `custos address`.
pub fn address(a: AddressArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    if c.wallet(&a.wallet)?.at("blind") == true {
        anyhow::bail!(
            "wallet {} is a blind wallet: it has no deposit addresses (its key signs bare digests only)",
            a.wallet
        );
    }
    let r = c.address(&a.wallet, a.index, a.chain, a.network)?;
    if a.json {
        println!("{}", serde_json::json!({ "address": r.at("address") }));
    } else {
        println!("{}", r.at("address").as_str().unwrap_or_default());
    }
    Ok(())
}
