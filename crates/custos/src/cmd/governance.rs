//! `custos governance` and `custos policy`: the governance chain (users,
//! roles, admin quorum, policy, address book).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::client::Client;
use crate::json::Field;
use crate::{govern, userkey};

#[derive(clap::Args, Default)]
pub struct ChangeArgs {
    /// Add a user: ID:KEYHEX:ROLE,ROLE (roles: admin, initiator, approver, auditor, node_operator, viewer).
    #[arg(long)]
    add_user: Vec<String>,
    /// Remove a user.
    #[arg(long)]
    remove_user: Vec<String>,
    /// Grant a role: ID:ROLE.
    #[arg(long)]
    grant: Vec<String>,
    /// Revoke a role: ID:ROLE.
    #[arg(long)]
    revoke: Vec<String>,
    /// Replace a user's key: ID:KEYHEX.
    #[arg(long)]
    rotate_key: Vec<String>,
    /// Set the admin quorum.
    #[arg(long)]
    quorum: Option<u32>,
    /// Replace the policy with this JSON file.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Replace the address book with this JSON file.
    #[arg(long)]
    address_book: Option<PathBuf>,
    /// Allow one blind wallet of this id (repeatable): its key signs bare
    /// digests only and is never offered for deposits.
    #[arg(long = "allow-blind-wallet", value_name = "ID")]
    allow_blind_wallet: Vec<String>,
}

#[derive(Subcommand)]
pub enum GovernanceCommand {
    /// Write the genesis (first admins and quorum) into a server directory
    /// before its first start; prints the hash every node operator confirms.
    Init {
        /// Server directory.
        #[arg(long)]
        server_dir: PathBuf,
        /// An admin: ID:KEYHEX (repeatable).
        #[arg(long, required = true)]
        admin: Vec<String>,
        /// Admin signatures every change needs.
        #[arg(long)]
        quorum: u32,
    },
    /// Users, roles, quorum and head.
    Show,
    /// Propose changes (signed by you as proposer).
    Propose {
        #[command(flatten)]
        changes: ChangeArgs,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Sign without asking (the change is still printed first).
        #[arg(long)]
        yes: bool,
    },
    /// Add your signature to a pending proposal.
    Approve {
        /// Proposal id (hash).
        id: String,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Sign without asking (the change is still printed first).
        #[arg(long)]
        yes: bool,
    },
    /// Pending and past proposals.
    Proposals,
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// The policy at the governance head.
    Show,
    /// Propose a new policy (JSON file).
    Propose {
        /// Policy file.
        file: PathBuf,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Sign without asking (the change is still printed first).
        #[arg(long)]
        yes: bool,
    },
}

/// "proposal ID: STATE".
fn print_proposal(r: &serde_json::Value) {
    println!(
        "proposal {}: {}",
        r.at("id").as_str().unwrap_or("?"),
        r.at("state").as_str().unwrap_or("?")
    );
}

pub fn run(cmd: GovernanceCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        GovernanceCommand::Init {
            server_dir,
            admin,
            quorum,
        } => {
            let admins = admin
                .iter()
                .map(|a| {
                    let (id, key) = a.split_once(':').context("--admin takes ID:KEYHEX")?;
                    let key: [u8; 32] = hex::decode(key)?
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("admin keys are 32 bytes of hex"))?;
                    Ok((id.to_owned(), key))
                })
                .collect::<Result<Vec<_>>>()?;
            let g = custos_server::daemon::write_genesis(&server_dir, admins, quorum, false)?;
            println!("{}", hex::encode(g.hash()?));
            // What the hash commits to: each node operator compares their
            // node's line (`custos node witness-key`, the enrolment file)
            // before pinning it; a node refuses a genesis that records it
            // otherwise.
            eprintln!(
                "admins {} (quorum {}{}), audit key {}",
                g.admins
                    .iter()
                    .map(|(id, k)| format!("{id}:{}", hex::encode(k)))
                    .collect::<Vec<_>>()
                    .join(" "),
                g.admin_quorum,
                if g.demo { ", DEMO" } else { "" },
                hex::encode(g.audit_key)
            );
            for c in &g.committees {
                eprintln!(
                    "committee {} ({}-of-{}):",
                    c.id,
                    c.threshold,
                    c.members.len()
                );
                for m in &c.members {
                    eprintln!(
                        "  {}: channel {} witness {} tls {}",
                        m.name,
                        hex::encode(m.channel_key),
                        hex::encode(m.witness_key),
                        hex::encode(m.tls_fingerprint)
                    );
                }
            }
            Ok(())
        }
        GovernanceCommand::Show => {
            // The chain replayed here from the pinned genesis, not the
            // server's summary of it.
            let c = Client::locate(data_dir)?;
            let chain = crate::trust::governance(&c, None)?;
            let (gov, s) = (&chain.gov, chain.gov.state());
            println!(
                "genesis {}\naudit key {}\nhead {} (height {})\nadmin quorum {}",
                hex::encode(crate::trust::pinned_genesis(data_dir)?),
                hex::encode(gov.genesis_audit_key()),
                hex::encode(gov.head()),
                gov.height(),
                s.admin_quorum
            );
            for id in s.users.keys() {
                println!("  {id}: {}", s.role_names(id).join(", "));
            }
            for (id, c) in &s.committees {
                println!("committee {id}: {}-of-{}", c.threshold, c.members.len());
            }
            Ok(())
        }
        GovernanceCommand::Propose { changes, key, yes } => {
            let c = Client::locate(data_dir)?;
            let key = userkey::locate(key, data_dir)?;
            let changes = govern::Changes {
                add_user: changes.add_user,
                remove_user: changes.remove_user,
                grant: changes.grant,
                revoke: changes.revoke,
                rotate_key: changes.rotate_key,
                quorum: changes.quorum,
                policy: changes.policy,
                address_book: changes.address_book,
                allow_blind_wallet: changes.allow_blind_wallet,
            };
            print_proposal(&govern::propose(&c, &key, &changes, yes)?);
            Ok(())
        }
        GovernanceCommand::Approve { id, key, yes } => {
            let c = Client::locate(data_dir)?;
            let key = userkey::locate(key, data_dir)?;
            print_proposal(&govern::approve_proposal(&c, &key, &id, yes)?);
            Ok(())
        }
        GovernanceCommand::Proposals => {
            let c = Client::locate(data_dir)?;
            println!("{}", c.get("/v1/governance/proposals")?);
            Ok(())
        }
    }
}

/// `custos policy`.
pub fn policy(cmd: PolicyCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        PolicyCommand::Show => {
            let c = Client::locate(data_dir)?;
            let chain = crate::trust::governance(&c, None)?;
            let policy: serde_json::Value = match &chain.gov.state().policy {
                Some(doc) => serde_json::from_slice(doc)?,
                None => serde_json::Value::Null,
            };
            println!("{}", serde_json::to_string_pretty(&policy)?);
            Ok(())
        }
        PolicyCommand::Propose { file, key, yes } => {
            let c = Client::locate(data_dir)?;
            let key = userkey::locate(key, data_dir)?;
            let changes = govern::Changes {
                policy: Some(file),
                ..Default::default()
            };
            println!("{}", govern::propose(&c, &key, &changes, yes)?);
            Ok(())
        }
    }
}
