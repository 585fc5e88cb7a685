//! `custos user`, `custos login` and `custos logout`: user keys and API
//! sessions.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use super::joined;
use crate::client::{self, Client};
use crate::json::Field;
use crate::userkey;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Make a user key file (encrypted with $CUSTOS_KEY_PASSPHRASE or a
    /// prompted passphrase) and print the public key for an admin to add.
    Keygen {
        /// User id.
        #[arg(long)]
        id: String,
        /// Key file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Enrol a TOTP second factor for API sessions (once per user); prints
    /// the secret and the otpauth URI for an authenticator app.
    TotpEnrol {
        /// Your key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Current TOTP code.
    #[arg(long)]
    code: String,
    /// Your key file (default: the demo admin of `custos up`).
    #[arg(long)]
    key: Option<PathBuf>,
}

pub fn run(cmd: UserCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        UserCommand::Keygen { id, out } => {
            let pass = match std::env::var("CUSTOS_KEY_PASSPHRASE") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) => {
                    zeroize::Zeroizing::new(rpassword::prompt_password("new key passphrase: ")?)
                }
            };
            let key = userkey::UserKey::generate(&id);
            key.save(&out, pass.as_bytes())?;
            println!("{}", hex::encode(key.public()));
            Ok(())
        }
        UserCommand::TotpEnrol { key } => {
            let c = Client::locate(data_dir)?;
            let key = userkey::locate(key, data_dir)?;
            println!(
                "{}",
                c.signed(&key, "POST", "/v1/users/totp", &serde_json::json!({}))?
            );
            Ok(())
        }
    }
}

/// `custos login`: opens a session and saves it in the data dir.
pub fn login(a: LoginArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let key = userkey::locate(a.key, data_dir)?;
    let session = c.signed(
        &key,
        "POST",
        "/v1/login",
        &serde_json::json!({ "code": a.code }),
    )?;
    let path = client::save_session(data_dir, &session)?;
    println!(
        "logged in as {} ({}) until {} (unix time); reads use the session in {}",
        session.at("user").as_str().unwrap_or("?"),
        joined(session.at("roles")),
        session.at("expires_at"),
        path.display()
    );
    Ok(())
}

/// `custos logout`.
pub fn logout(data_dir: &Path) -> Result<()> {
    Client::locate(data_dir)?.logout()?;
    println!("logged out");
    Ok(())
}
