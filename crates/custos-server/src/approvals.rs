//! Transfer requests: the initiator's signed intent, the server's policy
//! evaluation (for the users' information — every node decides again),
//! approvals, and the dispatch to the committee once the quorum is met.
//! Every step is appended to the audit log first; the signing entry must be
//! covered by a checkpoint the signers co-signed before they sign.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_chains::intent::BitcoinNetwork;
use custos_chains::intent::TransferIntent;
use custos_governance::{approval_message, initiate_message, Governance, Role};
use custos_policy::{Action, Approver, Decision, Spent, Transfer};
use custos_tss::PartyIndex;
use custos_protocol::authz::{
    Authorization, MessageRequest, SigningRecord, SigningRequest, SIGN_ACTION,
};
use custos_protocol::control::JobKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::hub::{Hub, HubError};
use crate::store::SessionKind;
use crate::transfers::{account_key, signatures};
use crate::workflow::{choose_signers, now, AuthContext, FlowError, SignSpec};

/// Document kind of transfer requests.
pub(crate) const REQUEST: &str = "request";

/// One approval as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Approver.
    pub user: String,
    /// Signature over the request hash and governance head (hex).
    pub signature: String,
}

/// A transfer request and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    /// Request id (hex, from the intent).
    pub id: String,
    /// Canonical `SigningRequest` (hex).
    pub request: String,
    /// Its hash (hex): what the initiator signed.
    pub hash: String,
    /// What the intent moves, as policy sees it.
    pub record: RecordView,
    /// Initiator's signature (hex).
    pub initiator_signature: String,
    /// Governance head (hex) approvals must name.
    pub head: String,
    /// Approvals so far.
    pub approvals: Vec<ApprovalView>,
    /// The server's reading of the policy: `allow`, `block`, or
    /// `approve N` (nodes decide again).
    pub decision: String,
    /// Name of the matching rule (none: default deny).
    pub rule: Option<String>,
    /// `pending` | `signed` | `rejected` | `failed` | `signing`.
    pub state: String,
    /// Requested signers.
    pub signers: Option<Vec<PartyIndex>>,
    /// Why it failed or was rejected.
    pub error: Option<String>,
    /// The result when signed.
    pub signed: Option<SignedView>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Policy-relevant fields of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    /// Wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// Chain.
    pub chain: String,
    /// `native` or token address.
    pub asset: String,
    /// Recipient.
    pub destination: String,
    /// Base units.
    pub amount: String,
}

/// What a signed request produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedView {
    /// Transfers and complete PSBTs: Ethereum 0x-hex, Bitcoin hex, Solana base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_tx: Option<String>,
    /// Transfers: the sending address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Bitcoin: (scriptPubKey hex, value) per input.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prevouts: Vec<(String, u64)>,
    /// PSBTs: the updated PSBT (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psbt: Option<String>,
    /// Messages: scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Messages: public key at the path (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Messages: what the signature verifies against (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Messages: the signature (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Messages: made from a pooled presignature.
    #[serde(default)]
    pub presigned: bool,
}

impl From<&SigningRecord> for RecordView {
    fn from(r: &SigningRecord) -> Self {
        Self {
            wallet: r.wallet.clone(),
            initiator: r.initiator.clone(),
            chain: r.chain.clone(),
            asset: r.asset.clone(),
            destination: r.destination.clone(),
            amount: r.amount.clone(),
        }
    }
}

fn invalid(e: custos_protocol::authz::RequestError) -> FlowError {
    FlowError::Invalid(e.to_string())
}

