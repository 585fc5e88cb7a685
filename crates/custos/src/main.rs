//! `custos`: the one binary — daemons (`server run`, `node run`), the
//! single-machine cluster (`up`), the CLI (`wallet`, `sign`) and `bench`.

mod bench;
mod bench_cluster;
mod bench_gov;
mod client;
mod govern;
mod up;
mod userkey;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

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
    Up {
        /// Number of nodes (first start only; default 3).
        #[arg(long)]
        nodes: Option<u16>,
        /// Signing threshold (first start only; default 2).
        #[arg(long)]
        threshold: Option<u16>,
        /// Create the cluster's identities and configuration, then exit.
        #[arg(long)]
        init_only: bool,
    },
    /// Shard-node daemon and setup.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Coordinator daemon.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Wallets (threshold keys).
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Sign a 32-byte digest (ECDSA) or a message (BIP-340, Ed25519).
    Sign {
        /// Wallet id.
        #[arg(long)]
        wallet: String,
        /// Message or digest, hex.
        #[arg(long)]
        message_hex: String,
        /// Signer indices, comma-separated (default: the first t connected nodes).
        #[arg(long, value_delimiter = ',')]
        signers: Option<Vec<u16>>,
        /// Non-hardened derivation path (default m).
        #[arg(long)]
        path: Option<String>,
        /// ECDSA: `sha256` to have each node hash the message itself (else the
        /// message is the 32-byte digest). Only such signings at the root key
        /// may use a pooled presignature.
        #[arg(long, value_name = "sha256")]
        hash: Option<String>,
        /// Print {"scheme","public_key","message","signature","request"}; for
        /// ECDSA "message" is the digest the signature verifies against.
        #[arg(long)]
        json: bool,
        /// Your (the initiator's) key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// A wallet account's address (`m/0/INDEX`).
    Address {
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
    },
    /// Transfer from a wallet account; every node builds and checks the
    /// transaction itself before it signs.
    Transfer(Box<TransferArgs>),
    /// PSBTs.
    #[command(subcommand)]
    Psbt(PsbtCommand),
    /// Run every scheme in-process (2-of-3 and 3-of-5) and print timings and message sizes.
    Bench(BenchArgs),
    /// Open an API session with your key plus a TOTP code; later reads
    /// (lists, exports) use it.
    Login {
        /// Current TOTP code.
        #[arg(long)]
        code: String,
        /// Your key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// End the session `custos login` saved.
    Logout,
    /// Approve a transfer request with your user key.
    Approve {
        /// Request id.
        id: String,
        /// Your key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Reject a pending transfer request.
    Reject {
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Transfer requests.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// User keys.
    #[command(subcommand)]
    User(UserCommand),
    /// The governance chain: users, roles, admin quorum, policy.
    #[command(subcommand)]
    Governance(GovernanceCommand),
    /// The transfer policy (part of the governance chain).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum RequestsCommand {
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

#[derive(Subcommand)]
enum UserCommand {
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

#[derive(clap::Args, Default)]
struct ChangeArgs {
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
}

#[derive(Subcommand)]
enum GovernanceCommand {
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
    },
    /// Add your signature to a pending proposal.
    Approve {
        /// Proposal id (hash).
        id: String,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Pending and past proposals.
    Proposals,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// The policy at the governance head.
    Show,
    /// Propose a new policy (JSON file).
    Propose {
        /// Policy file.
        file: PathBuf,
        /// Your key file.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write every entry and checkpoint to a file.
    Export {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Local demo: write the keys file for `custos audit verify` from a
    /// `custos up` data dir (the genesis audit key and each node's witness
    /// key). An auditor gets these from the admins and node operators.
    Keys {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export offline; names the first bad entry.
    Verify {
        /// Export file.
        export: PathBuf,
        /// Keys file: {"server": HEX, "nodes": [HEX, …], "quorum": N}.
        #[arg(long)]
        keys: PathBuf,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Create a node (multi-machine setup): channel key, TLS identity and
    /// vault; writes DIR/enrolment.json for the server operator.
    Init {
        /// Node directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// Node name.
        #[arg(long)]
        name: String,
        /// Server's node address, host:port.
        #[arg(long)]
        server_addr: String,
        /// Server's TLS fingerprint, as its operator read it out (`custos server init`).
        #[arg(long)]
        server_fingerprint: String,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Pin the committee (committee.json from `custos server enrol`) after
    /// comparing its fingerprint with the one the server operator gave you.
    Pin {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// committee.json.
        #[arg(long)]
        committee: PathBuf,
        /// The committee fingerprint, as the server operator read it out.
        #[arg(long)]
        fingerprint: String,
        /// The governance genesis hash, as the admins read it out.
        #[arg(long)]
        genesis: Option<String>,
    },
    /// Print the node's audit co-signing key (for auditors' key files).
    WitnessKey {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Run a node.
    Run {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Print the node's journal: every job it ran, with parameters and result
    /// (read-only; needs no passphrase).
    Journal {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Store safe primes made elsewhere in the node's vault (hex file, as written by `custos-tss` tools).
    ImportPrimes {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Hex file with the encoded primes.
        #[arg(long)]
        primes_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Create a server (multi-machine setup): TLS identity, audit-log key
    /// and server.json; prints the fingerprint node operators pin.
    Init {
        /// Server directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// REST API address (loopback only until the API has TLS).
        #[arg(long, default_value = "127.0.0.1:8700")]
        api_addr: String,
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
    },
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Create a wallet by DKG across the committee.
    Create {
        /// ecdsa-secp256k1 | schnorr-bip340 | ed25519
        #[arg(long)]
        scheme: String,
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
    /// Add ECDSA presignatures to a wallet's pool now (the server also
    /// refills it in the background up to its `presignature_target`).
    Presign {
        /// Wallet id.
        id: String,
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Signer indices, comma-separated (default: the first t connected nodes).
        #[arg(long, value_delimiter = ',')]
        signers: Option<Vec<u16>>,
        /// An admin's key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct TransferArgs {
    /// Wallet id.
    #[arg(long)]
    wallet: String,
    /// ethereum | bitcoin | solana.
    #[arg(long)]
    chain: String,
    /// Recipient address.
    #[arg(long)]
    to: String,
    /// Amount in base units (wei, satoshis, lamports, token units).
    #[arg(long)]
    amount: String,
    /// ERC-20 contract or SPL mint (must be in the server's token list).
    #[arg(long)]
    asset: Option<String>,
    /// Account index (`m/0/INDEX`).
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// Bitcoin network: mainnet | testnet | signet | regtest.
    #[arg(long)]
    network: Option<String>,
    /// Ethereum: EIP-155 chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Ethereum: nonce.
    #[arg(long)]
    nonce: Option<u64>,
    /// Ethereum: max fee per gas (wei).
    #[arg(long)]
    max_fee_per_gas: Option<String>,
    /// Ethereum: max priority fee per gas (wei).
    #[arg(long)]
    max_priority_fee_per_gas: Option<String>,
    /// Ethereum: gas limit.
    #[arg(long)]
    gas_limit: Option<u64>,
    /// Bitcoin: TXID:VOUT:SATS of an output of the account to spend (repeatable).
    #[arg(long = "utxo")]
    utxos: Vec<String>,
    /// Bitcoin: fee rate in sat/vB.
    #[arg(long)]
    fee_rate: Option<u64>,
    /// Solana: recent blockhash (base58).
    #[arg(long)]
    recent_blockhash: Option<String>,
    /// Signer indices, comma-separated (default: the first t connected nodes).
    #[arg(long, value_delimiter = ',')]
    signers: Option<Vec<u16>>,
    /// Your (the initiator's) key file (default: the demo admin of `custos up`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print the request as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PsbtCommand {
    /// Sign the inputs of a PSBT (base64 or binary file) that belong to a wallet.
    Sign {
        /// Wallet id.
        #[arg(long)]
        wallet: String,
        /// Bitcoin network: mainnet | testnet | signet | regtest.
        #[arg(long)]
        network: Option<String>,
        /// Signer indices, comma-separated (default: the first t connected nodes).
        #[arg(long, value_delimiter = ',')]
        signers: Option<Vec<u16>>,
        /// The PSBT file.
        file: PathBuf,
        /// Print {"psbt","raw_tx","prevouts"}.
        #[arg(long)]
        json: bool,
        /// Your (the initiator's) key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Keep the run under about two minutes: load pregenerated safe primes and
    /// committee aux info from test fixtures (benchmarks only, never the product path).
    #[arg(long)]
    quick: bool,
    /// Also write one JSON line per signature produced:
    /// {"scheme","public_key","message","signature"} (hex).
    #[arg(long, value_name = "FILE")]
    emit: Option<PathBuf>,
    /// Where the fixtures live (default: the source tree's crates/custos-tss/test-data).
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Repetitions of the ECDSA 2-of-3 full-sign comparison (wrapper vs cggmp24 directly).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Measure a real cluster (1 server + 3 node processes on loopback) instead,
    /// against the in-process figure in the same run.
    #[arg(long)]
    cluster: bool,
    /// Measure the governance checks instead: policy evaluation, a node's
    /// re-check of a request, audit-log append, witnessing and checkpoints.
    #[arg(long)]
    governance: bool,
}

/// A JSON array of strings as "a, b, c".
fn joined(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn passphrase(file: Option<PathBuf>) -> Result<zeroize::Zeroizing<String>> {
    let text = match (file, std::env::var("CUSTOS_NODE_PASSPHRASE")) {
        (Some(f), _) => {
            std::fs::read_to_string(&f).with_context(|| format!("read {}", f.display()))?
        }
        (None, Ok(p)) => p,
        (None, Err(_)) => rpassword::prompt_password("vault passphrase: ").context(
            "no --passphrase-file, no CUSTOS_NODE_PASSPHRASE, and no terminal to prompt on",
        )?,
    };
    Ok(zeroize::Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(client::default_data_dir);
    let runtime = || tokio::runtime::Runtime::new().context("tokio runtime");
    match cli.command {
        Command::Bench(args) if args.governance => bench_gov::run(),
        Command::Bench(args) if args.cluster => bench_cluster::run(&args),
        Command::Bench(args) => bench::run(args),
        Command::Up {
            nodes,
            threshold,
            init_only,
        } => runtime()?.block_on(up::run(up::UpArgs {
            data_dir,
            nodes,
            threshold,
            init_only,
        })),
        Command::Node(NodeCommand::Run {
            dir,
            passphrase_file,
        }) => {
            let pass = passphrase(passphrase_file)?;
            runtime()?
                .block_on(custos_node::daemon::run(&dir, pass.as_bytes()))
                .map_err(Into::into)
        }
        Command::Node(NodeCommand::Init {
            dir,
            name,
            server_addr,
            server_fingerprint,
            passphrase_file,
        }) => {
            server_fingerprint
                .parse::<custos_net::Fingerprint>()
                .context("--server-fingerprint")?;
            if dir.join(custos_node::daemon::DB_FILE).exists() {
                bail!("{} already holds a node", dir.display());
            }
            let pass = passphrase(passphrase_file)?;
            let enrolment = runtime()?.block_on(custos_node::daemon::init(
                &dir,
                &name,
                pass.as_bytes(),
                custos_node::vault::KdfParams::default(),
            ))?;
            custos_node::config::NodeConfig::unpinned(
                &enrolment,
                &server_addr,
                &server_fingerprint,
            )
            .save(&dir)?;
            let text = serde_json::to_string_pretty(&enrolment)?;
            std::fs::write(dir.join("enrolment.json"), &text)?;
            println!("{text}");
            eprintln!(
                "Hand {} to the server operator; then pin the committee with `custos node pin`.",
                dir.join("enrolment.json").display()
            );
            Ok(())
        }
        Command::Node(NodeCommand::Pin {
            dir,
            committee,
            fingerprint,
            genesis,
        }) => {
            let spec: custos_protocol::control::CommitteeSpec =
                serde_json::from_str(&std::fs::read_to_string(&committee)?)
                    .context("committee file")?;
            let mut config = custos_node::config::NodeConfig::load(&dir)?;
            config.pin(&spec, &fingerprint)?;
            if let Some(g) = genesis {
                config.pin_genesis(&g)?;
            }
            config.save(&dir)?;
            println!(
                "pinned committee {} ({}-of-{}); this node is member {}",
                spec.id,
                spec.threshold,
                spec.members.len(),
                config.index
            );
            Ok(())
        }
        Command::Node(NodeCommand::WitnessKey {
            dir,
            passphrase_file,
        }) => {
            let pass = passphrase(passphrase_file)?;
            let key = runtime()?.block_on(custos_node::daemon::witness_public_key(
                &dir,
                pass.as_bytes(),
            ))?;
            println!("{key}");
            Ok(())
        }
        Command::Node(NodeCommand::Journal { dir }) => {
            let entries = runtime()?.block_on(custos_node::store::read_journal(
                &dir.join(custos_node::daemon::DB_FILE),
            ))?;
            for e in entries {
                println!("{}", serde_json::to_string(&e)?);
            }
            Ok(())
        }
        Command::Node(NodeCommand::ImportPrimes {
            dir,
            passphrase_file,
            primes_file,
        }) => {
            let pass = passphrase(passphrase_file)?;
            let primes = zeroize::Zeroizing::new(
                hex::decode(std::fs::read_to_string(&primes_file)?.trim())
                    .context("primes file is not hex")?,
            );
            runtime()?
                .block_on(custos_node::daemon::import_primes(
                    &dir,
                    pass.as_bytes(),
                    &primes,
                ))
                .map_err(Into::into)
        }
        Command::Server(ServerCommand::Init {
            dir,
            api_addr,
            node_addr,
            store_url,
        }) => {
            if custos_server::config::ServerConfig::path(&dir).exists() {
                bail!("{} already holds a server", dir.display());
            }
            let fingerprint = custos_server::daemon::init(&dir)?;
            let store_url =
                store_url.unwrap_or_else(|| format!("sqlite:{}", dir.join("server.db").display()));
            custos_server::config::ServerConfig::empty(&api_addr, &node_addr, &store_url)
                .save(&dir)?;
            println!("server TLS fingerprint: {fingerprint}");
            eprintln!(
                "Give it to each node operator (custos node init --server-fingerprint). Before the first \
                 start, write the governance genesis: custos governance init --server-dir {}.",
                dir.display()
            );
            Ok(())
        }
        Command::Server(ServerCommand::Enrol {
            dir,
            threshold,
            enrolments,
        }) => {
            let mut config = custos_server::config::ServerConfig::load(&dir)?;
            let nodes = enrolments
                .iter()
                .map(|f| -> Result<custos_server::config::NodeEnrolment> {
                    serde_json::from_str(&std::fs::read_to_string(f)?)
                        .with_context(|| format!("enrolment {}", f.display()))
                })
                .collect::<Result<Vec<_>>>()?;
            let committee = config.enrol(nodes, threshold).map_err(anyhow::Error::msg)?;
            config.save(&dir)?;
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
        Command::Server(ServerCommand::Run { dir }) => runtime()?
            .block_on(custos_server::daemon::run(&dir))
            .map_err(Into::into),
        Command::Wallet(cmd) => {
            let c = client::Client::locate(&data_dir)?;
            match cmd {
                WalletCommand::Create { scheme, json, key } => {
                    let key = userkey::locate(key, &data_dir)?;
                    let c = c.read_as(&key);
                    let stop = std::sync::atomic::AtomicBool::new(false);
                    let created = std::thread::scope(|s| {
                        s.spawn(|| c.watch_progress(&stop));
                        let created = c.signed(
                            &key,
                            "POST",
                            "/v1/wallets",
                            &serde_json::json!({ "scheme": scheme }),
                        );
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
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
                WalletCommand::Presign {
                    id,
                    count,
                    signers,
                    key,
                } => {
                    let key = userkey::locate(key, &data_dir)?;
                    let pool = c.signed(
                        &key,
                        "POST",
                        &format!("/v1/wallets/{id}/presignatures"),
                        &serde_json::json!({ "count": count, "signers": signers }),
                    )?;
                    println!("{} presignatures ready", pool["ready"]);
                }
            }
            Ok(())
        }
        Command::Address {
            wallet,
            index,
            chain,
            network,
            json,
        } => {
            let c = client::Client::locate(&data_dir)?;
            let r = c.address(&wallet, index, chain, network)?;
            if json {
                println!("{}", serde_json::json!({ "address": r["address"] }));
            } else {
                println!("{}", r["address"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::Transfer(a) => {
            let c = client::Client::locate(&data_dir)?;
            let body = serde_json::json!({
                "chain": a.chain, "to": a.to, "amount": a.amount, "asset": a.asset,
                "index": a.index, "network": a.network, "chain_id": a.chain_id, "nonce": a.nonce,
                "max_fee_per_gas": a.max_fee_per_gas,
                "max_priority_fee_per_gas": a.max_priority_fee_per_gas,
                "gas_limit": a.gas_limit,
                "utxos": (!a.utxos.is_empty()).then_some(&a.utxos),
                "fee_rate": a.fee_rate, "recent_blockhash": a.recent_blockhash, "signers": a.signers,
            });
            let key = userkey::locate(a.key.clone(), &data_dir)?;
            let r = govern::transfer(&c, &key, &a.wallet, body)?;
            print_request(&r, a.json);
            Ok(())
        }
        Command::Approve { id, key } => {
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            print_request(&govern::approve(&c, &key, &id)?, false);
            Ok(())
        }
        Command::Reject { id, reason, key } => {
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            print_request(&govern::reject(&c, &key, &id, &reason)?, false);
            Ok(())
        }
        Command::Requests(cmd) => {
            let c = client::Client::locate(&data_dir)?;
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
        Command::User(UserCommand::Keygen { id, out }) => {
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
        Command::User(UserCommand::TotpEnrol { key }) => {
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            println!(
                "{}",
                c.signed(&key, "POST", "/v1/users/totp", &serde_json::json!({}))?
            );
            Ok(())
        }
        Command::Logout => {
            client::Client::locate(&data_dir)?.logout()?;
            println!("logged out");
            Ok(())
        }
        Command::Login { code, key } => {
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            let session = c.signed(
                &key,
                "POST",
                "/v1/login",
                &serde_json::json!({ "code": code }),
            )?;
            let path = client::save_session(&data_dir, &session)?;
            println!(
                "logged in as {} ({}) until {} (unix time); reads use the session in {}",
                session["user"].as_str().unwrap_or("?"),
                joined(&session["roles"]),
                session["expires_at"],
                path.display()
            );
            Ok(())
        }
        Command::Governance(cmd) => governance(cmd, &data_dir),
        Command::Policy(PolicyCommand::Show) => {
            let c = client::Client::locate(&data_dir)?;
            let g = c.get("/v1/governance")?;
            println!("{}", serde_json::to_string_pretty(&g["policy"])?);
            Ok(())
        }
        Command::Policy(PolicyCommand::Propose { file, key }) => {
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            let changes = govern::Changes {
                policy: Some(file),
                ..Default::default()
            };
            println!("{}", govern::propose(&c, &key, &changes)?);
            Ok(())
        }
        Command::Audit(AuditCommand::Export { out }) => {
            let c = client::Client::locate(&data_dir)?;
            let export = c.get("/v1/audit/export")?;
            std::fs::write(&out, serde_json::to_string_pretty(&export)?)?;
            println!(
                "{} entries, {} checkpoints written to {}",
                export["entries"].as_array().map(Vec::len).unwrap_or(0),
                export["checkpoints"].as_array().map(Vec::len).unwrap_or(0),
                out.display()
            );
            Ok(())
        }
        Command::Audit(AuditCommand::Keys { out }) => {
            let c = client::Client::locate(&data_dir)?;
            let g = c.get("/v1/governance")?;
            let cluster: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(data_dir.join("cluster.json"))?)?;
            let rt = runtime()?;
            let mut nodes = Vec::new();
            for i in 0..cluster["nodes"].as_u64().unwrap_or(0) {
                let dir = data_dir.join(format!("node-{i}"));
                let pass = std::fs::read_to_string(dir.join("passphrase"))?;
                nodes.push(rt.block_on(custos_node::daemon::witness_public_key(
                    &dir,
                    pass.trim().as_bytes(),
                ))?);
            }
            let keys = serde_json::json!({
                "server": g["audit_key"], "nodes": nodes, "quorum": cluster["threshold"],
            });
            std::fs::write(&out, serde_json::to_string_pretty(&keys)?)?;
            println!("{keys}");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { export, keys }) => {
            println!("{}", govern::verify_audit(&export, &keys)?);
            Ok(())
        }
        Command::Psbt(PsbtCommand::Sign {
            wallet,
            network,
            signers,
            file,
            json,
            key,
        }) => {
            let bytes = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
            // Binary or base64; the request carries the canonical binary form.
            let psbt = custos_chains::psbt::parse(&bytes)?.serialize();
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            let r = govern::sign_psbt(
                &c,
                &key,
                &wallet,
                network.as_deref().unwrap_or("mainnet"),
                psbt,
                signers,
            )?;
            if r["state"] != "signed" {
                print_request(&r, json);
            } else if json {
                println!("{}", r["signed"]);
            } else if let Some(tx) = r["signed"]["raw_tx"].as_str() {
                println!("{tx}");
            } else {
                println!("{}", r["signed"]["psbt"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::Sign {
            wallet,
            message_hex,
            signers,
            path,
            hash,
            json,
            key,
        } => {
            if hex::decode(&message_hex).is_err() {
                bail!("--message-hex is not hex");
            }
            let sha256 = match hash.as_deref() {
                None => false,
                Some("sha256") => true,
                Some(other) => bail!("unknown --hash {other:?} (supported: sha256)"),
            };
            let c = client::Client::locate(&data_dir)?;
            let key = userkey::locate(key, &data_dir)?;
            let r = govern::sign_message(
                &c,
                &key,
                &wallet,
                path.as_deref().unwrap_or("m"),
                hex::decode(&message_hex)?,
                sha256,
                signers,
            )?;
            let s = &r["signed"];
            if r["state"] != "signed" {
                print_request(&r, json);
            } else if json {
                let record = serde_json::json!({
                    "scheme": s["scheme"], "public_key": s["public_key"], "message": s["message"],
                    "signature": s["signature"], "request": r["id"],
                });
                println!("{record}");
            } else {
                println!("{}", s["signature"].as_str().unwrap_or_default());
            }
            Ok(())
        }
    }
}

fn print_request(r: &serde_json::Value, json: bool) {
    if json {
        println!("{r}");
        return;
    }
    let state = r["state"].as_str().unwrap_or("?");
    match state {
        "signed" => println!("{}", r["signed"]["raw_tx"].as_str().unwrap_or_default()),
        _ => {
            println!(
                "request {}: {state} ({}; {} approval(s))",
                r["id"].as_str().unwrap_or("?"),
                r["decision"].as_str().unwrap_or("?"),
                r["approvals"].as_array().map(Vec::len).unwrap_or(0)
            );
            if let Some(e) = r["error"].as_str() {
                println!("  {e}");
            }
        }
    }
}

fn governance(cmd: GovernanceCommand, data_dir: &std::path::Path) -> Result<()> {
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
            let g = custos_server::daemon::write_genesis(&server_dir, admins, quorum)?;
            println!("{}", hex::encode(g.hash()?));
            Ok(())
        }
        GovernanceCommand::Show => {
            let c = client::Client::locate(data_dir)?;
            let g = c.get("/v1/governance")?;
            println!(
                "genesis {}\naudit key {}\nhead {} (height {})\nadmin quorum {}",
                g["genesis_hash"].as_str().unwrap_or("?"),
                g["audit_key"].as_str().unwrap_or("?"),
                g["head"].as_str().unwrap_or("?"),
                g["height"],
                g["admin_quorum"]
            );
            for (id, roles) in g["users"].as_object().into_iter().flatten() {
                println!("  {id}: {}", joined(roles));
            }
            Ok(())
        }
        GovernanceCommand::Propose { changes, key } => {
            let c = client::Client::locate(data_dir)?;
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
            };
            let r = govern::propose(&c, &key, &changes)?;
            println!(
                "proposal {}: {}",
                r["id"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        GovernanceCommand::Approve { id, key } => {
            let c = client::Client::locate(data_dir)?;
            let key = userkey::locate(key, data_dir)?;
            let r = govern::approve_proposal(&c, &key, &id)?;
            println!(
                "proposal {}: {}",
                r["id"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        GovernanceCommand::Proposals => {
            let c = client::Client::locate(data_dir)?;
            println!("{}", c.get("/v1/governance/proposals")?);
            Ok(())
        }
    }
}
