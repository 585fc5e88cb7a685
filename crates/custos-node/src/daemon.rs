//! The node daemon: `init` makes the node's keys and vault; `run` dials the
//! server over pinned mutual TLS, runs the jobs it is given, stores shares in
//! the vault and reconnects when the connection drops. The node accepts no
//! inbound connections.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use custos_net::TlsIdentity;
use custos_protocol::control::{Job, JobKind, NodeMessage, Outcome, ServerMessage};
use custos_tss::ecdsa::{AuxInfo, Presignature, SafePrimes};
use custos_tss::progress::{Progress, ProgressEvent};
use custos_tss::{DerivationPath, KeyShare, Scheme};
use custos_wire::{Frame, NodeKeys};
use rand_core::OsRng;
use tokio::sync::{mpsc, Mutex};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::config::{Enrolment, NodeConfig};
use crate::job::{run_job, Inbound, JobInput, JobOutput};
use crate::recheck::{check_request, LedgerRow};
use crate::store::{JournalEntry, NodeVault, StoreError, JOURNAL_RUNNING};
use crate::vault::{EntryKind, KdfParams};
use crate::witness::WitnessState;
use custos_governance::{Genesis, Governance, SignedProposal};
use custos_protocol::authz::{GovernanceSync, WitnessRequest};

/// The node's SQLite file in its directory.
pub const DB_FILE: &str = "node.db";
/// The node's TLS certificate (public) in its directory.
pub const CERT_FILE: &str = "tls-cert.der";
/// Key id used for node-wide vault entries.
const NODE_WIDE: [u8; 32] = [0; 32];
/// Deadline per message in aux-info sessions: covers a peer that is still
/// generating its safe primes.
const AUX_MESSAGE_TIMEOUT: Duration = Duration::from_secs(600);
/// Frames for sessions not started yet (a peer can be a round ahead) are
/// kept up to this many bytes in all; a server that floods us gets dropped frames,
/// not our memory.
const MAX_PENDING_BYTES: usize = 16 << 20;

/// Why the node stopped or refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store or vault refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files or sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS or framing.
    #[error(transparent)]
    Net(#[from] custos_net::NetError),
    /// Something in the node's own files is inconsistent.
    #[error("node setup: {0}")]
    Setup(String),
}

