//! The server daemon: TLS identity, node listener (pinned mutual TLS), relay
//! and REST API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use custos_net::{Fingerprint, TlsIdentity};
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::hub::Hub;
use crate::store::{self, CommitteeRecord, StoreError};

/// The server's TLS certificate (public).
pub const CERT_FILE: &str = "tls-cert.der";
/// The server's TLS private key (file mode 0600). The server holds no key
/// shares; this key only authenticates it to nodes.
pub const KEY_FILE: &str = "tls-key.der";

/// Why the server stopped.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Files or sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS.
    #[error(transparent)]
    Net(#[from] custos_net::NetError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Configuration.
    #[error("server setup: {0}")]
    Setup(String),
}

/// Makes the server's TLS identity and audit-log key in `dir`; returns the
/// certificate fingerprint that nodes pin.
pub fn init(dir: &Path) -> Result<Fingerprint, ServerError> {
    std::fs::create_dir_all(dir)?;
    let tls = TlsIdentity::generate("custos-server")?;
    std::fs::write(dir.join(CERT_FILE), tls.cert_der())?;
    crate::files::write_private(&dir.join(KEY_FILE), tls.key_der())?;
    crate::files::audit_key(dir, true)?;
    Ok(tls.fingerprint())
}

/// An operator's certificate chain for the REST API (PEM), if given.
pub const API_CERT_FILE: &str = "api-cert.pem";
/// Its private key (PEM, file mode 0600).
pub const API_KEY_FILE: &str = "api-key.pem";

/// Serves the REST API with an operator's certificate chain and key (PEM)
/// instead of the server's own certificate: checks that they load as a
/// TLS 1.3 server identity, copies them into `dir` and returns the leaf's
/// fingerprint, which users pin. Nodes still pin the server's own
/// certificate.
pub fn use_api_certificate(
    dir: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Fingerprint, ServerError> {
    let chain = std::fs::read(cert)?;
    let key = Zeroizing::new(std::fs::read(key)?);
    let (_, fingerprint) = custos_net::api_server_config_pem(&chain, &key)?;
    std::fs::write(dir.join(API_CERT_FILE), &chain)?;
    crate::files::write_private(&dir.join(API_KEY_FILE), &key)?;
    Ok(fingerprint)
}

/// The governance genesis (postcard) the server takes on first start.
pub const GENESIS_FILE: &str = "genesis.bin";

/// Writes the genesis for first start (`custos governance init`, after
/// `custos server enrol`) and returns it; every node operator confirms its
/// hash. The audit key is this server's; the first committee is the
/// enrolled one, with each member's channel, witness and TLS keys, so that
/// nodes and the CLI learn them from the genesis they pinned and never
/// from the server's files.
pub fn write_genesis(
    dir: &Path,
    admins: Vec<(String, [u8; 32])>,
    admin_quorum: u32,
    demo: bool,
) -> Result<custos_governance::Genesis, ServerError> {
    let key = crate::files::audit_key(dir, false)?;
    let config = ServerConfig::load(dir)?;
    if config.members.is_empty() {
        return Err(ServerError::Setup(
            "enrol the nodes first (custos server enrol): the genesis records the committee".into(),
        ));
    }
    let committee = config.governance_committee().map_err(ServerError::Setup)?;
    let genesis = custos_governance::Genesis {
        admins,
        admin_quorum,
        audit_key: key.verifying_key().to_bytes(),
        committees: vec![committee],
        demo,
    };
    custos_governance::Governance::genesis(&genesis)
        .map_err(|e| ServerError::Setup(e.to_string()))?;
    let path = dir.join(GENESIS_FILE);
    if path.exists() {
        return Err(ServerError::Setup(format!(
            "{} exists already",
            path.display()
        )));
    }
    let bytes = postcard::to_stdvec(&genesis).map_err(|e| ServerError::Setup(e.to_string()))?;
    std::fs::write(path, bytes)?;
    Ok(genesis)
}

/// How the REST API is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiTransport {
    /// TLS 1.3 with the server's certificate (the default).
    Tls,
    /// Plain HTTP on loopback, for a TLS-terminating proxy on the host.
    PlainBehindProxy,
}