fn forbidden(s: impl Into<String>) -> FlowError {
    FlowError::Forbidden(s.into())
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, FlowError> {
    hex::decode(s).map_err(|_| FlowError::Invalid(format!("{what} is not hex")))
}

async fn governance(hub: &Hub) -> Result<Governance, FlowError> {
    hub.authority().governance().await.ok_or_else(|| {
        FlowError::Invalid("no governance genesis yet (custos governance init)".into())
    })
}

async fn load(hub: &Hub, id: &str) -> Result<(Vec<u8>, RequestView), FlowError> {
    let body = hub
        .store()
        .doc_get(REQUEST, id)
        .await?
        .ok_or_else(|| FlowError::NotFound(format!("request {id}")))?;
    let view = serde_json::from_slice(&body)
        .map_err(|_| FlowError::Invalid("stored request does not decode".into()))?;
    Ok((body, view))
}

async fn save(hub: &Hub, old: &[u8], view: &RequestView) -> Result<Vec<u8>, FlowError> {
    let body = serde_json::to_vec(view).map_err(|e| FlowError::Invalid(e.to_string()))?;
    hub.store()
        .doc_replace(REQUEST, &view.id, old, &body, now())
        .await?;
    Ok(body)
}

/// Requests, newest last.
pub async fn list(hub: &Hub) -> Result<Vec<RequestView>, FlowError> {
    hub.store()
        .doc_list(REQUEST)
        .await?
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice(b)
                .map_err(|_| FlowError::Invalid("stored request does not decode".into()))
        })
        .collect::<Result<Vec<RequestView>, _>>()
        .map(|mut v| {
            v.sort_by_key(|r| r.created_at);
            v
        })
}

/// One request.
pub async fn get(hub: &Hub, id: &str) -> Result<RequestView, FlowError> {
    Ok(load(hub, id).await?.1)
}

/// The server's velocity ledger: requests sent for signing.
async fn spent(hub: &Hub) -> Result<Vec<Spent>, FlowError> {
    Ok(list(hub)
        .await?
        .iter()
        .filter(|r| matches!(r.state.as_str(), "signing" | "signed" | "failed"))
        .filter_map(|r| {
            Some(Spent {
                time: r.created_at,
                wallet: r.record.wallet.clone(),
                initiator: r.record.initiator.clone(),
                chain: r.record.chain.clone(),
                asset: r.record.asset.clone(),
                amount: r.record.amount.parse().ok()?,
            })
        })
        .collect())
}

async fn decide(
    hub: &Hub,
    gov: &Governance,
    record: &SigningRecord,
) -> Result<(Decision, Option<String>), FlowError> {
    let s = gov.state();
    let (policy, book) =
        custos_policy::from_documents(s.policy.as_deref(), s.address_book.as_deref())
            .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let transfer = Transfer {
        initiator: record.initiator.clone(),
        roles: gov.state().role_names(&record.initiator),
        wallet: record.wallet.clone(),
        wallet_groups: book.groups_of_wallet(&record.wallet),
        chain: record.chain.clone(),
        asset: record.asset.clone(),
        destination: record.destination.clone(),
        amount: record
            .amount
            .parse()
            .map_err(|_| FlowError::Invalid("amount".into()))?,
    };
    let ledger: Vec<Spent> = spent(hub).await?;
    let d = custos_policy::evaluate(&policy, &book, &transfer, now(), &ledger)
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let name = d
        .rule
        .and_then(|i| policy.rules.get(i))
        .map(|r| r.name.clone());
    Ok((d, name))
}

