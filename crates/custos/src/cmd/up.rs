//! `custos up`: the whole system on one machine. First start makes the
//! server's and every node's identity, vault and configuration in one data
//! directory; every start runs the server and the nodes as separate
//! processes on loopback, waits until all nodes are connected, and stops
//! them all on Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use custos_node::config::NodeConfig;
use custos_node::vault::KdfParams;
use custos_server::config::{NodeEnrolment, ServerConfig};
use rand::RngCore;
use serde_json::json;

use crate::json::Field;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Number of nodes (first start only; default 3).
    #[arg(long)]
    nodes: Option<u16>,
    /// Signing threshold (first start only; default 2).
    #[arg(long)]
    threshold: Option<u16>,
    /// Create the cluster's identities and configuration, then exit.
    #[arg(long)]
    init_only: bool,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// First start: identities, vaults, configuration.
pub(crate) async fn init(data: &Path, n: u16, t: u16) -> Result<()> {
    custos_tss::Committee::new(t, n).context("--nodes / --threshold")?;
    std::fs::create_dir_all(data)?;
    let server_dir = data.join("server");
    let server_pin = custos_server::daemon::init(&server_dir)?;
    // Local demo convenience: the first admin's key file and its passphrase
    // sit in the data dir. Production admins make their own keys
    // (`custos user keygen`) and the genesis with `custos governance init`.
    let admin = crate::userkey::UserKey::generate("admin");
    let admin_pass = random_hex(24);
    crate::files::write_private(
        &data.join(crate::userkey::DEMO_ADMIN_PASSPHRASE),
        &admin_pass,
    )?;
    admin.save(
        &data.join(crate::userkey::DEMO_ADMIN_KEY),
        admin_pass.as_bytes(),
    )?;
    let (api_port, node_port) = (free_port()?, free_port()?);
    let mut enrolments = Vec::new();
    for i in 0..n {
        let dir = data.join(format!("node-{i}"));
        std::fs::create_dir_all(&dir)?;
        // Local demo only: each node's passphrase sits next to its vault.
        let passphrase = random_hex(24);
        crate::files::write_private(&dir.join("passphrase"), &passphrase)?;
        let e = custos_node::daemon::init(
            &dir,
            &format!("node-{i}"),
            passphrase.as_bytes(),
            KdfParams::default(),
        )
        .await?;
        enrolments.push(e);
    }
    let mut server = ServerConfig::empty(
        &format!("127.0.0.1:{api_port}"),
        &format!("127.0.0.1:{node_port}"),
        &format!("sqlite:{}", server_dir.join("server.db").display()),
    );
    let committee = server
        .enrol(
            enrolments
                .iter()
                .map(|e| NodeEnrolment {
                    name: e.name.clone(),
                    public_key: e.public_key,
                    witness_key: e.witness_key.clone(),
                    tls_fingerprint: e.tls_fingerprint.clone(),
                })
                .collect(),
            t,
        )
        .map_err(anyhow::Error::msg)?;
    server.save(&server_dir)?;
    // The genesis records the enrolled committee (with each node's keys).
    let genesis = custos_server::daemon::write_genesis(
        &server_dir,
        vec![("admin".into(), admin.public())],
        1,
        // The one-machine demo: one admin, quorum 1 (refused anywhere else).
        true,
    )?;
    let genesis_hash = hex::encode(genesis.hash()?);
    // One machine, one operator: the committee is pinned directly, with the
    // same check the manual path (`custos node pin`) makes.
    for (i, e) in enrolments.iter().enumerate() {
        let dir = data.join(format!("node-{i}"));
        let mut config = NodeConfig::unpinned(
            e,
            &format!("127.0.0.1:{node_port}"),
            &server_pin.to_string(),
        );
        config.pin(&committee, &committee.fingerprint())?;
        config.pin_genesis(&genesis_hash)?;
        // A demo node: it alone accepts the demo genesis (admin quorum 1).
        config.demo = true;
        config.save(&dir)?;
    }
    let cluster = json!({
        "api_url": format!("https://127.0.0.1:{api_port}"),
        // The certificate the CLI accepts (the server's, as nodes pin it).
        "api_fingerprint": server_pin.to_string(),
        "nodes": n, "threshold": t,
        // What the CLI checks the server's governance chain against.
        "genesis": genesis_hash,
    });
    std::fs::write(
        data.join("cluster.json"),
        serde_json::to_string_pretty(&cluster)?,
    )?;
    Ok(())
}

