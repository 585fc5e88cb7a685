//! The node's write-ahead journal of jobs: every job the server starts is
//! journalled as running before any step of it runs (a job that cannot be
//! journalled does not run), and its outcome is written when it ends.

use custos_chains::TransferIntent;
use custos_protocol::authz::Authorization;
use custos_protocol::control::{Job, JobKind, Outcome};

use super::node::Node;
use crate::store::{JournalEntry, StoreError, JOURNAL_RUNNING};
use custos_net::clock::unix_now as now;

/// Journals `job` as running; `intent` is the transfer intent as the node
/// decoded it (`None` if it did not decode, or for other kinds).
pub(super) async fn begin(
    node: &Node,
    job: &Job,
    intent: Option<&TransferIntent>,
) -> Result<i64, StoreError> {
    node.vault.journal_begin(&entry(job, intent)).await
}

/// Writes the outcome of the job journalled at `seq`.
pub(super) async fn end(node: &Node, seq: i64, outcome: &Outcome) {
    let text = serde_json::to_string(outcome).unwrap_or_default();
    if let Err(e) = node.vault.journal_end(seq, &text, now()).await {
        eprintln!("{}: journal: {e}", node.config.name);
    }
}

/// A signing's request id and wallet (`None`: the intent did not decode)
/// and who authorised it.
type Requested<'a> = (Option<([u8; 16], &'a str)>, &'a Authorization);

/// What the journal says about a job before it runs.
fn entry(job: &Job, intent: Option<&TransferIntent>) -> JournalEntry {
    use sha2::Digest;
    let digest = |m: &[u8]| hex::encode(sha2::Sha256::digest(m));
    let (key_id, mut detail, requested): (_, _, Option<Requested<'_>>) = match &job.kind {
        JobKind::AuxInfo => (None, serde_json::json!({}), None),
        JobKind::Keygen { scheme } => (
            None,
            serde_json::json!({ "scheme": scheme.to_string() }),
            None,
        ),
        JobKind::Sign {
            key_id,
            signers,
            path,
            message,
            sha256,
            request_id,
            wallet,
            auth,
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "path": path,
                "message_sha256": digest(message),
                "hash_at_node": sha256,
            }),
            Some((Some((*request_id, wallet.as_str())), auth)),
        ),
        JobKind::SignTransfer {
            key_id,
            signers,
            auth,
            ..
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "intent_sha256": intent.and_then(|i| i.hash().ok()).map(hex::encode),
                "intent": intent,
            }),
            Some((intent.map(|i| (i.request_id, i.wallet.as_str())), auth)),
        ),
        JobKind::SignPsbt {
            key_id,
            signers,
            network,
            psbt,
            request_id,
            wallet,
            auth,
            ..
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "network": network,
                "psbt_sha256": digest(psbt),
            }),
            Some((Some((*request_id, wallet.as_str())), auth)),
        ),
        JobKind::Presign { key_id, signers } => (
            Some(key_id.clone()),
            serde_json::json!({ "signers": signers }),
            None,
        ),
        JobKind::SignPresigned {
            key_id,
            signers,
            presignature,
            message,
            request_id,
            wallet,
            auth,
        } => (
            Some(key_id.clone()),
            serde_json::json!({
                "signers": signers,
                "presignature": presignature,
                "message_sha256": digest(message),
            }),
            Some((Some((*request_id, wallet.as_str())), auth)),
        ),
    };
    // Who authorised a signing, as the node checked it.
    if let (Some((request, auth)), Some(map)) = (requested, detail.as_object_mut()) {
        map.insert(
            "request_id".into(),
            request.map(|(id, _)| hex::encode(id)).into(),
        );
        map.insert(
            "wallet".into(),
            request.map(|(_, wallet)| wallet.to_owned()).into(),
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