fn describe(a: &Action) -> String {
    match a {
        Action::Allow => "allow".into(),
        Action::Block => "block".into(),
        Action::Approve { count, .. } => format!("approve {count}"),
    }
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
    let request = SigningRequest::from_bytes(request_bytes).map_err(invalid)?;
    let w = hub
        .store()
        .wallet(request.wallet())
        .await?
        .ok_or_else(|| FlowError::NoWallet(request.wallet().to_owned()))?;
    if w.key_id != request.key_id() {
        return Err(FlowError::Invalid(
            "the request names another key than its wallet".into(),
        ));
    }
    match &request {
        SigningRequest::Transfer(intent) => {
            intent.validate()?;
            custos_chains::intent::check_token(intent, &hub.config().tokens)?;
            custos_chains::build(intent, &account_key(&w, intent.account)?)?;
        }
        SigningRequest::Message(m) => crate::workflow::check_message(&w, &message_spec(m, None))?,
        SigningRequest::Psbt(p) => {
            let network: BitcoinNetwork = p.network.parse()?;
            let psbt = custos_chains::psbt::parse(&p.psbt)?;
            let key_at = |a: u32| {
                account_key(&w, a).map_err(|_| custos_chains::ChainError::Key("account key"))
            };
            custos_chains::psbt::plan(&psbt, network, key_at)?;
        }
    }
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
    let record = request.record(initiator).map_err(invalid)?;
    let (decision, rule) = decide(hub, &gov, &record).await?;
    let mut view = RequestView {
        id: record.request_id.clone(),
        request: hex::encode(request_bytes),
        hash: hex::encode(hash),
        record: RecordView::from(&record),
        initiator_signature: hex::encode(signature),
        head: hex::encode(gov.head()),
        approvals: Vec::new(),
        decision: describe(&decision.action),
        rule,
        state: "pending".into(),
        signers,
        error: None,
        signed: None,
        created_at: now(),
    };
    hub.audit(
        initiator,
        "request",
        serde_json::json!({ "request_id": view.id, "hash": view.hash, "record": view.record, "decision": view.decision, "rule": view.rule }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    if decision.action == Action::Block && !crate::fault_active() {
        view.state = "rejected".into();
        view.error = Some(match &view.rule {
            Some(r) => format!("policy rule {r:?} blocks this transfer"),
            None => "no policy rule matches (default deny)".into(),
        });
    }
    let body = serde_json::to_vec(&view).map_err(|e| FlowError::Invalid(e.to_string()))?;
    hub.store()
        .doc_insert(REQUEST, &view.id, &body, now())
        .await?;
    // Test builds: a lying server dispatches without approvals, or despite
    // its own reading of the policy.
    let force = crate::fault_is("no-approvals")
        || (crate::fault_is("accept") && decision.action == Action::Block);
    if view.state == "pending"
        && (custos_policy::check_approvals(&decision, initiator, &[]).is_ok() || force)
    {
        return dispatch(hub, &view.id).await;
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
    if view.state == "signed" && crate::fault_active() {
        // A lying server replays an approved, signed request.
        return dispatch(hub, id).await;
    }
    if view.state != "pending" {
        return Err(FlowError::Invalid(format!(
            "request {id} is {}",
            view.state
        )));
    }
    let gov = governance(hub).await?;
    let hash: [u8; 32] = unhex(&view.hash, "hash")?
        .try_into()
        .map_err(|_| FlowError::Invalid("hash".into()))?;
    gov.state()
        .verify_user(user, &approval_message(&hash, &gov.head()), signature)
        .map_err(|e| forbidden(e.to_string()))?;
    let request = SigningRequest::from_bytes(&unhex(&view.request, "request")?).map_err(invalid)?;
    let record = request.record(&view.record.initiator).map_err(invalid)?;
    let (decision, _) = decide(hub, &gov, &record).await?;
    let me = Approver {
        user: user.to_owned(),
        roles: gov.state().role_names(user),
    };
    if !crate::fault_is("accept") {
        if user == view.record.initiator {
            return Err(forbidden("the initiator cannot approve their own request"));
        }
        if !custos_policy::may_approve(&decision, &view.record.initiator, &me) {
            return Err(forbidden(format!("{user} may not approve this request")));
        }
        if view.approvals.iter().any(|a| a.user == user) {
            return Err(FlowError::Invalid(format!("{user} approved already")));
        }
    }
    hub.audit(
        user,
        "approval",
        serde_json::json!({ "request_id": id, "head": hex::encode(gov.head()) }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    view.head = hex::encode(gov.head());
    view.approvals.push(ApprovalView {
        user: user.to_owned(),
        signature: hex::encode(signature),
    });
    save(hub, &old, &view).await?;
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
    let need = match &decision.action {
        Action::Approve { count, .. } => *count as usize,
        _ => 0,
    };
    let force = crate::fault_is("below-quorum")
        || (crate::fault_is("accept") && view.approvals.len() >= need);
    if custos_policy::check_approvals(&decision, &view.record.initiator, &approvers).is_ok()
        || force
    {
        return dispatch(hub, id).await;
    }
    Ok(view)
}

/// Rejects a pending request (any user who may approve it).
pub async fn reject(
    hub: &Hub,
    id: &str,
    user: &str,
    reason: &str,
) -> Result<RequestView, FlowError> {
    let (old, mut view) = load(hub, id).await?;
    if view.state != "pending" {
        return Err(FlowError::Invalid(format!(
            "request {id} is {}",
            view.state
        )));
    }
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
    view.state = "rejected".into();
    view.error = Some(format!("rejected by {user}: {reason}"));
    save(hub, &old, &view).await?;
    Ok(view)
}

/// Logs the signing, has the nodes co-sign a checkpoint covering it, and
/// runs the signing; each node re-checks everything before it joins.
async fn dispatch(hub: &Hub, id: &str) -> Result<RequestView, FlowError> {
    let (old, mut view) = load(hub, id).await?;
    let request = SigningRequest::from_bytes(&unhex(&view.request, "request")?).map_err(invalid)?;
    let w = hub
        .store()
        .wallet(request.wallet())
        .await?
        .ok_or_else(|| FlowError::NoWallet(request.wallet().to_owned()))?;
    view.state = "signing".into();
    let signing = save(hub, &old, &view).await?;
    let result = run(hub, &view, &request, &w).await;
    let (action, detail) = match &result {
        Ok(s) => {
            view.state = "signed".into();
            view.signed = Some(s.clone());
            ("signed", serde_json::json!({ "request_id": id }))
        }
        Err(e) => {
            view.state = "failed".into();
            view.error = Some(e.to_string());
            (
                "sign-failed",
                serde_json::json!({ "request_id": id, "error": e.to_string() }),
            )
        }
    };
    // The outcome is recorded even when logging it fails; the signing entry
    // itself was logged before any node signed.
    if let Err(e) = hub.audit("server", action, detail).await {
        eprintln!("server: audit log: {e}");
    }
    save(hub, &signing, &view).await?;
    result.map(|_| view)
}

fn message_spec(m: &MessageRequest, signers: Option<Vec<PartyIndex>>) -> SignSpec {
    SignSpec {
        message: m.message.clone(),
        sha256: m.sha256,
        path: m.path.clone(),
        signers,
    }
}

async fn run(
    hub: &Hub,
    view: &RequestView,
    request: &SigningRequest,
    w: &crate::store::WalletRecord,
) -> Result<SignedView, FlowError> {
    let gov = governance(hub).await?;
    let record = request.record(&view.record.initiator).map_err(invalid)?;
    let timeout = Duration::from_millis(hub.config().session_timeout_ms);
    #[allow(unused_mut)]
    let mut auth = Authorization {
        head: gov.head(),
        initiator: view.record.initiator.clone(),
        initiator_signature: unhex(&view.initiator_signature, "signature")?,
        approvals: view
            .approvals
            .iter()
            .map(|a| Ok((a.user.clone(), unhex(&a.signature, "approval")?)))
            .collect::<Result<_, FlowError>>()?,
        time: now(),
    };
    // Log before sign: the entry, then a checkpoint the connected nodes
    // co-sign after reading it (their velocity ledgers stay complete; one
    // that misses a round reads the entries in the next).
    let mut signers = view.signers.clone();
    #[allow(unused_mut)]
    let mut log = true;
    #[cfg(feature = "fault-injection")]
    let mut edited = request.clone();
    #[cfg(feature = "fault-injection")]
    if let SigningRequest::Transfer(_) = request {
        let stale = hub
            .authority()
            .chain()
            .await
            .last()
            .map(|p| p.proposal.prev);
        crate::fault::edit_authorization(&mut auth, &mut edited, &mut log, stale);
    }
    if log {
        let detail =
            serde_json::to_value(&record).map_err(|e| FlowError::Invalid(e.to_string()))?;
        hub.audit("server", SIGN_ACTION, detail)
            .await
            .map_err(|e| FlowError::Audit(e.to_string()))?;
        let up = crate::workflow::connected(hub).await;
        let required = signers.clone().unwrap_or_default();
        let (_, witnessed) = hub.checkpoint(&up, &required, timeout).await?;
        // Unnamed signers come from the nodes that witnessed the entry: the
        // others would refuse it as not covered by their checkpoint. (When
        // all did, the choice stays open, e.g. to a presignature's subset.)
        if signers.is_none() && witnessed != up {
            let t = usize::from(hub.config().threshold);
            signers = Some(witnessed.into_iter().take(t).collect());
        }
    }
    let ctx = AuthContext {
        request_id: request.request_id(),
        wallet: w.id.clone(),
        auth,
    };
    match request {
        SigningRequest::Transfer(intent) => {
            #[cfg(feature = "fault-injection")]
            let intent = match &edited {
                SigningRequest::Transfer(t) => t,
                _ => intent,
            };
            transfer(hub, signers, intent, w, ctx, timeout).await
        }
        SigningRequest::Message(m) => {
            let s = crate::workflow::sign(hub, &w.id, message_spec(m, signers), &ctx).await?;
            Ok(SignedView {
                scheme: Some(s.scheme.to_string()),
                public_key: Some(s.public_key),
                message: Some(s.message),
                signature: Some(s.signature),
                presigned: s.presigned,
                ..SignedView::default()
            })
        }
        SigningRequest::Psbt(p) => {
            let network: BitcoinNetwork = p.network.parse()?;
            let s = crate::transfers::sign_psbt(
                hub, &w.id, network, &p.network, &p.psbt, signers, &ctx,
            )
            .await?;
            Ok(SignedView {
                psbt: Some(s.psbt),
                raw_tx: s.raw_tx,
                prevouts: prevouts(&s.prevouts),
                ..SignedView::default()
            })
        }
    }
}

fn prevouts(p: &[(Vec<u8>, u64)]) -> Vec<(String, u64)> {
    p.iter().map(|(s, v)| (hex::encode(s), *v)).collect()
}

async fn transfer(
    hub: &Hub,
    signers: Option<Vec<PartyIndex>>,
    intent: &TransferIntent,
    w: &crate::store::WalletRecord,
    ctx: AuthContext,
    timeout: Duration,
) -> Result<SignedView, FlowError> {
    let unsigned = custos_chains::build(intent, &account_key(w, intent.account)?)?;
    let signers = choose_signers(hub, signers).await?;
    #[allow(unused_mut)]
    let mut payloads: Vec<Vec<u8>> = unsigned
        .payloads
        .iter()
        .map(|p| p.message().to_vec())
        .collect();
    #[cfg(feature = "fault-injection")]
    crate::fault::edit_payloads(&mut payloads);
    let kind = JobKind::SignTransfer {
        key_id: w.key_id.clone(),
        signers: signers.clone(),
        intent: intent.to_bytes()?,
        payloads,
        auth: ctx.auth,
    };
    let (_, outcomes) = hub
        .run_each(
            kind,
            BTreeMap::new(),
            SessionKind::Sign,
            &signers,
            Some(&w.id),
            timeout,
        )
        .await?;
    let sigs = signatures(&outcomes)?;
    let signed = custos_chains::assemble(&unsigned, &sigs).map_err(|_| {
        FlowError::Hub(HubError::Disagree(
            "the nodes' signatures do not complete the transaction",
        ))
    })?;
    Ok(SignedView {
        raw_tx: Some(signed.raw_tx),
        from: Some(signed.from),
        prevouts: prevouts(&signed.prevouts),
        ..SignedView::default()
    })
}
