//! Safe primes for the committee's aux info: generated once in the
//! background (minutes) unless imported or no longer needed, and waited for
//! by an aux-info job, which tells the server how far generation got.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use custos_protocol::control::NodeMessage;
use custos_tss::ecdsa::SafePrimes;
use rand_core::OsRng;
use tokio::sync::mpsc;

use super::error::JobFailure;
use super::node::{Node, NODE_WIDE};
use crate::vault::EntryKind;
use custos_net::clock::unix_now as now;

/// How many one-second waits for primes before giving up (ten minutes).
const PRIME_WAITS: usize = 600;

/// Generates safe primes in the background if the vault has none.
pub(super) async fn ensure_primes(node: Arc<Node>) {
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

/// Tells the server while this node's safe primes are still being made
/// (minutes on first use), until they are ready or ten minutes have passed.
pub(super) async fn wait_for_primes(
    node: &Node,
    session: [u8; 32],
    out: &mpsc::Sender<NodeMessage>,
) {
    let mut last = None;
    for _ in 0..PRIME_WAITS {
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

/// The stored safe primes, waiting for the background generator (a few
/// minutes at most).
pub(super) async fn load_primes(node: &Node) -> Result<SafePrimes, JobFailure> {
    for _ in 0..PRIME_WAITS {
        if let Some(bytes) = node.vault.get(EntryKind::SafePrimes, NODE_WIDE, 0).await? {
            return Ok(SafePrimes::from_bytes(&bytes)?);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(JobFailure::PrimesNotReady)
}