/// Creates a node in `dir`: channel keys, TLS identity and vault.
pub async fn init(
    dir: &Path,
    name: &str,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<Enrolment, NodeError> {
    std::fs::create_dir_all(dir)?;
    let keys = NodeKeys::generate(&mut OsRng);
    let tls = TlsIdentity::generate(name)?;
    let vault = NodeVault::create(
        &dir.join(DB_FILE),
        passphrase,
        params,
        &keys.public().to_string(),
    )
    .await?;
    let now = now();
    vault
        .put(EntryKind::NodeKeys, NODE_WIDE, 0, &keys.secret_bytes(), now)
        .await?;
    vault
        .put(EntryKind::TlsKey, NODE_WIDE, 0, tls.key_der(), now)
        .await?;
    std::fs::write(dir.join(CERT_FILE), tls.cert_der())?;
    Ok(Enrolment {
        name: name.to_owned(),
        public_key: keys.public(),
        tls_fingerprint: tls.fingerprint().to_string(),
    })
}

/// Stores safe primes made elsewhere (e.g. on a faster offline machine), so
/// the committee's aux info does not wait for prime generation.
pub async fn import_primes(dir: &Path, passphrase: &[u8], primes: &[u8]) -> Result<(), NodeError> {
    SafePrimes::from_bytes(primes).map_err(|e| NodeError::Setup(format!("primes: {e}")))?;
    let config = NodeConfig::load(dir)?;
    let vault = NodeVault::open(
        &dir.join(DB_FILE),
        passphrase,
        &config.public_key.to_string(),
    )
    .await?;
    vault
        .put(EntryKind::SafePrimes, NODE_WIDE, 0, primes, now())
        .await?;
    Ok(())
}

use custos_net::clock::unix_now as now;

struct Node {
    config: NodeConfig,
    vault: NodeVault,
    keys: NodeKeys,
    /// Safe primes finished by the background generator.
    primes_ready: AtomicU8,
    /// The governance chain this node validated.
    gov: Mutex<GovHeld>,
    /// The node as audit witness.
    witness: Mutex<WitnessState>,
    /// Ed25519 key for checkpoint co-signatures.
    witness_key: ed25519_dalek::SigningKey,
}

/// The governance chain as the node holds it.
#[derive(Default)]
struct GovHeld {
    chain: Vec<SignedProposal>,
    gov: Option<Governance>,
}

/// Runs the node until the process is stopped.
pub async fn run(dir: &Path, passphrase: &[u8]) -> Result<(), NodeError> {
    let config = NodeConfig::load(dir)?;
    if !config.is_pinned() {
        return Err(NodeError::Setup(
            "no committee pinned yet (custos node pin)".into(),
        ));
    }
    let vault = NodeVault::open(
        &dir.join(DB_FILE),
        passphrase,
        &config.public_key.to_string(),
    )
    .await?;
    let secret = vault
        .get(EntryKind::NodeKeys, NODE_WIDE, 0)
        .await?
        .ok_or(NodeError::Setup("vault has no node key".into()))?;
    let keys = NodeKeys::from_secret_bytes(&secret)
        .ok_or(NodeError::Setup("node key does not decode".into()))?;
    if keys.public() != config.public_key {
        return Err(NodeError::Setup("node key does not match node.json".into()));
    }
    let tls_key = vault
        .get(EntryKind::TlsKey, NODE_WIDE, 0)
        .await?
        .ok_or(NodeError::Setup("vault has no TLS key".into()))?;
    let tls = TlsIdentity::from_der(std::fs::read(dir.join(CERT_FILE))?, tls_key);
    let connector = TlsConnector::from(Arc::new(custos_net::client_config(
        &tls,
        config.server_pin()?,
    )?));
    let witness_key = witness_key(&secret);
    let gov = load_governance(&vault, &config).await?;
    let witness = match vault.witness_state().await? {
        Some(bytes) => postcard::from_bytes(&bytes)
            .ok()
            .filter(|w: &WitnessState| w.frontier.is_well_formed())
            .ok_or(NodeError::Setup(
                "stored witness state does not decode".into(),
            ))?,
        None => WitnessState::default(),
    };
    let node = Arc::new(Node {
        config,
        vault,
        keys,
        primes_ready: AtomicU8::new(0),
        gov: Mutex::new(gov),
        witness: Mutex::new(witness),
        witness_key,
    });
    tokio::spawn(ensure_primes(node.clone()));
    loop {
        match serve(&node, &connector).await {
            Ok(()) => eprintln!(
                "{}: server closed the connection; reconnecting",
                node.config.name
            ),
            Err(e) => eprintln!("{}: {e}; reconnecting", node.config.name),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The node's Ed25519 checkpoint co-signing key, derived from its channel
/// secret under a domain tag (one secret to protect, two keys).
fn witness_key(secret: &[u8]) -> ed25519_dalek::SigningKey {
    use sha2::Digest;
    let seed: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        sha2::Sha256::new()
            .chain_update(b"custos/node/witness-key/v1")
            .chain_update(secret)
            .finalize()
            .into(),
    );
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// The node's checkpoint co-signing public key (hex), for auditors' key
/// files.
pub async fn witness_public_key(dir: &Path, passphrase: &[u8]) -> Result<String, NodeError> {
    let config = NodeConfig::load(dir)?;
    let vault = NodeVault::open(
        &dir.join(DB_FILE),
        passphrase,
        &config.public_key.to_string(),
    )
    .await?;
    let secret = vault
        .get(EntryKind::NodeKeys, NODE_WIDE, 0)
        .await?
        .ok_or(NodeError::Setup("vault has no node key".into()))?;
    Ok(hex::encode(witness_key(&secret).verifying_key().to_bytes()))
}

/// Replays the stored chain from its genesis; refuses a store whose genesis
/// is not the pinned one.
async fn load_governance(vault: &NodeVault, config: &NodeConfig) -> Result<GovHeld, NodeError> {
    let bodies = vault.governance().await?;
    let Some((first, rest)) = bodies.split_first() else {
        return Ok(GovHeld::default());
    };
    let bad = |what: &str| NodeError::Setup(format!("stored governance chain: {what}"));
    let genesis: Genesis = postcard::from_bytes(first).map_err(|_| bad("genesis"))?;
    let hash = genesis.hash().map_err(|e| bad(&e.to_string()))?;
    if config.genesis.as_deref() != Some(hex::encode(hash).as_str()) {
        return Err(bad("genesis is not the pinned one"));
    }
    let chain = rest
        .iter()
        .map(|b| postcard::from_bytes(b).map_err(|_| bad("proposal")))
        .collect::<Result<Vec<SignedProposal>, _>>()?;
    let gov =
        Governance::replay(&genesis, &chain).map_err(|(h, e)| bad(&format!("height {h}: {e}")))?;
    Ok(GovHeld {
        chain,
        gov: Some(gov),
    })
}

/// Takes what extends this node's chain from the server's copy: the genesis
/// must be the pinned one, the stored prefix must match (else the server
/// offers a fork), and each new proposal must carry an admin quorum of the
/// state before it. Returns why part of it was refused, if it was.
async fn sync_governance(node: &Node, sync: &GovernanceSync) -> Option<String> {
    let hash = match sync.genesis.hash() {
        Ok(h) => hex::encode(h),
        Err(e) => return Some(e.to_string()),
    };
    if node.config.genesis.as_deref() != Some(hash.as_str()) {
        return Some(format!(
            "genesis {hash} is not the one this node's operator confirmed"
        ));
    }
    let mut held = node.gov.lock().await;
    if held.gov.is_none() {
        let gov = match Governance::genesis(&sync.genesis) {
            Ok(g) => g,
            Err(e) => return Some(e.to_string()),
        };
        let body = match postcard::to_stdvec(&sync.genesis) {
            Ok(b) => b,
            Err(e) => return Some(e.to_string()),
        };
        if let Err(e) = node.vault.put_governance(0, &body).await {
            return Some(e.to_string());
        }
        held.gov = Some(gov);
    }
    let ours = held.chain.len();
    if let Some(h) = held.chain.iter().zip(&sync.chain).position(|(a, b)| a != b) {
        return Some(format!(
            "fork: the server's chain differs at height {}",
            h + 1
        ));
    }
    if sync.chain.len() < ours {
        return Some(format!(
            "stale: the server offers height {}, this node holds {ours}",
            sync.chain.len()
        ));
    }
    for p in sync.chain.iter().skip(ours) {
        let Some(gov) = held.gov.as_mut() else {
            return Some("no genesis".into());
        };
        let mut next = gov.clone();
        if let Err(e) = next.apply(p) {
            return Some(format!("height {}: {e}", p.proposal.height));
        }
        let stored = match postcard::to_stdvec(p) {
            Ok(body) => node.vault.put_governance(p.proposal.height, &body).await,
            Err(e) => return Some(e.to_string()),
        };
        if let Err(e) = stored {
            return Some(e.to_string());
        }
        *gov = next;
        held.chain.push(p.clone());
    }
    None
}

/// Checks and co-signs a checkpoint; the new frontier and ledger rows are
/// stored before the co-signature leaves the node.
async fn witness_checkpoint(
    node: &Node,
    req: &WitnessRequest,
) -> Result<([u8; 32], Vec<u8>), String> {
    let audit_key = {
        let held = node.gov.lock().await;
        let gov = held
            .gov
            .as_ref()
            .ok_or("this node holds no governance chain yet")?;
        ed25519_dalek::VerifyingKey::from_bytes(&gov.genesis_audit_key())
            .map_err(|_| "the genesis audit key is not an Ed25519 key".to_owned())?
    };
    let mut state = node.witness.lock().await;
    let done = crate::witness::witness(&state, req, &audit_key, &node.witness_key, now())
        .map_err(|e| e.to_string())?;
    let body = postcard::to_stdvec(&done.state).map_err(|e| e.to_string())?;
    let rows = done
        .ledger
        .iter()
        .map(|r| {
            serde_json::to_string(&r.record)
                .map(|json| (r.seq, r.record.request_id.clone(), json))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    node.vault
        .put_witness(&body, &rows, now())
        .await
        .map_err(|e| e.to_string())?;
    *state = done.state;
    Ok((node.witness_key.verifying_key().to_bytes(), done.signature))
}

/// A request the node decided to sign, not yet recorded as signed.
struct Claim {
    request_id: [u8; 16],
    hash: [u8; 32],
}

impl Claim {
    /// The durable record that the request is being signed, written before
    /// any signing: a request is signed once, whatever the server replays.
    async fn commit(self, node: &Node) -> Result<(), String> {
        node.vault
            .claim_request(self.request_id, self.hash, now())
            .await
            .map_err(|e| e.to_string())
    }
}

/// The node's own decision on a signing job (DESIGN step 4).
async fn authorize(node: &Node, job: &Job) -> Result<Claim, String> {
    let Some((request, auth)) = job.kind.request() else {
        return Err("not a signing job".into());
    };
    let request = request.map_err(|e| format!("refused: {e}"))?;
    if request.key_id() != job_key_id(&job.kind) {
        return Err("refused: the request names another key".into());
    }
    let ledger = ledger(node).await?;
    {
        let held = node.gov.lock().await;
        check_request(held.gov.as_ref(), &request, auth, now(), &ledger)
            .map_err(|e| format!("refused: {e}"))?;
    }
    Ok(Claim {
        request_id: request.request_id(),
        hash: request.hash().map_err(|e| e.to_string())?,
    })
}

fn job_key_id(kind: &JobKind) -> &str {
    match kind {
        JobKind::Sign { key_id, .. }
        | JobKind::Presign { key_id, .. }
        | JobKind::SignPresigned { key_id, .. }
        | JobKind::SignTransfer { key_id, .. }
        | JobKind::SignPsbt { key_id, .. } => key_id,
        JobKind::AuxInfo | JobKind::Keygen { .. } => "",
    }
}

/// The node's ledger of witnessed signings.
async fn ledger(node: &Node) -> Result<Vec<LedgerRow>, String> {
    node.vault
        .ledger()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(seq, json, witnessed_at)| {
            serde_json::from_str(&json)
                .map(|record| LedgerRow {
                    seq,
                    record,
                    witnessed_at,
                })
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Generates safe primes in the background if the vault has none.
async fn ensure_primes(node: Arc<Node>) {
    let have = matches!(
        node.vault.get(EntryKind::SafePrimes, NODE_WIDE, 0).await,
        Ok(Some(_))
    );
    let have_aux = matches!(
        node.vault.get(EntryKind::AuxInfo, NODE_WIDE, 0).await,
        Ok(Some(_))
    );
    if have || have_aux {
        return;
    }
    let name = node.config.name.clone();
    let counter = node.clone();
    let made = tokio::task::spawn_blocking(move || {
        SafePrimes::generate(&mut OsRng, |d, t| {
            counter
                .primes_ready
                .store(u8::try_from(d).unwrap_or(u8::MAX), Ordering::Relaxed);
            eprintln!("{name}: safe prime {d}/{t} ready")
        })
    })
    .await;
    match made {
        Ok(primes) => {
            if let Err(e) = node
                .vault
                .put(
                    EntryKind::SafePrimes,
                    NODE_WIDE,
                    0,
                    &primes.to_bytes(),
                    now(),
                )
                .await
            {
                eprintln!("{}: storing safe primes: {e}", node.config.name);
            }
        }
        Err(e) => eprintln!("{}: prime generation failed: {e}", node.config.name),
    }
}

type Jobs = Arc<Mutex<HashMap<[u8; 32], std_mpsc::Sender<Inbound>>>>;

async fn serve(node: &Arc<Node>, connector: &TlsConnector) -> Result<(), NodeError> {
    let tcp = tokio::net::TcpStream::connect(&node.config.server_addr).await?;
    tcp.set_nodelay(true)?;
    let name =
        ServerName::try_from("custos-server").map_err(|e| NodeError::Setup(e.to_string()))?;
    let tls = connector.connect(name, tcp).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (out_tx, mut out_rx) = mpsc::channel::<NodeMessage>(1024);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if custos_net::write_msg(&mut wr, &msg).await.is_err() {
                break;
            }
        }
    });
    let hello = NodeMessage::Hello {
        node: node.keys.public(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    out_tx
        .send(hello)
        .await
        .map_err(|_| NodeError::Setup("writer stopped".into()))?;
    eprintln!(
        "{}: connected to {}",
        node.config.name, node.config.server_addr
    );
    let jobs: Jobs = Arc::default();
    let mut pending: HashMap<[u8; 32], Vec<Frame>> = HashMap::new();
    let mut pending_bytes = 0usize;
    let result = loop {
        let msg: ServerMessage = match custos_net::read_msg(&mut rd).await {
            Ok(m) => m,
            Err(e) => break Err(e.into()),
        };
        match msg {
            ServerMessage::Start(job) => {
                let (tx, rx) = std_mpsc::channel();
                for frame in pending.remove(&job.session).unwrap_or_default() {
                    pending_bytes = pending_bytes.saturating_sub(frame.ciphertext.len());
                    let _ = tx.send(Inbound::Frame(frame));
                }
                jobs.lock().await.insert(job.session, tx);
                tokio::spawn(handle_job(
                    node.clone(),
                    *job,
                    rx,
                    out_tx.clone(),
                    jobs.clone(),
                ));
            }
            ServerMessage::Relay { frame } => {
                let session = frame.header.session;
                match jobs.lock().await.get(&session) {
                    Some(tx) => {
                        let _ = tx.send(Inbound::Frame(frame));
                    }
                    None if pending_bytes + frame.ciphertext.len() <= MAX_PENDING_BYTES => {
                        pending_bytes += frame.ciphertext.len();
                        pending.entry(session).or_default().push(frame)
                    }
                    None => {}
                }
            }
            ServerMessage::Governance(sync) => {
                let refused = sync_governance(node, &sync).await;
                if let Some(why) = &refused {
                    eprintln!("{}: governance refused: {why}", node.config.name);
                }
                let (height, head) = match &node.gov.lock().await.gov {
                    Some(g) => (g.height(), g.head()),
                    None => (0, [0; 32]),
                };
                let _ = out_tx
                    .send(NodeMessage::GovernanceHead {
                        height,
                        head,
                        refused,
                    })
                    .await;
            }
            ServerMessage::Witness(req) => {
                let result = witness_checkpoint(node, &req).await;
                if let Err(why) = &result {
                    eprintln!("{}: checkpoint refused: {why}", node.config.name);
                }
                let _ = out_tx
                    .send(NodeMessage::Witnessed {
                        size: req.checkpoint.size,
                        result,
                    })
                    .await;
            }
            ServerMessage::Abort { session, reason } => {
                for frame in pending.remove(&session).unwrap_or_default() {
                    pending_bytes = pending_bytes.saturating_sub(frame.ciphertext.len());
                }
                if let Some(tx) = jobs.lock().await.get(&session) {
                    let _ = tx.send(Inbound::Abort(reason));
                }
            }
        }
    };
    writer.abort();
    // Jobs of this connection cannot reach their peers any more.
    for (_, tx) in jobs.lock().await.drain() {
        let _ = tx.send(Inbound::Abort("connection to the server lost".into()));
    }
    result
}

async fn load_input(node: &Node, job: &Job) -> Result<JobInput, String> {
    let v = &node.vault;
    let aux = async {
        match v
            .get(EntryKind::AuxInfo, NODE_WIDE, 0)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(bytes) => AuxInfo::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    };
    match &job.kind {
        JobKind::AuxInfo => {
            if v.get(EntryKind::AuxInfo, NODE_WIDE, 0)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
            {
                return Err("this node already holds aux info for its committee".into());
            }
            // Wait for background prime generation (a few minutes at most).
            for _ in 0..600 {
                if let Some(bytes) = v
                    .get(EntryKind::SafePrimes, NODE_WIDE, 0)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return SafePrimes::from_bytes(&bytes)
                        .map(JobInput::Primes)
                        .map_err(|e| e.to_string());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err("safe primes are not ready".into())
        }
        JobKind::Keygen { scheme } => {
            let aux = aux.await?;
            if *scheme == Scheme::EcdsaSecp256k1 && aux.is_none() {
                return Err("no aux info for ECDSA keygen".into());
            }
            Ok(JobInput::Aux(aux))
        }
        JobKind::Presign { key_id, .. } => {
            let aux = aux.await?;
            load_share(v, key_id, aux.as_ref())
                .await
                .map(|s| JobInput::Share(Box::new(s)))
        }
        JobKind::Sign { key_id, .. }
        | JobKind::SignPsbt { key_id, .. }
        | JobKind::SignTransfer { key_id, .. } => {
            authorize(node, job).await?.commit(node).await?;
            let aux = aux.await?;
            load_share(v, key_id, aux.as_ref())
                .await
                .map(|s| JobInput::Share(Box::new(s)))
        }
        JobKind::SignPresigned {
            key_id,
            presignature,
            ..
        } => {
            let claim = authorize(node, job).await?;
            let aux = aux.await?;
            let share = load_share(v, key_id, aux.as_ref()).await?;
            let KeyShare::Ecdsa(ecdsa) = &share else {
                return Err("presignatures are for ECDSA keys".into());
            };
            let id = parse_id(presignature)?;
            // Durable before anything is computed from it: a crash from here
            // on leaves it used, never reusable.
            let bytes = v
                .take_presignature(id, now())
                .await
                .map_err(|e| e.to_string())?;
            // Claimed only once the presignature is ours: a refused one
            // leaves the request to the server's full-signing fallback.
            claim.commit(node).await?;
            let presig = Presignature::from_bytes(&bytes, ecdsa).map_err(|e| e.to_string())?;
            Ok(JobInput::Presigned(Box::new(share), Box::new(presig)))
        }
    }
}

/// Tells the server while this node's safe primes are still being made
/// (minutes on first use), until they are ready or ten minutes have passed.
async fn wait_for_primes(node: &Node, session: [u8; 32], out: &mpsc::Sender<NodeMessage>) {
    let mut last = None;
    for _ in 0..600 {
        if matches!(
            node.vault.get(EntryKind::SafePrimes, NODE_WIDE, 0).await,
            Ok(Some(_)) | Err(_)
        ) {
            return;
        }
        let ready = node.primes_ready.load(Ordering::Relaxed);
        if last != Some(ready) {
            last = Some(ready);
            let note = format!(
                "generating safe primes: {ready} of {} ready",
                SafePrimes::COUNT
            );
            let _ = out.send(NodeMessage::Progress { session, note }).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn parse_id(hex_id: &str) -> Result<[u8; 32], String> {
    hex::decode(hex_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "bad id".to_owned())
}

async fn load_share(
    v: &NodeVault,
    key_id: &str,
    aux: Option<&AuxInfo>,
) -> Result<KeyShare, String> {
    let bytes = v
        .get(EntryKind::KeyShare, parse_id(key_id)?, 0)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no share for this key")?;
    KeyShare::from_bytes(&bytes, aux).map_err(|e| e.to_string())
}

async fn store_output(node: &Node, out: JobOutput) -> Result<Outcome, String> {
    let v = &node.vault;
    match out {
        JobOutput::Aux(aux) => {
            let bytes = aux.to_bytes().map_err(|e| e.to_string())?;
            v.put(EntryKind::AuxInfo, NODE_WIDE, 0, &bytes, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(Outcome::AuxInfo {
                aux_id: hex::encode(aux.aux_id()),
            })
        }
        JobOutput::Share(share) => {
            let bytes = share.to_bytes().map_err(|e| e.to_string())?;
            v.put(EntryKind::KeyShare, share.key_id().0, 0, &bytes, now())
                .await
                .map_err(|e| e.to_string())?;
            let public_key = share
                .public_key(&DerivationPath::root())
                .map_err(|e| e.to_string())?;
            let (root_key, chain_code) = share.root_public().map_err(|e| e.to_string())?;
            Ok(Outcome::Keygen {
                key_id: share.key_id().to_string(),
                public_key: hex::encode(public_key),
                root_key: hex::encode(root_key),
                chain_code: hex::encode(chain_code),
            })
        }
        JobOutput::Presignature(p) => {
            let bytes = p.to_bytes().map_err(|e| e.to_string())?;
            v.put_presignature(p.id(), &bytes, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(Outcome::Presignature {
                id: hex::encode(p.id()),
            })
        }
        JobOutput::Signatures(sigs) => Ok(Outcome::Signatures {
            signatures: sigs.iter().map(|s| hex::encode(&s.bytes)).collect(),
        }),
        JobOutput::Signature(sig) => Ok(Outcome::Signature {
            signature: hex::encode(sig.bytes),
        }),
    }
}

async fn handle_job(
    node: Arc<Node>,
    job: Job,
    rx: std_mpsc::Receiver<Inbound>,
    out: mpsc::Sender<NodeMessage>,
    jobs: Jobs,
) {
    let session = job.session;
    let journal = match node.vault.journal_begin(&journal_entry(&job)).await {
        Ok(seq) => Some(seq),
        Err(e) => {
            eprintln!("{}: journal: {e}", node.config.name);
            None
        }
    };
    let outcome = match journal {
        None => Outcome::Failed {
            error: "the node cannot write its journal".into(),
            culprits: vec![],
        },
        Some(_) => run_journalled(&node, job, rx, &out).await,
    };
    if let Some(seq) = journal {
        let text = serde_json::to_string(&outcome).unwrap_or_default();
        if let Err(e) = node.vault.journal_end(seq, &text, now()).await {
            eprintln!("{}: journal: {e}", node.config.name);
        }
    }
    jobs.lock().await.remove(&session);
    let _ = out.send(NodeMessage::Done { session, outcome }).await;
}

/// What the journal says about a job before it runs.
fn journal_entry(job: &Job) -> JournalEntry {
    use sha2::Digest;
    let digest = |m: &[u8]| hex::encode(sha2::Sha256::digest(m));
    let (key_id, detail) = match &job.kind {
        JobKind::AuxInfo => (None, serde_json::json!({})),
        JobKind::Keygen { scheme } => (None, serde_json::json!({ "scheme": scheme.to_string() })),
        JobKind::Sign {
            key_id,
            signers,
            path,
            message,
            sha256,
            ..
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "path": path,
                "message_sha256": digest(message),
                "hash_at_node": sha256,
            }),
        ),
        JobKind::SignTransfer {
            key_id,
            signers,
            intent,
            ..
        } => {
            let parsed = custos_chains::TransferIntent::from_bytes(intent).ok();
            (
                Some(key_id.clone()),
                serde_json::json!({
                    "signers": signers,
                    "intent_sha256": parsed.as_ref().and_then(|i| i.hash().ok()).map(hex::encode),
                    "intent": parsed,
                }),
            )
        }
        JobKind::SignPsbt {
            key_id,
            signers,
            network,
            psbt,
            ..
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "network": network,
                "psbt_sha256": digest(psbt),
            }),
        ),
        JobKind::Presign { key_id, signers } => (
            Some(key_id.clone()),
            serde_json::json!({ "signers": signers }),
        ),
        JobKind::SignPresigned {
            key_id,
            signers,
            presignature,
            message,
            ..
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "presignature": presignature,
                "message_sha256": digest(message),
            }),
        ),
    };
    // Who authorised a signing, as the node checked it.
    let mut detail = detail;
    if let (Some((request, auth)), Some(map)) = (job.kind.request(), detail.as_object_mut()) {
        let request = request.ok();
        map.insert(
            "request_id".into(),
            request.as_ref().map(|r| hex::encode(r.request_id())).into(),
        );
        map.insert(
            "wallet".into(),
            request.as_ref().map(|r| r.wallet().to_owned()).into(),
        );
        map.insert("initiator".into(), auth.initiator.clone().into());
        map.insert(
            "approvers".into(),
            auth.approvals
                .iter()
                .map(|(u, _)| u.clone())
                .collect::<Vec<_>>()
                .into(),
        );
        map.insert("governance_head".into(), hex::encode(auth.head).into());
    }
    let t = now();
    JournalEntry {
        session: hex::encode(job.session),
        kind: job.kind.name().to_owned(),
        key_id,
        detail: detail.to_string(),
        outcome: JOURNAL_RUNNING.to_owned(),
        started_at: t,
        ended_at: t,
    }
}

async fn run_journalled(
    node: &Arc<Node>,
    job: Job,
    rx: std_mpsc::Receiver<Inbound>,
    out: &mpsc::Sender<NodeMessage>,
) -> Outcome {
    if job.kind == JobKind::AuxInfo {
        wait_for_primes(node, job.session, out).await;
    }
    match load_input(node, &job).await {
        Err(error) => Outcome::Failed {
            error,
            culprits: vec![],
        },
        Ok(input) => {
            let worker = node.clone();
            let send_out = out.clone();
            let progress_out = out.clone();
            let session = job.session;
            let ran = tokio::task::spawn_blocking(move || {
                let c = &worker.config;
                // Aux-info peers may still be generating safe primes (minutes).
                let timeout = match job.kind {
                    JobKind::AuxInfo => {
                        Duration::from_millis(c.message_timeout_ms).max(AUX_MESSAGE_TIMEOUT)
                    }
                    _ => Duration::from_millis(c.message_timeout_ms),
                };
                let send = |frame| {
                    send_out
                        .blocking_send(NodeMessage::Relay { frame })
                        .map_err(|e| e.to_string())
                };
                let progress: Option<Box<dyn Progress>> = match job.kind {
                    JobKind::AuxInfo => Some(Box::new(move |e: ProgressEvent| {
                        let note = match e {
                            ProgressEvent::Round { number, name } => match name {
                                Some(n) => format!("aux info round {number} ({n})"),
                                None => format!("aux info round {number}"),
                            },
                            ProgressEvent::Stage(s) => format!("aux info: {s}"),
                            ProgressEvent::Finished => "aux info done".into(),
                        };
                        // Progress is best effort: never block the protocol on it.
                        let _ = progress_out.try_send(NodeMessage::Progress { session, note });
                    })),
                    _ => None,
                };
                run_job(
                    &job,
                    &worker.keys,
                    &c.members,
                    c.threshold,
                    input,
                    rx,
                    send,
                    timeout,
                    progress,
                    &mut OsRng,
                )
            })
            .await;
            match ran {
                Ok(Ok(output)) => {
                    store_output(node, output)
                        .await
                        .unwrap_or_else(|error| Outcome::Failed {
                            error,
                            culprits: vec![],
                        })
                }
                Ok(Err(e)) => Outcome::Failed {
                    error: e.to_string(),
                    culprits: e.culprits(),
                },
                Err(e) => Outcome::Failed {
                    error: format!("job panicked: {e}"),
                    culprits: vec![],
                },
            }
        }
    }
}
