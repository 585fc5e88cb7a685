//! A signing request's life as a state machine, without I/O:
//!
//! ```text
//! pending ──quorum met──▶ approved ──dispatch──▶ signing ──▶ signed
//!    │                        │                     └──────▶ failed
//!    └──reject / policy blocks┴─▶ rejected
//! ```
//!
//! An approved request that was never dispatched (the server stopped in
//! between) can still be rejected.
//!
//! Each transition is a method that checks the state it starts from and
//! returns a [`Transition`] error otherwise, so that no caller can approve a
//! request that is no longer pending, dispatch one twice, or move one out
//! of a final state. The caller stores the result with a compare-and-swap
//! on the previous document, which makes "one dispatch per request" hold
//! across concurrent callers too. Time comes in as an argument.

use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::views::{RecordView, SignedView, SpendView};

/// Where a request stands, with what that stage carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for approvals.
    Pending,
    /// The server's reading of the policy is met; not dispatched yet.
    Approved,
    /// Sent to the committee (logged, checkpointed, signing).
    Signing,
    /// Signed.
    Signed {
        /// What the signing produced.
        signed: Box<SignedView>,
    },
    /// Signing failed (the signing entry was logged: it counts for velocity).
    Failed {
        /// Why.
        error: String,
    },
    /// Rejected by an approver or blocked by policy; never sent.
    Rejected {
        /// Why.
        error: String,
    },
}

impl Stage {
    /// No transition leaves this stage.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Stage::Signed { .. } | Stage::Failed { .. } | Stage::Rejected { .. }
        )
    }

    /// Whether the request was (or is about to be) sent for signing: what
    /// the server's velocity ledger counts.
    pub fn is_dispatched(&self) -> bool {
        matches!(
            self,
            Stage::Approved | Stage::Signing | Stage::Signed { .. } | Stage::Failed { .. }
        )
    }

    /// Lower-case name, as the API shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Pending => "pending",
            Stage::Approved => "approved",
            Stage::Signing => "signing",
            Stage::Signed { .. } => "signed",
            Stage::Failed { .. } => "failed",
            Stage::Rejected { .. } => "rejected",
        }
    }
}

/// A transition refused by the state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transition {
    /// The request is not in the stage this transition starts from.
    #[error("request {id} is {stage}")]
    WrongStage {
        /// Request id.
        id: String,
        /// Its stage.
        stage: &'static str,
    },
    /// This user approved already (each user counts once).
    #[error("{0} approved already")]
    DuplicateApproval(String),
}

/// One approval as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Approver.
    pub user: String,
    /// Signature over the request hash and governance head (hex).
    pub signature: String,
}

/// A signing request and where it stands. Stored and shown as
/// [`RequestDoc`], the flat shape clients and earlier documents have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RequestDoc", try_from = "RequestDoc")]
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
    /// The stage.
    pub stage: Stage,
    /// Requested signers.
    pub signers: Option<Vec<PartyIndex>>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A request as JSON: the stage flattened into `state`, `error` and
/// `signed` (each always present, null where the stage has none).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = RequestView)]
pub struct RequestDoc {
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
    /// `pending` | `approved` | `signing` | `signed` | `failed` | `rejected`.
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

impl From<RequestView> for RequestDoc {
    fn from(r: RequestView) -> Self {
        let state = r.stage.name().to_owned();
        let (error, signed) = match r.stage {
            Stage::Failed { error } | Stage::Rejected { error } => (Some(error), None),
            Stage::Signed { signed } => (None, Some(*signed)),
            Stage::Pending | Stage::Approved | Stage::Signing => (None, None),
        };
        Self {
            id: r.id,
            request: r.request,
            hash: r.hash,
            record: r.record,
            initiator_signature: r.initiator_signature,
            head: r.head,
            approvals: r.approvals,
            decision: r.decision,
            rule: r.rule,
            state,
            signers: r.signers,
            error,
            signed,
            created_at: r.created_at,
        }
    }
}

impl TryFrom<RequestDoc> for RequestView {
    type Error = String;

