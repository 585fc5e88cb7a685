//! One module per subcommand group: its clap argument types and what it does.

pub mod audit;
pub mod bench;
pub mod governance;
pub mod node;
pub mod requests;
pub mod server;
pub mod sign;
pub mod up;
pub mod user;
pub mod wallet;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::json::Field;

/// A runtime for a command that runs async code.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("tokio runtime")
}

/// A JSON array of strings as "a, b, c".
fn joined(v: &Value) -> String {
    v.as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A transfer or signing request: the raw transaction once signed, else
/// its state (or the whole request with `json`).
fn print_request(r: &Value, json: bool) {
    if json {
        println!("{r}");
        return;
    }
    let state = r.at("state").as_str().unwrap_or("?");
    match state {
        "signed" => println!(
            "{}",
            r.at("signed").at("raw_tx").as_str().unwrap_or_default()
        ),
        _ => {
            println!(
                "request {}: {state} ({}; {} approval(s))",
                r.at("id").as_str().unwrap_or("?"),
                r.at("decision").as_str().unwrap_or("?"),
                r.at("approvals").as_array().map(Vec::len).unwrap_or(0)
            );
            if let Some(e) = r.at("error").as_str() {
                println!("  {e}");
            }
        }
    }
}
