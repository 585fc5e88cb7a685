//! The node's own identity: making its keys and vault (`init`), importing
//! safe primes, the witness key for auditors, and opening it all again for
//! `run`, refusing files that disagree with each other.

use std::path::Path;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;

use custos_net::TlsIdentity;
use custos_tss::ecdsa::SafePrimes;
use custos_wire::NodeKeys;
use rand_core::OsRng;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

use super::error::{NodeError, SetupError};
use super::node::NODE_WIDE;
use super::node::{Node, CERT_FILE, DB_FILE};
use super::{governance, witnessing};
use crate::config::{Enrolment, NodeConfig};
use crate::store::NodeVault;
use crate::vault::{EntryKind, KdfParams};
use custos_net::clock::unix_now as now;

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
    let witness_key = witnessing::witness_key(&keys.secret_bytes());
    Ok(Enrolment {
        name: name.to_owned(),
        public_key: keys.public(),
        witness_key: hex::encode(witness_key.verifying_key().to_bytes()),
        tls_fingerprint: tls.fingerprint().to_string(),
    })
}

/// Stores safe primes made elsewhere (e.g. on a faster offline machine), so
/// the committee's aux info does not wait for prime generation.
pub async fn import_primes(dir: &Path, passphrase: &[u8], primes: &[u8]) -> Result<(), NodeError> {
    SafePrimes::from_bytes(primes).map_err(SetupError::Primes)?;
    let config = NodeConfig::load(dir)?;
    let vault = open_vault(dir, passphrase, &config).await?;
    vault
        .put(EntryKind::SafePrimes, NODE_WIDE, 0, primes, now())
        .await?;
    Ok(())
}

/// The node's checkpoint co-signing public key (hex), for auditors' key
/// files.
pub async fn witness_public_key(dir: &Path, passphrase: &[u8]) -> Result<String, NodeError> {
    let config = NodeConfig::load(dir)?;
    let vault = open_vault(dir, passphrase, &config).await?;
    let secret = node_secret(&vault).await?;
    Ok(hex::encode(
        witnessing::witness_key(&secret).verifying_key().to_bytes(),
    ))
}

/// Opens everything `run` needs: the pinned config (checked before the
/// vault is touched, so a refused start writes nothing), the vault, the
/// channel and TLS keys, the governance chain and the witness state.
pub(super) async fn open_node(
    dir: &Path,
    passphrase: &[u8],
) -> Result<(Node, TlsConnector), NodeError> {
    let config = NodeConfig::load(dir)?;
    if !config.is_pinned() {
        return Err(SetupError::NotPinned.into());
    }
    let vault = open_vault(dir, passphrase, &config).await?;
    let secret = node_secret(&vault).await?;
    let keys = NodeKeys::from_secret_bytes(&secret).ok_or(SetupError::NodeKeyDecode)?;
    if keys.public() != config.public_key {
        return Err(SetupError::NodeKeyMismatch.into());
    }
    let tls_key = vault
        .get(EntryKind::TlsKey, NODE_WIDE, 0)
        .await?
        .ok_or(SetupError::NoTlsKey)?;
    let tls = TlsIdentity::from_der(std::fs::read(dir.join(CERT_FILE))?, tls_key);
    let connector = TlsConnector::from(Arc::new(custos_net::client_config(
        &tls,
        config.server_pin()?,
    )?));
    let witness_key = witnessing::witness_key(&secret);
    let gov = governance::load(
        &vault,
        &config,
        witness_key.verifying_key().to_bytes(),
        tls.fingerprint().0,
    )
    .await?;
    let witness = witnessing::load_state(&vault).await?;
    let node = Node {
        config,
        vault,
        keys,
        primes_ready: AtomicU8::new(0),
        gov: Mutex::new(gov),
        witness: Mutex::new(witness),
        witness_key,
        tls_fingerprint: tls.fingerprint().0,
        keygens: std::sync::Mutex::default(),
    };
    Ok((node, connector))
}

async fn open_vault(
    dir: &Path,
    passphrase: &[u8],
    config: &NodeConfig,
) -> Result<NodeVault, NodeError> {
    Ok(NodeVault::open(
        &dir.join(DB_FILE),
        passphrase,
        &config.public_key.to_string(),
    )
    .await?)
}

/// The node's channel secret, from which its witness key is derived too.
async fn node_secret(vault: &NodeVault) -> Result<Zeroizing<Vec<u8>>, NodeError> {
    Ok(vault
        .get(EntryKind::NodeKeys, NODE_WIDE, 0)
        .await?
        .ok_or(SetupError::NoNodeKey)?)
}
