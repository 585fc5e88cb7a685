//! `custos requests`, `custos approve` and `custos reject`: transfer requests.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use super::print_request;
use crate::client::Client;
use crate::{govern, userkey};

#[derive(Subcommand)]
pub enum RequestsCommand {
    /// All requests, oldest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One request (JSON).
    Show {
        /// Request id.
        id: String,
    },
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// Request id.
    id: String,
    /// Your key file (default: the demo admin of `custos up`).
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RejectArgs {
    /// Request id.
    id: String,
    /// Why.
    #[arg(long)]
    reason: String,
    /// Your key file.
    #[arg(long)]
    key: Option<PathBuf>,
}

pub fn run(cmd: RequestsCommand, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    match cmd {
        RequestsCommand::List { json } => {
            let list = c.get("/v1/requests")?;
            if json {
                println!("{list}");
            } else {
                govern::print_requests(&list);
            }
        }
        RequestsCommand::Show { id } => {
            println!("{}", c.get(&format!("/v1/requests/{id}"))?)
        }
    }
    Ok(())
}

/// `custos approve`.
pub fn approve(a: ApproveArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let key = userkey::locate(a.key, data_dir)?;
    print_request(&govern::approve(&c, &key, &a.id)?, false);
    Ok(())
}

/// `custos reject`.
pub fn reject(a: RejectArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let key = userkey::locate(a.key, data_dir)?;
    print_request(&govern::reject(&c, &key, &a.id, &a.reason)?, false);
    Ok(())
}