/// Starts the server and every node of the cluster in `data` as child
/// processes and waits until all nodes are connected.
pub(crate) async fn start(data: &Path) -> Result<(Vec<tokio::process::Child>, u16, String)> {
    let cluster: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("cluster.json"))?)?;
    let n = cluster.at("nodes").as_u64().unwrap_or(0) as u16;
    let api_url = cluster
        .at("api_url")
        .as_str()
        .context("cluster.json")?
        .to_owned();
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    let mut spawn = |args: Vec<String>| -> Result<()> {
        let child = tokio::process::Command::new(&exe)
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
        Ok(())
    };
    spawn(vec![
        "server".into(),
        "run".into(),
        "--dir".into(),
        data.join("server").display().to_string(),
    ])?;
    for i in 0..n {
        let dir = data.join(format!("node-{i}"));
        spawn(vec![
            "node".into(),
            "run".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--passphrase-file".into(),
            dir.join("passphrase").display().to_string(),
        ])?;
    }
    let client = crate::client::Client::locate(data)?;
    let started = Instant::now();
    loop {
        if let Ok(h) = client.health() {
            if h.at("ready").as_bool() == Some(true) {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the cluster did not come up within 60 s");
        }
        for c in children.iter_mut() {
            if let Some(status) = c.try_wait()? {
                bail!("a Custos process exited during start-up ({status})");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((children, n, api_url))
}

/// `custos up`, with the cluster in `data`.
pub fn run(args: UpArgs, data: PathBuf) -> Result<()> {
    super::runtime()?.block_on(up(args, data))
}

async fn up(args: UpArgs, data: PathBuf) -> Result<()> {
    let cluster_file = data.join("cluster.json");
    if cluster_file.exists() {
        let cluster: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cluster_file)?)?;
        let (n, t) = (
            cluster.at("nodes").as_u64().unwrap_or(0) as u16,
            cluster.at("threshold").as_u64().unwrap_or(0) as u16,
        );
        if args.nodes.is_some_and(|x| x != n) || args.threshold.is_some_and(|x| x != t) {
            bail!("{} already holds a {t}-of-{n} cluster; use another --data-dir for a different shape", data.display());
        }
        eprintln!("reusing the {t}-of-{n} cluster in {}", data.display());
    } else {
        let (n, t) = (args.nodes.unwrap_or(3), args.threshold.unwrap_or(2));
        eprintln!("creating a {t}-of-{n} cluster in {}", data.display());
        init(&data, n, t).await?;
    }
    if args.init_only {
        return Ok(());
    }
    let (mut children, n, api_url) = start(&data).await?;
    let totp_file = data.join(crate::userkey::DEMO_ADMIN_TOTP);
    if !totp_file.exists() {
        // Local demo convenience: the first admin's TOTP secret next to its key.
        let c = crate::client::Client::locate(&data)?;
        let admin = crate::userkey::locate(None, &data)?;
        let e = c.signed(&admin, "POST", "/v1/users/totp", &json!({}))?;
        crate::files::write_private(&totp_file, e.at("uri").as_str().unwrap_or_default())?;
    }
    println!("API: {api_url} (TLS; certificate pinned in cluster.json)");
    println!(
        "Demo admin key: {} (passphrase in {}; a local-demo convenience: in production every user makes their own with `custos user keygen`)",
        data.join(crate::userkey::DEMO_ADMIN_KEY).display(),
        data.join(crate::userkey::DEMO_ADMIN_PASSPHRASE).display()
    );
    println!(
        "Demo admin TOTP (for `custos login --code`): {} (local-demo convenience)",
        totp_file.display()
    );
    println!("Add users and a policy: custos governance propose --add-user ID:KEYHEX:initiator --policy policy.json (see README)");
    println!("Custos is ready: 1 server and {n} nodes on loopback. Stop with Ctrl-C.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let exited = async {
        loop {
            for c in children.iter_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return status;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        _ = term.recv() => eprintln!("stopping"),
        status = exited => eprintln!("a Custos process exited ({status}); stopping the others"),
    }
    // Nodes first, so none logs a reconnect attempt to a stopped server.
    for mut c in children.into_iter().rev() {
        let _ = c.kill().await;
    }
    Ok(())
}