    fn try_from(d: RequestDoc) -> Result<Self, String> {
        let missing = |what: &str| format!("a {} request without its {what}", d.state);
        let stage = match d.state.as_str() {
            "pending" => Stage::Pending,
            "approved" => Stage::Approved,
            "signing" => Stage::Signing,
            "signed" => Stage::Signed {
                signed: Box::new(d.signed.clone().ok_or_else(|| missing("result"))?),
            },
            "failed" => Stage::Failed {
                error: d.error.clone().ok_or_else(|| missing("error"))?,
            },
            "rejected" => Stage::Rejected {
                error: d.error.clone().ok_or_else(|| missing("reason"))?,
            },
            other => return Err(format!("unknown request state {other:?}")),
        };
        Ok(Self {
            id: d.id,
            request: d.request,
            hash: d.hash,
            record: d.record,
            initiator_signature: d.initiator_signature,
            head: d.head,
            approvals: d.approvals,
            decision: d.decision,
            rule: d.rule,
            stage,
            signers: d.signers,
            created_at: d.created_at,
        })
    }
}

// The API documents a request in its JSON shape.
impl utoipa::PartialSchema for RequestView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <RequestDoc as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for RequestView {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <RequestDoc as ToSchema>::schemas(schemas);
    }
}

impl RequestView {
    fn wrong_stage(&self) -> Transition {
        Transition::WrongStage {
            id: self.id.clone(),
            stage: self.stage.name(),
        }
    }

    /// Whether the request waits for approvals.
    pub fn is_pending(&self) -> bool {
        self.stage == Stage::Pending
    }

    /// Adds an approval under governance head `head` (pending only; each
    /// user once).
    pub fn approve(&mut self, approval: ApprovalView, head: String) -> Result<(), Transition> {
        if !self.is_pending() {
            return Err(self.wrong_stage());
        }
        if self.approvals.iter().any(|a| a.user == approval.user) {
            return Err(Transition::DuplicateApproval(approval.user));
        }
        self.head = head;
        self.approvals.push(approval);
        Ok(())
    }

    /// Test builds: a lying server counts an approval it should have
    /// refused (nodes must refuse the signing).
    #[cfg(feature = "fault-injection")]
    pub fn approve_unchecked(&mut self, approval: ApprovalView, head: String) {
        self.head = head;
        self.approvals.push(approval);
    }

    /// The approvals meet the server's reading of the policy: pending →
    /// approved.
    pub fn quorum_met(&mut self) -> Result<(), Transition> {
        if !self.is_pending() {
            return Err(self.wrong_stage());
        }
        self.stage = Stage::Approved;
        Ok(())
    }

    /// Rejected by an approver or blocked by policy: pending | approved →
    /// rejected (an approved request not yet sent can still be stopped).
    pub fn reject(&mut self, error: String) -> Result<(), Transition> {
        if !matches!(self.stage, Stage::Pending | Stage::Approved) {
            return Err(self.wrong_stage());
        }
        self.stage = Stage::Rejected { error };
        Ok(())
    }

    /// Sent to the committee: approved → signing. Only once: a request is
    /// approved once, and this leaves that stage.
    pub fn begin_signing(&mut self) -> Result<(), Transition> {
        if self.stage != Stage::Approved {
            return Err(self.wrong_stage());
        }
        self.stage = Stage::Signing;
        Ok(())
    }

    /// Test builds: a lying server dispatches a request again, whatever its
    /// stage (nodes must refuse the request id they signed).
    #[cfg(feature = "fault-injection")]
    pub fn force_signing(&mut self) {
        self.stage = Stage::Signing;
    }

