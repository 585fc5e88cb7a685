//! Dispatch of an approved request: the signing entry is logged, the
//! nodes co-sign a checkpoint covering it, and the committee signs; each
//! node re-checks everything before it joins. A request enters dispatch
//! only from `approved` (the state machine's `begin_signing`), once.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_chains::ChainError;
use custos_net::clock::unix_now as now;
use custos_protocol::authz::{Authorization, Built, Planned, SigningRequest, SIGN_ACTION};
use custos_protocol::control::JobKind;
use custos_protocol::sign_entry::SignEntry;

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::machine::request::{RequestView, SignedView};
use crate::requests::checked::Checked;
use crate::requests::stored::{governance, load, refused, save, unhex};
use crate::signing::choose_signers;
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
    let record = checked.record(&view.record.initiator)?;
    let Checked {
        request,
        wallet: w,
        planned,
        bytes,
    } = checked;
    let w = &w;
    let gov = governance(hub).await?;
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
    // The entry records the request the initiator signed, whatever a
    // lying test server then sends the nodes.
    let logged = SignEntry::new(&record, &bytes, &auth);
    #[allow(unused_mut)]
    let (mut bytes, mut planned) = (bytes, planned);
    // Test builds: a lying server sends the nodes another request (and
    // plans what it would assemble from that one).
    #[cfg(feature = "fault-injection")]
    {
        let mut edited = request.clone();
        if let SigningRequest::Transfer(_) = &request {
            let stale = hub
                .authority()
                .chain()
                .await
                .last()
                .map(|p| p.proposal.prev);
            crate::fault::edit_authorization(&mut auth, &mut edited, &mut log, stale);
        }
        if edited != request {
            bytes = edited
                .to_bytes()
                .map_err(crate::requests::stored::invalid)?;
            planned = crate::requests::checked::complete(hub, edited, &bytes)
                .await?
                .planned;
        }
    }
    // What a server that skipped the log could show: a checkpoint no node
    // co-signed (each refuses it).
    let (uncovered, server) = hub.authority().checkpoint().await;
    let mut checkpoint = custos_audit::checkpoint::SignedCheckpoint {
        checkpoint: uncovered,
        server,
        cosignatures: Vec::new(),
    };
    if log {
        #[allow(unused_mut)]
        let mut logged = logged;
        #[cfg(feature = "fault-injection")]
        crate::fault::edit_sign_entry(&mut logged);
        let detail =
            serde_json::to_value(&logged).map_err(|e| FlowError::Invalid(e.to_string()))?;
        hub.audit("server", SIGN_ACTION, detail)
            .await
            .map_err(|e| FlowError::Audit(e.to_string()))?;
        let up = hub.connected().await;
        let required = signers.clone().unwrap_or_default();
        let (certified, witnessed) = hub.checkpoint(&up, &required, timeout).await?;
        checkpoint = certified;
        // Unnamed signers come from the nodes that witnessed the entry: the
        // others would refuse it as not covered by their checkpoint.
        if signers.is_none() && witnessed != up {
            let t = usize::from(hub.config().threshold);
            signers = Some(witnessed.into_iter().take(t).collect());
        }
    }
    let signers = choose_signers(hub, signers).await?;
    #[allow(unused_mut)]
    let mut payloads: Vec<Vec<u8>> = planned
        .work
        .iter()
        .map(|(_, p)| p.message().to_vec())
        .collect();
    #[cfg(feature = "fault-injection")]
    crate::fault::edit_payloads(&mut payloads);
    let kind = JobKind::Sign {
        signers: signers.clone(),
        request: bytes,
        payloads,
        auth,
        checkpoint,
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
    assemble(w, &request, planned, &sigs)
}

fn disagree() -> FlowError {
    FlowError::Hub(HubError::Disagree(
        "the nodes' signatures do not complete what was requested",
    ))
}

/// Puts the nodes' signatures into what the request planned, verifying
/// each first.
fn assemble(
    w: &WalletRecord,
    request: &SigningRequest,
    planned: Planned,
    sigs: &[Vec<u8>],
) -> Result<SignedView, FlowError> {
    match (request, planned.built) {
        (SigningRequest::Transfer(_), Built::Transfer(unsigned)) => {
            let signed = custos_chains::assemble(&unsigned, sigs).map_err(|_| disagree())?;
            Ok(SignedView {
                raw_tx: Some(signed.raw_tx),
                from: Some(signed.from),
                prevouts: prevouts(&signed.prevouts),
                ..SignedView::default()
            })
        }
        (
            SigningRequest::Psbt(_),
            Built::Psbt {
                network,
                mut psbt,
                planned,
            },
        ) => {
            let key_at = |a: u32| {
                crate::transfers::account_key(w, a).map_err(|_| ChainError::Key("account key"))
            };
            custos_chains::psbt::apply(&mut psbt, network, &planned, sigs, key_at)
                .map_err(|_| disagree())?;
            let s = custos_chains::psbt::finish(&psbt)?;
            Ok(SignedView {
                psbt: Some(s.psbt),
                raw_tx: s.raw_tx,
                prevouts: prevouts(&s.prevouts),
                ..SignedView::default()
            })
        }
        (SigningRequest::Message(m), Built::Message { format, key }) => {
            let sig = sigs.first().ok_or_else(disagree)?;
            let encoded = custos_chains::message::encode(format, &key, &m.message, sig)
                .map_err(|_| disagree())?;
            let address = custos_chains::message::signer_address(
                format,
                &key,
                custos_chains::intent::BitcoinNetwork::Mainnet,
            )?;
            let signed = planned.work.first().map(|(_, p)| hex::encode(p.message()));
            Ok(SignedView {
                scheme: Some(key.scheme.to_string()),
                public_key: Some(hex::encode(&key.public_key)),
                message: signed,
                signature: Some(hex::encode(sig)),
                format: Some(format.to_string()),
                address: Some(address),
                encoded: Some(encoded),
                ..SignedView::default()
            })
        }
        (SigningRequest::Blind(b), Built::Blind { key }) => {
            let sig = sigs.first().ok_or_else(disagree)?;
            if !custos_tss::verify(key.scheme, &key.public_key, &b.digest, sig) {
                return Err(disagree());
            }
            Ok(SignedView {
                scheme: Some(key.scheme.to_string()),
                public_key: Some(hex::encode(&key.public_key)),
                message: Some(hex::encode(b.digest)),
                signature: Some(hex::encode(sig)),
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
