//! `custos`: the one binary — daemons (`server run`, `node run`), the
//! single-machine cluster (`up`), the CLI (`wallet`, `sign`) and `bench`.

mod auditing;
mod client;
mod cmd;
mod diff;
mod files;
mod govern;
mod json;
mod trust;
mod userkey;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cmd::{audit, bench, governance, node, requests, server, sign, up, user, wallet};

#[derive(Parser)]
#[command(
    name = "custos",
    version,
    about = "Custos: self-hosted MPC custody engine"
)]
struct Cli {
    /// Data directory of a `custos up` cluster (default: ./custos-data or $CUSTOS_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Custos on this machine: one server and N nodes as separate processes on loopback.
    Up(up::UpArgs),
    /// Shard-node daemon and setup.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Coordinator daemon.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Wallets (threshold keys).
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Sign a 32-byte digest (ECDSA) or a message (BIP-340, Ed25519).
    Sign(sign::SignArgs),
    /// A wallet account's address (`m/0/INDEX`).
    Address(wallet::AddressArgs),
    /// Transfer from a wallet account; every node builds and checks the
    /// transaction itself before it signs.
    Transfer(Box<sign::TransferArgs>),
    /// PSBTs.
    #[command(subcommand)]
    Psbt(sign::PsbtCommand),
    /// Run every scheme in-process (2-of-3 and 3-of-5) and print timings and message sizes.
    Bench(bench::BenchArgs),
    /// Open an API session with your key plus a TOTP code; later reads
    /// (lists, exports) use it.
    Login(user::LoginArgs),
    /// End the session `custos login` saved.
    Logout,
    /// Approve a transfer request with your user key.
    Approve(requests::ApproveArgs),
    /// Reject a pending transfer request.
    Reject(requests::RejectArgs),
    /// Transfer requests.
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// User keys.
    #[command(subcommand)]
    User(user::UserCommand),
    /// The governance chain: users, roles, admin quorum, policy.
    #[command(subcommand)]
    Governance(governance::GovernanceCommand),
    /// The transfer policy (part of the governance chain).
    #[command(subcommand)]
    Policy(governance::PolicyCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(client::default_data_dir);
    match cli.command {
        Command::Up(args) => up::run(args, data_dir),
        Command::Node(c) => node::run(c),
        Command::Server(c) => server::run(c),
        Command::Wallet(c) => wallet::run(c, &data_dir),
        Command::Sign(args) => sign::message(args, &data_dir),
        Command::Address(args) => wallet::address(args, &data_dir),
        Command::Transfer(args) => sign::transfer(&args, &data_dir),
        Command::Psbt(c) => sign::psbt(c, &data_dir),
        Command::Bench(args) => bench::run(args),
        Command::Login(args) => user::login(args, &data_dir),
        Command::Logout => user::logout(&data_dir),
        Command::Approve(args) => requests::approve(args, &data_dir),
        Command::Reject(args) => requests::reject(args, &data_dir),
        Command::Requests(c) => requests::run(c, &data_dir),
        Command::User(c) => user::run(c, &data_dir),
        Command::Governance(c) => governance::run(c, &data_dir),
        Command::Policy(c) => governance::policy(c, &data_dir),
        Command::Audit(c) => audit::run(c, &data_dir),
    }
}