    /// The committee finished: signing → signed | failed.
    pub fn finish(&mut self, result: Result<SignedView, String>) -> Result<(), Transition> {
        if self.stage != Stage::Signing {
            return Err(self.wrong_stage());
        }
        self.stage = match result {
            Ok(signed) => Stage::Signed {
                signed: Box::new(signed),
            },
            Err(error) => Stage::Failed { error },
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request() -> RequestView {
        RequestView {
            id: "r1".into(),
            request: String::new(),
            hash: String::new(),
            record: RecordView {
                wallet: "w".into(),
                initiator: "ivy".into(),
                kind: custos_policy::Kind::Transfer,
                chain: Some("ethereum".into()),
                destinations: vec!["0x".into()],
                spends: vec![SpendView {
                    asset: "native".into(),
                    amount: "1".into(),
                }],
                path: None,
                digest: None,
            },
            initiator_signature: String::new(),
            head: "h0".into(),
            approvals: Vec::new(),
            decision: "approve 2".into(),
            rule: None,
            stage: Stage::Pending,
            signers: None,
            created_at: 0,
        }
    }

    fn approval(user: &str) -> ApprovalView {
        ApprovalView {
            user: user.into(),
            signature: String::new(),
        }
    }

    #[test]
    fn the_happy_path_and_its_json() {
        let mut r = request();
        r.approve(approval("ann"), "h1".into()).unwrap();
        assert_eq!(
            r.approve(approval("ann"), "h1".into()),
            Err(Transition::DuplicateApproval("ann".into()))
        );
        r.quorum_met().unwrap();
        assert_eq!(
            r.approve(approval("bob"), "h1".into())
                .unwrap_err()
                .to_string(),
            "request r1 is approved"
        );
        r.begin_signing().unwrap();
        assert!(r.begin_signing().is_err(), "dispatched twice");
        r.finish(Ok(SignedView::default())).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["state"], "signed");
        assert!(json["signed"].is_object());
        assert!(json["error"].is_null() && json.get("error").is_some());
        let back: RequestView = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_json_keeps_the_flat_shape_with_nulls() {
        let json = serde_json::to_value(request()).unwrap();
        assert_eq!(json["state"], "pending");
        for key in ["error", "signed"] {
            assert_eq!(json.get(key), Some(&serde_json::Value::Null), "{key}");
        }
        let mut signed = json.clone();
        signed["state"] = "signed".into();
        assert!(
            serde_json::from_value::<RequestView>(signed).is_err(),
            "signed without result"
        );
        let mut odd = json;
        odd["state"] = "done".into();
        assert!(serde_json::from_value::<RequestView>(odd).is_err());
    }

    #[test]
    fn documents_of_the_earlier_shape_still_load() {
        let mut json = serde_json::to_value(request()).unwrap();
        json["state"] = "failed".into();
        json["error"] = "node-1 failed".into();
        json["signed"] = serde_json::Value::Null;
        let r: RequestView = serde_json::from_value(json).unwrap();
        assert_eq!(
            r.stage,
            Stage::Failed {
                error: "node-1 failed".into()
            }
        );
    }

    #[derive(Debug, Clone)]
    enum Event {
        Approve(u8),
        QuorumMet,
        Reject,
        BeginSigning,
        Finish(bool),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0u8..4).prop_map(Event::Approve),
            Just(Event::QuorumMet),
            Just(Event::Reject),
            Just(Event::BeginSigning),
            any::<bool>().prop_map(Event::Finish),
        ]
    }

    proptest! {
        /// Whatever happens in whatever order: no transition leaves a final
        /// stage, approvals change only while pending and count each user
        /// once, and a request is dispatched at most once.
        #[test]
        fn the_machine_holds_its_invariants(events in proptest::collection::vec(event(), 0..40)) {
            let mut r = request();
            let mut dispatches = 0;
            for e in events {
                let before = r.clone();
                let result = match e {
                    Event::Approve(u) => r.approve(approval(&format!("u{u}")), "h".into()),
                    Event::QuorumMet => r.quorum_met(),
                    Event::Reject => r.reject("no".into()),
                    Event::BeginSigning => r.begin_signing(),
                    Event::Finish(ok) => r.finish(if ok { Ok(SignedView::default()) } else { Err("x".into()) }),
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before, "a refused transition changed the request");
                    continue;
                }
                prop_assert!(!before.stage.is_final(), "left a final stage: {:?}", before.stage);
                if r.approvals != before.approvals {
                    prop_assert_eq!(&before.stage, &Stage::Pending);
                    prop_assert_eq!(r.approvals.len(), before.approvals.len() + 1);
                }
                if matches!(e, Event::BeginSigning) {
                    dispatches += 1;
                    prop_assert_eq!(&before.stage, &Stage::Approved);
                }
                let mut users: Vec<_> = r.approvals.iter().map(|a| &a.user).collect();
                users.sort();
                users.dedup();
                prop_assert_eq!(users.len(), r.approvals.len());
            }
            prop_assert!(dispatches <= 1, "dispatched {} times", dispatches);
        }
    }
}
