//! Dispatch of an approved request: the signing entry is logged, the
//! nodes co-sign a checkpoint covering it, and the committee signs; each
//! node re-checks everything before it joins. A request enters dispatch
//! only from `approved` (the state machine's `begin_signing`), once.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_chains::intent::TransferIntent;
use custos_chains::Unsigned;
use custos_net::clock::unix_now as now;
use custos_protocol::authz::{Authorization, SigningRequest, SIGN_ACTION};
use custos_protocol::control::JobKind;
use custos_tss::PartyIndex;

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::machine::request::{RequestView, SignedView};
use crate::requests::checked::{message_spec, Checked, Plan};
use crate::requests::stored::{governance, invalid, load, refused, save, unhex};
use crate::signing::{choose_signers, AuthContext};
use crate::store::{SessionKind, WalletRecord};
use crate::transfers::signatures;

/// approved → signing (test builds playing a lying server dispatch again
/// whatever the stage; the nodes must refuse).
fn start_signing(view: &mut RequestView) -> Result<(), FlowError> {
    #[cfg(feature = "fault-injection")]
    if crate::faults::fault_active() && view.stage != crate::machine::request::Stage::Approved {
        view.force_signing();
        return Ok(());
    }
    view.begin_signing().map_err(refused)
}

/// Logs the signing, has the nodes co-sign a checkpoint covering it, and
/// runs the signing; each node re-checks everything before it joins.
pub(crate) async fn dispatch(
    hub: &Hub,
    id: &str,
    checked: Checked,
) -> Result<RequestView, FlowError> {
    let (old, mut view) = load(hub, id).await?;
    if unhex(&view.request, "request")? != checked.bytes {
        return Err(FlowError::Invalid(format!(
            "request {id} changed while it was dispatched"
        )));
    }
    start_signing(&mut view)?;
    let signing = save(hub, &old, &view).await?;
    let result = run(hub, &view, checked).await;
    let (action, detail, outcome) = match &result {
        Ok(s) => (
            "signed",
            serde_json::json!({ "request_id": id }),
            Ok(s.clone()),
        ),
        Err(e) => (
            "sign-failed",
            serde_json::json!({ "request_id": id, "error": e.to_string() }),
            Err(e.to_string()),
        ),
    };
    view.finish(outcome).map_err(refused)?;
    // The outcome is recorded even when logging it fails; the signing entry
    // itself was logged before any node signed.
    if let Err(e) = hub.audit("server", action, detail).await {
        eprintln!("server: audit log: {e}");
    }
    save(hub, &signing, &view).await?;
    result.map(|_| view)
}

async fn run(hub: &Hub, view: &RequestView, checked: Checked) -> Result<SignedView, FlowError> {
    let Checked {
        request,
        wallet: w,
        plan,
        ..
    } = checked;
    let w = &w;
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
    if let SigningRequest::Transfer(_) = &request {
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
        let up = hub.connected().await;
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
    match (&request, plan) {
        (SigningRequest::Transfer(intent), Plan::Transfer(unsigned)) => {
            // Test builds: a lying server sends the nodes another intent
            // (and builds what it would assemble from that one).
            #[cfg(feature = "fault-injection")]
            let (intent, unsigned) = match &edited {
                SigningRequest::Transfer(t) if t != intent => (
                    t,
                    Box::new(custos_chains::build(
                        t,
                        &crate::transfers::account_key(w, t.account)?,
                    )?),
                ),
                _ => (intent, unsigned),
            };
            transfer(hub, signers, intent, &unsigned, w, ctx, timeout).await
        }
        (SigningRequest::Message(m), Plan::Message) => {
            let s = crate::signing::sign(hub, &w.id, message_spec(m, signers), &ctx).await?;
            Ok(SignedView {
                scheme: Some(s.scheme.to_string()),
                public_key: Some(s.public_key),
                message: Some(s.message),
                signature: Some(s.signature),
                presigned: s.presigned,
                ..SignedView::default()
            })
        }
        (
            SigningRequest::Psbt(p),
            Plan::Psbt {
                network,
                psbt,
                planned,
            },
        ) => {
            let s = crate::transfers::sign_psbt(
                hub, w, network, &p.network, *psbt, &planned, signers, &ctx,
            )
            .await?;
            Ok(SignedView {
                psbt: Some(s.psbt),
                raw_tx: s.raw_tx,
                prevouts: prevouts(&s.prevouts),
                ..SignedView::default()
            })
        }
        _ => Err(FlowError::Invalid(
            "the request and its plan disagree".into(),
        )),
    }
}

fn prevouts(p: &[(Vec<u8>, u64)]) -> Vec<(String, u64)> {
    p.iter().map(|(s, v)| (hex::encode(s), *v)).collect()
}

async fn transfer(
    hub: &Hub,
    signers: Option<Vec<PartyIndex>>,
    intent: &TransferIntent,
    unsigned: &Unsigned,
    w: &WalletRecord,
    ctx: AuthContext,
    timeout: Duration,
) -> Result<SignedView, FlowError> {
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
    let signed = custos_chains::assemble(unsigned, &sigs).map_err(|_| {
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
