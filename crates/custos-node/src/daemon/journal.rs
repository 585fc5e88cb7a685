//! The node's write-ahead journal of jobs: every job the server starts is
//! journalled as running before any step of it runs (a job that cannot be
//! journalled does not run), and its outcome is written when it ends.

use custos_protocol::authz::{Authorization, SigningRequest};
use custos_protocol::control::{Job, JobKind, Outcome};

use super::node::Node;
use crate::store::{JournalEntry, StoreError, JOURNAL_RUNNING};
use custos_net::clock::unix_now as now;

/// Journals `job` as running; `request` is the signing request as the
/// node decoded it (`None` if it did not decode, or for other kinds).
pub(super) async fn begin(
    node: &Node,
    job: &Job,
    request: Option<&SigningRequest>,
) -> Result<i64, StoreError> {
    node.vault.journal_begin(&entry(job, request)).await
}

/// Writes the outcome of the job journalled at `seq`.
pub(super) async fn end(node: &Node, seq: i64, outcome: &Outcome) {
    let text = serde_json::to_string(outcome).unwrap_or_default();
    if let Err(e) = node.vault.journal_end(seq, &text, now()).await {
        eprintln!("{}: journal: {e}", node.config.name);
    }
}

/// A signing's request id and wallet (`None`: the request did not decode)
/// and who authorised it.
type Requested<'a> = (Option<([u8; 16], &'a str)>, &'a Authorization);

/// What the journal says about a job before it runs.
fn entry(job: &Job, request: Option<&SigningRequest>) -> JournalEntry {
    use sha2::Digest;
    let digest = |m: &[u8]| hex::encode(sha2::Sha256::digest(m));
    let (key_id, mut detail, requested): (_, _, Option<Requested<'_>>) = match &job.kind {
        JobKind::AuxInfo { order } | JobKind::Keygen { order } => (
            None,
            serde_json::json!({
                "wallet": order.order.wallet, "scheme": order.order.scheme.to_string(),
                "blind": order.order.blind, "ordered_by": order.admin,
            }),
            None,
        ),
        JobKind::Sign {
            signers,
            request: bytes,
            auth,
            ..
        } => {
            let what = match request {
                Some(SigningRequest::Transfer(i)) => serde_json::json!({ "transfer": i }),
                Some(SigningRequest::Message(m)) => serde_json::json!({
                    "message": { "format": m.format.to_string(), "path": m.path, "message_sha256": digest(&m.message) }
                }),
                Some(SigningRequest::Psbt(p)) => serde_json::json!({
                    "psbt": { "network": p.network, "psbt_sha256": digest(&p.psbt) }
                }),
                Some(SigningRequest::Blind(b)) => serde_json::json!({
                    "blind": { "path": b.path, "digest": hex::encode(b.digest) }
                }),
                None => serde_json::json!({ "undecoded_sha256": digest(bytes) }),
            };
            (
                request.map(|r| r.key_id().to_owned()),
                serde_json::json!({
                    "signers": signers,
                    "request_sha256": request.and_then(|r| r.hash().ok()).map(hex::encode),
                    "request": what,
                }),
                Some((request.map(|r| (r.request_id(), r.wallet())), auth)),
            )
        }
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
