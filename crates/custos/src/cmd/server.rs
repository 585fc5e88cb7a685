//! `custos server`: set up, enrol nodes into, and run the coordinator.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use custos_server::config::{NodeEnrolment, ServerConfig};

use super::runtime;

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Create a server (multi-machine setup): TLS identity, audit-log key
    /// and server.json; prints the fingerprint node operators pin.
    Init {
        /// Server directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// REST API address (TLS 1.3).
        #[arg(long, default_value = "127.0.0.1:8700")]
        api_addr: String,
        /// Serve the API with this certificate chain (PEM, leaf first)
        /// instead of the server's own; users pin its leaf's fingerprint.
        #[arg(long, requires = "api_key")]
        api_cert: Option<PathBuf>,
        /// The private key of --api-cert (PEM).
        #[arg(long, requires = "api_cert")]
        api_key: Option<PathBuf>,
        /// Address nodes connect to (mutual TLS).
        #[arg(long, default_value = "0.0.0.0:8701")]
        node_addr: String,
        /// Store: sqlite:PATH (default DIR/server.db) or postgres://…
        #[arg(long)]
        store_url: Option<String>,
    },
    /// Enrol the nodes (their enrolment.json files, in committee order) and
    /// form the committee; writes DIR/committee.json and prints its fingerprint.
    Enrol {
        /// Server directory.
        #[arg(long)]
        dir: PathBuf,
        /// Signing threshold.
        #[arg(long)]
        threshold: u16,
        /// Enrolment files.
        #[arg(required = true)]
        enrolments: Vec<PathBuf>,
    },
    /// Run the server.
    Run {
        /// Server directory.
        #[arg(long)]
        dir: PathBuf,
        /// Serve the REST API as plain HTTP on loopback, for a
        /// TLS-terminating proxy on the same host (clients then pin the
        /// proxy's certificate). Without it the API speaks only TLS.
        #[arg(long)]
        plain_http_behind_proxy: bool,
    },
}

pub fn run(cmd: ServerCommand) -> Result<()> {
    match cmd {
        ServerCommand::Init {
            dir,
            api_addr,
            api_cert,
            api_key,
            node_addr,
            store_url,
        } => {
            // Checked before anything is made: a refused certificate leaves
            // no half-made server directory.
            if let (Some(cert), Some(key)) = (&api_cert, &api_key) {
                custos_net::api_server_config_pem(
                    &std::fs::read(cert)?,
                    &zeroize::Zeroizing::new(std::fs::read(key)?),
                )
                .context("the API certificate")?;
            }
            init(&dir, &api_addr, &node_addr, store_url)?;
            if let (Some(cert), Some(key)) = (api_cert, api_key) {
                let fp = custos_server::daemon::use_api_certificate(&dir, &cert, &key)
                    .context("the API certificate")?;
                println!("API TLS fingerprint (users pin it): {fp}");
            }
            Ok(())
        }
        ServerCommand::Enrol {
            dir,
            threshold,
            enrolments,
        } => enrol(&dir, threshold, &enrolments),
        ServerCommand::Run {
            dir,
            plain_http_behind_proxy,
        } => {
            let api = if plain_http_behind_proxy {
                custos_server::daemon::ApiTransport::PlainBehindProxy
            } else {
                custos_server::daemon::ApiTransport::Tls
            };
            runtime()?
                .block_on(custos_server::daemon::run(&dir, api))
                .map_err(Into::into)
        }
    }
}

fn init(dir: &Path, api_addr: &str, node_addr: &str, store_url: Option<String>) -> Result<()> {
    if ServerConfig::path(dir).exists() {
        bail!("{} already holds a server", dir.display());
    }
    let fingerprint = custos_server::daemon::init(dir)?;
    let store_url =
        store_url.unwrap_or_else(|| format!("sqlite:{}", dir.join("server.db").display()));
    ServerConfig::empty(api_addr, node_addr, &store_url).save(dir)?;
    println!("server TLS fingerprint: {fingerprint}");
    eprintln!(
        "Give it to each node operator (custos node init --server-fingerprint). Before the first \
         start, write the governance genesis: custos governance init --server-dir {}.",
        dir.display()
    );
    Ok(())
}

fn enrol(dir: &Path, threshold: u16, enrolments: &[PathBuf]) -> Result<()> {
    let mut config = ServerConfig::load(dir)?;
    let nodes = enrolments
        .iter()
        .map(|f| -> Result<NodeEnrolment> {
            serde_json::from_str(&std::fs::read_to_string(f)?)
                .with_context(|| format!("enrolment {}", f.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let committee = config.enrol(nodes, threshold).map_err(anyhow::Error::msg)?;
    config.save(dir)?;
    std::fs::write(
        dir.join("committee.json"),
        serde_json::to_string_pretty(&committee)?,
    )?;
    println!("committee fingerprint: {}", committee.fingerprint());
    eprintln!(
        "Give {} and this fingerprint to each node operator (custos node pin).",
        dir.join("committee.json").display()
    );
    Ok(())
}
