//! Signing requests: the initiator's signed request, the server's policy
//! evaluation (for the users' information — every node decides again),
//! approvals, and the dispatch to the committee once the quorum is met
//! (`dispatch`). Where a request stands is `machine::request`'s state machine;
//! every transition is checked there before it is logged and stored.
//! Every step is appended to the audit log first; the signing entry must be
//! covered by a checkpoint the signers co-signed before they sign.

mod checked;
mod dispatch;
mod stored;

use custos_governance::{approval_message, initiate_message, Governance, Role};
use custos_net::clock::unix_now as now;
use custos_policy::{Action, Approver, Decision, Spent};
use custos_protocol::authz::SigningRecord;
use custos_tss::PartyIndex;

pub(crate) use stored::governance as governance_of;
pub use stored::{get, list};

use crate::error::FlowError;
use crate::faults::{fault_active, fault_is};
use crate::hub::Hub;
use crate::machine::request::{ApprovalView, RecordView, RequestView, Stage};
use dispatch::dispatch;
use stored::{forbidden, governance, invalid, load, refused, save, unhex};

/// Adds an approval through the state machine (test builds playing a
/// lying server count one it should have refused).
fn add_approval(view: &mut RequestView, a: ApprovalView, head: String) -> Result<(), FlowError> {
    #[cfg(feature = "fault-injection")]
    if fault_is("accept") {
        view.approve_unchecked(a, head);
        return Ok(());
    }
    view.approve(a, head).map_err(refused)
}

/// The server's velocity ledger: requests sent for signing.
async fn spent(hub: &Hub) -> Result<Vec<Spent>, FlowError> {
    Ok(list(hub)
        .await?
        .iter()
        .filter(|r| r.stage.is_dispatched())
        .filter_map(|r| r.record.spent(r.created_at))
        .collect())
}

/// The policy's decision on `record` (per asset bucket) and the names of
/// the rules that decided, as every node will decide it.
async fn decide(
    hub: &Hub,
    gov: &Governance,
    record: &SigningRecord,
) -> Result<(Decision, Option<String>), FlowError> {
    let (policy, book) = custos_protocol::policy::load(gov.state())
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let request = custos_protocol::policy::request_of(record, gov.state(), &book)
        .ok_or_else(|| FlowError::Invalid("amount".into()))?;
    let ledger: Vec<Spent> = spent(hub).await?;
    let d = custos_policy::evaluate(&policy, &book, &request, now(), &ledger)
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let names = d.rule_names(&policy);
    Ok((d, names))
}

/// Whether any bucket of `d` blocks.
fn blocks(d: &Decision) -> bool {
    d.buckets.iter().any(|b| b.action == Action::Block)
}

