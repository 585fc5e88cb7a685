//! The governance chain as this node validated it: replayed from the store
//! at start, extended only by proposals carrying an admin quorum of the
//! state before them. The server's copy is a suggestion the node checks.

use custos_governance::{Committee, Genesis, GovError, Governance, SignedProposal};
use custos_protocol::authz::GovernanceSync;

use super::error::StoredChainError;
use super::node::{GovHeld, Node};
use crate::config::NodeConfig;
use crate::store::{NodeVault, StoreError};

/// Why (part of) the server's chain was refused; sent back to the server.
#[derive(Debug, thiserror::Error)]
pub(super) enum SyncRefusal {
    /// The genesis does not hash or does not start a chain.
    #[error(transparent)]
    Genesis(GovError),
    /// The genesis is not the one the operator confirmed.
    #[error("genesis {hash} is not the one this node's operator confirmed")]
    NotConfirmed {
        /// The offered genesis hash (hex).
        hash: String,
    },
    /// The server's chain differs from the stored prefix.
    #[error("fork: the server's chain differs at height {height}")]
    Fork {
        /// First differing height.
        height: usize,
    },
    /// The server offers less than the node holds.
    #[error("stale: the server offers height {offered}, this node holds {held}")]
    Stale {
        /// The server's height.
        offered: usize,
        /// This node's height.
        held: usize,
    },
    /// A proposal with nothing to apply it to.
    #[error("no genesis")]
    NoGenesis,
    /// The genesis records this node (or the pinned committee) otherwise
    /// than this node is: whoever wrote it could speak in its name.
    #[error("the genesis does not record this node as it is: {0}")]
    NotUs(&'static str),
    /// A proposal does not apply (e.g. short of an admin quorum).
    #[error("height {height}: {source}")]
    Proposal {
        /// The proposal's height.
        height: u64,
        /// Why.
        source: GovError,
    },
    /// Encoding for the store failed.
    #[error(transparent)]
    Encode(#[from] postcard::Error),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replays the stored chain from its genesis; refuses a store whose genesis
/// is not the pinned one or does not record this node as it is (checked at
/// every start, not only when the genesis first arrived: a store edited
/// while the node was down is refused too).
pub(super) async fn load(
    vault: &NodeVault,
    config: &NodeConfig,
    witness_key: [u8; 32],
    tls: [u8; 32],
) -> Result<GovHeld, super::error::NodeError> {
    let bodies = vault.governance().await?;
    let Some((first, rest)) = bodies.split_first() else {
        return Ok(GovHeld::default());
    };
    let held = replay(first, rest, config).map_err(super::error::SetupError::from)?;
    if let Some(g) = &held.genesis {
        genesis_records_us(g, config, witness_key, tls)
            .map_err(|why| super::error::SetupError::from(StoredChainError::NotUs(why)))?;
    }
    Ok(held)
}

fn replay(
    first: &[u8],
    rest: &[Vec<u8>],
    config: &NodeConfig,
) -> Result<GovHeld, StoredChainError> {
    let genesis: Genesis =
        postcard::from_bytes(first).map_err(|_| StoredChainError::GenesisDecode)?;
    let hash = genesis.hash().map_err(StoredChainError::GenesisHash)?;
    if config.genesis.as_deref() != Some(hex::encode(hash).as_str()) {
        return Err(StoredChainError::NotPinned);
    }
    let chain = rest
        .iter()
        .map(|b| postcard::from_bytes(b).map_err(|_| StoredChainError::ProposalDecode))
        .collect::<Result<Vec<SignedProposal>, _>>()?;
    let gov = Governance::replay(&genesis, &chain)
        .map_err(|(height, source)| StoredChainError::Replay { height, source })?;
    Ok(GovHeld {
        genesis: Some(genesis),
        chain,
        gov: Some(gov),
    })
}

/// The governance at `head` along this node's chain (`None`: not on it).
pub(super) fn at_head(held: &GovHeld, head: &[u8; 32]) -> Option<Governance> {
    match &held.gov {
        Some(g) if g.head() == *head => Some(g.clone()),
        _ => Governance::at_head(held.genesis.as_ref()?, &held.chain, head),
    }
}

/// Takes what extends this node's chain from the server's copy: the genesis
/// must be the pinned one, the stored prefix must match (else the server
/// offers a fork), and each new proposal must carry an admin quorum of the
/// state before it. Each accepted proposal is stored before it is held.
pub(super) async fn sync(node: &Node, sync: &GovernanceSync) -> Result<(), SyncRefusal> {
    let hash = hex::encode(sync.genesis.hash().map_err(SyncRefusal::Genesis)?);
    if node.config.genesis.as_deref() != Some(hash.as_str()) {
        return Err(SyncRefusal::NotConfirmed { hash });
    }
    let mut held = node.gov.lock().await;
    if held.gov.is_none() {
        genesis_records_us(
            &sync.genesis,
            &node.config,
            node.witness_key.verifying_key().to_bytes(),
            node.tls_fingerprint,
        )
        .map_err(SyncRefusal::NotUs)?;
        let gov = Governance::genesis(&sync.genesis).map_err(SyncRefusal::Genesis)?;
        let body = postcard::to_stdvec(&sync.genesis)?;
        node.vault.put_governance(0, &body).await?;
        held.gov = Some(gov);
        held.genesis = Some(sync.genesis.clone());
    }
    let ours = held.chain.len();
    if let Some(h) = held.chain.iter().zip(&sync.chain).position(|(a, b)| a != b) {
        return Err(SyncRefusal::Fork { height: h + 1 });
    }
    if sync.chain.len() < ours {
        return Err(SyncRefusal::Stale {
            offered: sync.chain.len(),
            held: ours,
        });
    }
    for p in sync.chain.iter().skip(ours) {
        let Some(gov) = held.gov.as_mut() else {
            return Err(SyncRefusal::NoGenesis);
        };
        let mut next = gov.clone();
        next.apply(p).map_err(|source| SyncRefusal::Proposal {
            height: p.proposal.height,
            source,
        })?;
        let body = postcard::to_stdvec(p)?;
        node.vault.put_governance(p.proposal.height, &body).await?;
        *gov = next;
        held.chain.push(p.clone());
    }
    Ok(())
}

/// Checks the genesis committees against this node itself: exactly one,
/// the pinned committee (threshold and channel keys, in order) — a second
/// committee of made-up keys could attest wallets no node holds — and it
/// records this node's own witness key and TLS certificate. Each member
/// checks its own entry, so a genesis with a witness key the server made up
/// is refused by the node it names (and DKG, which needs every member,
/// cannot run).
fn genesis_records_us(
    g: &Genesis,
    config: &NodeConfig,
    witness_key: [u8; 32],
    tls: [u8; 32],
) -> Result<(), &'static str> {
    if g.demo && !config.demo {
        return Err("a demo genesis (admin quorum 1), but this node is not a custos up demo node");
    }
    records_us(&g.committees, config, witness_key, tls)
}

/// [`genesis_records_us`] for the committees alone.
fn records_us(
    committees: &[Committee],
    config: &NodeConfig,
    witness_key: [u8; 32],
    tls: [u8; 32],
) -> Result<(), &'static str> {
    let pinned = |c: &Committee| {
        c.threshold == config.threshold
            && c.members.len() == config.members.len()
            && c.members
                .iter()
                .zip(&config.members)
                .all(|(m, k)| m.channel_key == k.0)
    };
    match committees {
        [only] if pinned(only) => {}
        [_] | [] => return Err("its committee is not the pinned one"),
        _ => return Err("it records more than the pinned committee"),
    }
    for c in committees {
        for m in c
            .members
            .iter()
            .filter(|m| m.channel_key == config.public_key.0)
        {
            if m.witness_key != witness_key {
                return Err("another witness key");
            }
            if m.tls_fingerprint != tls {
                return Err("another TLS certificate");
            }
        }
    }
    Ok(())
}

/// The node's height and head (zeros before a genesis).
pub(super) async fn head(node: &Node) -> (u64, [u8; 32]) {
    match &node.gov.lock().await.gov {
        Some(g) => (g.height(), g.head()),
        None => (0, [0; 32]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_governance::Member;
    use custos_wire::NodePublicKey;

    fn member(i: u8) -> Member {
        Member {
            name: format!("node-{i}"),
            channel_key: [i; 32],
            witness_key: [i + 10; 32],
            tls_fingerprint: [i + 20; 32],
        }
    }

    #[test]
    fn a_genesis_must_record_this_node_as_it_is() {
        let config: NodeConfig = serde_json::from_value(serde_json::json!({
            "name": "node-1", "index": 1, "public_key": NodePublicKey([1; 32]),
            "server_addr": "127.0.0.1:1", "server_fingerprint": "00".repeat(32),
            "threshold": 2, "members": [NodePublicKey([0; 32]), NodePublicKey([1; 32])],
            "message_timeout_ms": 1000,
        }))
        .unwrap();
        let committee = Committee {
            id: "c".into(),
            threshold: 2,
            members: vec![member(0), member(1)],
        };
        let ok = |c: &Committee| records_us(std::slice::from_ref(c), &config, [11; 32], [21; 32]);
        assert!(ok(&committee).is_ok());
        let mut forged = committee.clone();
        forged.members[1].witness_key = [99; 32];
        assert!(matches!(ok(&forged), Err("another witness key")));
        let mut forged = committee.clone();
        forged.members[1].tls_fingerprint = [99; 32];
        assert!(matches!(ok(&forged), Err("another TLS certificate")));
        let mut other = committee.clone();
        other.threshold = 1;
        assert!(ok(&other).is_err());
        other = committee.clone();
        other.members.swap(0, 1);
        assert!(ok(&other).is_err());
        // A demo genesis only on a demo node (checked at sync and at load).
        let demo = Genesis {
            admins: vec![],
            admin_quorum: 1,
            audit_key: [0; 32],
            committees: vec![committee.clone()],
            demo: true,
        };
        assert!(genesis_records_us(&demo, &config, [11; 32], [21; 32])
            .unwrap_err()
            .contains("demo"));
        // A second committee (of keys no node holds) is refused too.
        let mut shadow = committee.clone();
        shadow.id = "shadow".into();
        shadow.members[0].witness_key = [77; 32];
        assert!(matches!(
            records_us(&[committee, shadow], &config, [11; 32], [21; 32]),
            Err("it records more than the pinned committee")
        ));
    }
}