/// Runs the server until the process is stopped.
pub async fn run(dir: &Path, transport: ApiTransport) -> Result<(), ServerError> {
    let config = ServerConfig::load(dir)?;
    if config.members.is_empty() {
        return Err(ServerError::Setup(
            "no nodes enrolled yet (custos server enrol)".into(),
        ));
    }
    let api_addr: SocketAddr = config
        .api_addr
        .parse()
        .map_err(|_| ServerError::Setup("api_addr is not host:port".into()))?;
    let tls = TlsIdentity::from_der(
        std::fs::read(dir.join(CERT_FILE))?,
        Zeroizing::new(std::fs::read(dir.join(KEY_FILE))?),
    );
    let store: Arc<dyn store::Store> = Arc::from(store::connect(&config.store_url).await?);
    ensure_committee(store.as_ref(), &config).await?;

    let enrolled: HashMap<Fingerprint, custos_wire::NodePublicKey> = config
        .nodes
        .iter()
        .map(|n| n.tls_fingerprint.parse().map(|f| (f, n.public_key)))
        .collect::<Result<_, _>>()?;
    let enrolled = Arc::new(enrolled);
    let check = enrolled.clone();
    let acceptor = TlsAcceptor::from(Arc::new(custos_net::server_config(
        &tls,
        Arc::new(move |f| check.contains_key(f)),
    )?));
    let key = crate::files::audit_key(dir, false)
        .map_err(|e| ServerError::Setup(format!("audit key: {e}")))?;
    let access = Arc::new(crate::access::Access::new(&Zeroizing::new(key.to_bytes())));
    let authority = crate::authority::Authority::load(key, store.as_ref())
        .await
        .map_err(|e| ServerError::Setup(e.to_string()))?;
    if authority.genesis().await.is_none() {
        if let Ok(bytes) = std::fs::read(dir.join(GENESIS_FILE)) {
            let genesis: custos_governance::Genesis = postcard::from_bytes(&bytes)
                .map_err(|_| ServerError::Setup(format!("{GENESIS_FILE} does not decode")))?;
            if genesis.audit_key != authority.audit_public_key() {
                return Err(ServerError::Setup(format!(
                    "{GENESIS_FILE} names another audit key than this server's"
                )));
            }
            let now = custos_net::clock::unix_now();
            authority
                .init_genesis(store.as_ref(), &genesis, now)
                .await
                .map_err(|e| ServerError::Setup(e.to_string()))?;
            let hash = genesis.hash().map(hex::encode).unwrap_or_default();
            authority
                .append(
                    store.as_ref(),
                    now,
                    "server",
                    "governance-genesis",
                    &serde_json::json!({ "hash": hash }),
                )
                .await
                .map_err(|e| ServerError::Setup(e.to_string()))?;
        }
    }
    let hub = Hub::new(config.clone(), store, authority);

    let node_listener = tokio::net::TcpListener::bind(&config.node_addr).await?;
    let nodes_hub = hub.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = node_listener.accept().await else {
                continue;
            };
            let (acceptor, hub, enrolled) = (acceptor.clone(), nodes_hub.clone(), enrolled.clone());
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => return eprintln!("server: refused connection from {peer}: {e}"),
                };
                let key = custos_net::peer_fingerprint(tls.get_ref().1)
                    .and_then(|f| enrolled.get(&f).copied());
                if let Some(key) = key {
                    crate::hub::serve_node(hub, tls, key).await;
                }
            });
        }
    });
    let router = crate::api::router(hub, access);
    let tcp = tokio::net::TcpListener::bind(api_addr).await?;
    if transport == ApiTransport::PlainBehindProxy {
        if !api_addr.ip().is_loopback() {
            return Err(ServerError::Setup(
                "plain HTTP is for a proxy on this host: bind the API to loopback".into(),
            ));
        }
        eprintln!(
            "server: WARNING: the API is plain HTTP on {api_addr}; only a TLS-terminating \
             proxy on this host may reach it. Nodes on {}",
            config.node_addr
        );
        axum::serve(tcp, router).await?;
        return Ok(());
    }
    // The API over TLS with the same certificate nodes pin: users pin its
    // fingerprint too (cluster.json, CUSTOS_API_FINGERPRINT).
    // An operator's certificate, when `server init --api-cert` gave one.
    let (api_config, api_fingerprint) = if dir.join(API_CERT_FILE).exists() {
        custos_net::api_server_config_pem(
            &std::fs::read(dir.join(API_CERT_FILE))?,
            &Zeroizing::new(std::fs::read(dir.join(API_KEY_FILE))?),
        )?
    } else {
        (custos_net::api_server_config(&tls)?, tls.fingerprint())
    };
    let api_tls = TlsAcceptor::from(Arc::new(api_config));
    let api = crate::api::listener::TlsListener::spawn(tcp, api_tls)?;
    eprintln!(
        "server: API on https://{api_addr} (certificate {api_fingerprint}), nodes on {}",
        config.node_addr
    );
    axum::serve(api, router).await?;
    Ok(())
}

async fn ensure_committee(
    store: &dyn store::Store,
    config: &ServerConfig,
) -> Result<(), ServerError> {
    let members: Vec<String> = config.members.iter().map(|k| k.to_string()).collect();
    match store.committee(&config.committee_id).await? {
        Some(c) if c.threshold == config.threshold && c.nodes == members => Ok(()),
        Some(_) => Err(ServerError::Setup(
            "the stored committee differs from server.json".into(),
        )),
        None => {
            let created_at = custos_net::clock::unix_now();
            let record = CommitteeRecord {
                id: config.committee_id.clone(),
                threshold: config.threshold,
                nodes: members,
                aux_id: None,
                created_at,
            };
            Ok(store.insert_committee(&record).await?)
        }
    }
}