/// Records a signing request the initiator signed; dispatches it at once
/// if the policy allows it without approvals.
pub async fn submit(
    hub: &Hub,
    initiator: &str,
    request_bytes: &[u8],
    signature: &[u8],
    signers: Option<Vec<PartyIndex>>,
) -> Result<RequestView, FlowError> {
    let checked = checked::check(hub, request_bytes).await?;
    let request = &checked.request;
    let gov = governance(hub).await?;
    let hash = request.hash().map_err(invalid)?;
    gov.state()
        .verify_user(initiator, &initiate_message(&hash), signature)
        .map_err(|e| forbidden(e.to_string()))?;
    if !gov.state().has_role(initiator, Role::Initiator) {
        return Err(forbidden(format!(
            "{initiator} does not hold the initiator role"
        )));
    }
    let record = checked.record(initiator)?;
    let (decision, rule) = decide(hub, &gov, &record).await?;
    let mut view = RequestView {
        id: record.request_id.clone(),
        request: hex::encode(request_bytes),
        hash: hex::encode(hash),
        record: RecordView::from(&record),
        initiator_signature: hex::encode(signature),
        head: hex::encode(gov.head()),
        approvals: Vec::new(),
        decision: decision.describe(),
        rule,
        stage: Stage::Pending,
        signers,
        created_at: now(),
    };
    hub.audit(
        initiator,
        "request",
        serde_json::json!({ "request_id": view.id, "hash": view.hash, "record": view.record, "decision": view.decision, "rule": view.rule }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    if blocks(&decision) && !fault_active() {
        let why = match &view.rule {
            Some(r) => format!("policy rule {r:?} blocks this transfer"),
            None => "no policy rule matches (default deny)".into(),
        };
        view.reject(why).map_err(refused)?;
    }
    // Test builds: a lying server dispatches without approvals, or despite
    // its own reading of the policy.
    let force = fault_is("no-approvals") || (fault_is("accept") && blocks(&decision));
    if view.is_pending()
        && (custos_policy::check_approvals(&decision, initiator, &[]).is_ok() || force)
    {
        view.quorum_met().map_err(refused)?;
    }
    stored::insert(hub, &view).await?;
    if view.stage == Stage::Approved {
        return dispatch(hub, &view.id, checked).await;
    }
    Ok(view)
}

/// Adds `user`'s approval (a signature over the request hash and the
/// current governance head); dispatches once the quorum is met.
pub async fn approve(
    hub: &Hub,
    id: &str,
    user: &str,
    signature: &[u8],
) -> Result<RequestView, FlowError> {
    let (old, mut view) = load(hub, id).await?;
    if matches!(view.stage, Stage::Signed { .. }) && fault_active() {
        // A lying server replays an approved, signed request.
        let checked = checked::check(hub, &unhex(&view.request, "request")?).await?;
        return dispatch(hub, id, checked).await;
    }
    if !view.is_pending() {
        return Err(FlowError::Invalid(format!(
            "request {id} is {}",
            view.stage.name()
        )));
    }
    let gov = governance(hub).await?;
    let hash: [u8; 32] = unhex(&view.hash, "hash")?
        .try_into()
        .map_err(|_| FlowError::Invalid("hash".into()))?;
    gov.state()
        .verify_user(
            user,
            &approval_message(&hash, &gov.head(), &view.record.initiator),
            signature,
        )
        .map_err(|e| forbidden(e.to_string()))?;
    let bytes = unhex(&view.request, "request")?;
    let checked = checked::check(hub, &bytes).await?;
    let record = checked.record(&view.record.initiator)?;
    let (decision, _) = decide(hub, &gov, &record).await?;
    let me = Approver {
        user: user.to_owned(),
        roles: gov.state().role_names(user),
    };
    if !fault_is("accept") {
        if user == view.record.initiator {
            return Err(forbidden("the initiator cannot approve their own request"));
        }
        if !custos_policy::may_approve(&decision, &view.record.initiator, &me) {
            return Err(forbidden(format!("{user} may not approve this request")));
        }
    }
    // Transitions are checked before anything is logged or stored.
    let approval = ApprovalView {
        user: user.to_owned(),
        signature: hex::encode(signature),
    };
    add_approval(&mut view, approval, hex::encode(gov.head()))?;
    let approvers: Vec<Approver> = view
        .approvals
        .iter()
        .map(|a| Approver {
            user: a.user.clone(),
            roles: gov.state().role_names(&a.user),
        })
        .collect();
    // Test builds: a lying server dispatches short of the quorum, or counts
    // approvals it should have refused.
    let need = decision
        .buckets
        .iter()
        .map(|b| match &b.action {
            Action::Approve { count, .. } => *count as usize,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let force = fault_is("below-quorum") || (fault_is("accept") && view.approvals.len() >= need);
    if custos_policy::check_approvals(&decision, &view.record.initiator, &approvers).is_ok()
        || force
    {
        view.quorum_met().map_err(refused)?;
    }
    // The quorum's dispatch builds what it signs once, from this decoding;
    // like every check, before the approval is logged.
    let checked = match view.stage {
        Stage::Approved => Some(checked),
        _ => None,
    };
    hub.audit(
        user,
        "approval",
        serde_json::json!({ "request_id": id, "head": hex::encode(gov.head()) }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    save(hub, &old, &view).await?;
    match checked {
        Some(checked) => dispatch(hub, id, checked).await,
        None => Ok(view),
    }
}

/// Rejects a pending request, or an approved one not yet sent (any user
/// who may approve it).
pub async fn reject(
    hub: &Hub,
    id: &str,
    user: &str,
    reason: &str,
) -> Result<RequestView, FlowError> {
    let (old, mut view) = load(hub, id).await?;
    view.reject(format!("rejected by {user}: {reason}"))
        .map_err(refused)?;
    let gov = governance(hub).await?;
    if !gov.state().has_role(user, Role::Approver) && !gov.state().has_role(user, Role::Admin) {
        return Err(forbidden(format!("{user} may not reject requests")));
    }
    hub.audit(
        user,
        "rejection",
        serde_json::json!({ "request_id": id, "reason": reason }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    save(hub, &old, &view).await?;
    Ok(view)
}
