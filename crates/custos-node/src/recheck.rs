//! The node's own decision on a signing request, before it joins the
//! protocol (DESIGN "A signing, step by step", step 4). Pure: the node's
//! governance state, its ledger of witnessed signings and its clock come in
//! as arguments, so a compromised server can only supply signatures it does
//! not have the keys to forge.

use custos_governance::{approval_message, initiate_message, GovError, Governance, Role};
use custos_policy::{Approver, PolicyError, Spent, Transfer};
use custos_protocol::authz::{Authorization, RequestError, SigningRecord, SigningRequest};

/// How far the server's stated time may be from the node's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// A signing this node witnessed in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// Audit sequence number of the entry.
    pub seq: u64,
    /// What the entry recorded.
    pub record: SigningRecord,
    /// The node's clock when it co-signed the checkpoint covering it.
    pub witnessed_at: i64,
}

/// Why a node refused to sign. Each names the check that failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The node holds no governance chain yet.
    #[error("this node holds no governance chain yet")]
    NoGovernance,
    /// The request was approved under a head this node does not hold
    /// (stale, forked or not yet delivered).
    #[error(
        "request approved under governance head {got}, this node is at {ours} (height {height})"
    )]
    Head {
        /// Head named by the request (hex).
        got: String,
        /// This node's head (hex).
        ours: String,
        /// This node's height.
        height: u64,
    },
    /// The server's time is too far from the node's.
    #[error("server time {server} is {skew} s from this node's clock; refusing")]
    ClockSkew {
        /// The server's time.
        server: i64,
        /// Difference in seconds.
        skew: i64,
    },
    /// The initiator's signature or role is wrong.
    #[error("initiator: {0}")]
    Initiator(GovError),
    /// The initiator is not an initiator.
    #[error("{0} does not hold the initiator role")]
    NotInitiator(String),
    /// An approval signature does not verify, or its user is unknown.
    #[error("approval: {0}")]
    Approval(GovError),
    /// A user approved twice.
    #[error("{0} approved twice")]
    DuplicateApproval(String),
    /// The initiator approved their own request.
    #[error("{0} approved their own request (segregation of duties)")]
    SelfApproval(String),
    /// An approval by a user the matching rule does not name.
    #[error("{user} may not approve under rule {rule:?}")]
    Unqualified {
        /// Approver.
        user: String,
        /// The matching rule.
        rule: String,
    },
    /// The policy denies the request or its approvals are short.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// The request is not in the audit log as this node witnessed it.
    #[error("request {0} is not covered by an audit checkpoint this node co-signed")]
    NotLogged(String),
    /// The intent does not decode or build.
    #[error("intent: {0}")]
    Intent(#[from] RequestError),
    /// The recorded amount is not a number.
    #[error("intent: amount")]
    Amount,
}

/// Decides whether this node may sign `request` as authorised by `auth`:
/// governance head, clock, initiator signature and role, approval
/// signatures, segregation of duties, the first-matching rule with the
/// node's own time and velocity ledger, and the request's audit entry.
pub fn check_request(
    gov: Option<&Governance>,
    request: &SigningRequest,
    auth: &Authorization,
    now: i64,
    ledger: &[LedgerRow],
) -> Result<(), Refusal> {
    let gov = gov.ok_or(Refusal::NoGovernance)?;
    if auth.head != gov.head() {
        return Err(Refusal::Head {
            got: hex::encode(auth.head),
            ours: hex::encode(gov.head()),
            height: gov.height(),
        });
    }
    let skew = auth.time.saturating_sub(now).saturating_abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal::ClockSkew {
            server: auth.time,
            skew,
        });
    }
    let hash = request.hash()?;
    let state = gov.state();
    state
        .verify_user(
            &auth.initiator,
            &initiate_message(&hash),
            &auth.initiator_signature,
        )
        .map_err(Refusal::Initiator)?;
    if !state.has_role(&auth.initiator, Role::Initiator) {
        return Err(Refusal::NotInitiator(auth.initiator.clone()));
    }
    let mut approvers: Vec<Approver> = Vec::new();
    for (user, sig) in &auth.approvals {
        if *user == auth.initiator {
            return Err(Refusal::SelfApproval(user.clone()));
        }
        if approvers.iter().any(|a| a.user == *user) {
            return Err(Refusal::DuplicateApproval(user.clone()));
        }
        state
            .verify_user(user, &approval_message(&hash, &auth.head), sig)
            .map_err(Refusal::Approval)?;
        approvers.push(Approver {
            user: user.clone(),
            roles: gov.state().role_names(user),
        });
    }
    let record = request.record(&auth.initiator)?;
    // Log before sign: the dispatch entry of exactly this request must be in
    // what this node witnessed.
    if !ledger
        .iter()
        .any(|r| r.record.request_id == record.request_id && r.record.request == record.request)
    {
        return Err(Refusal::NotLogged(record.request_id));
    }
    let state = gov.state();
    let (policy, book) =
        custos_policy::from_documents(state.policy.as_deref(), state.address_book.as_deref())?;
    let amount: u128 = record.amount.parse().map_err(|_| Refusal::Amount)?;
    let transfer = Transfer {
        initiator: auth.initiator.clone(),
        roles: gov.state().role_names(&auth.initiator),
        wallet: record.wallet.clone(),
        wallet_groups: book.groups_of_wallet(&record.wallet),
        chain: record.chain.clone(),
        asset: record.asset.clone(),
        destination: record.destination.clone(),
        amount,
    };
    let spent: Vec<Spent> = ledger
        .iter()
        .filter(|r| r.record.request_id != record.request_id)
        .filter_map(|r| {
            Some(Spent {
                time: r.witnessed_at,
                wallet: r.record.wallet.clone(),
                initiator: r.record.initiator.clone(),
                chain: r.record.chain.clone(),
                asset: r.record.asset.clone(),
                amount: r.record.amount.parse().ok()?,
            })
        })
        .collect();
    let decision = custos_policy::evaluate(&policy, &book, &transfer, now, &spent)?;
    if let (custos_policy::Action::Approve { .. }, Some(rule)) = (&decision.action, decision.rule) {
        let name = policy
            .rules
            .get(rule)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        for a in &approvers {
            if !custos_policy::may_approve(&decision, &auth.initiator, a) {
                return Err(Refusal::Unqualified {
                    user: a.user.clone(),
                    rule: name,
                });
            }
        }
    }
    custos_policy::check_approvals(&decision, &auth.initiator, &approvers)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_chains::intent::{Asset, ChainIntent, EthereumTransfer, INTENT_VERSION};
    use custos_chains::TransferIntent;

    fn check_transfer(
        gov: Option<&Governance>,
        intent: &TransferIntent,
        auth: &Authorization,
        now: i64,
        ledger: &[LedgerRow],
    ) -> Result<(), Refusal> {
        check_request(
            gov,
            &SigningRequest::Transfer(intent.clone()),
            auth,
            now,
            ledger,
        )
    }
    use custos_governance::{Change, Genesis, Proposal, SignedProposal};
    use ed25519_dalek::{Signer, SigningKey};
    use std::collections::BTreeSet;

    const NOW: i64 = 1_764_000_000; // a Monday, 16:00 UTC

    struct World {
        gov: Governance,
        keys: Vec<(String, SigningKey)>,
    }

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn world(policy: &str) -> World {
        let keys: Vec<(String, SigningKey)> = ["admin", "ivy", "ann", "bob", "vic"]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), key(i as u8 + 1)))
            .collect();
        let genesis = Genesis {
            admins: vec![("admin".into(), keys[0].1.verifying_key().to_bytes())],
            admin_quorum: 1,
            audit_key: key(99).verifying_key().to_bytes(),
        };
        let mut gov = Governance::genesis(&genesis).unwrap();
        let roles = [
            ("ivy", Role::Initiator),
            ("ann", Role::Approver),
            ("bob", Role::Approver),
            ("vic", Role::Viewer),
        ];
        let mut changes: Vec<Change> = roles
            .iter()
            .map(|(id, role)| Change::AddUser {
                id: id.to_string(),
                key: keys
                    .iter()
                    .find(|k| k.0 == *id)
                    .unwrap()
                    .1
                    .verifying_key()
                    .to_bytes(),
                roles: BTreeSet::from([*role]),
            })
            .collect();
        changes.push(Change::SetPolicy(policy.as_bytes().to_vec()));
        let p = Proposal {
            height: 1,
            prev: gov.head(),
            proposer: "admin".into(),
            time: NOW,
            changes,
        };
        let sig = p.sign(&keys[0].1).unwrap();
        gov.apply(&SignedProposal {
            proposal: p,
            signatures: vec![("admin".into(), sig)],
        })
        .unwrap();
        World { gov, keys }
    }

    impl World {
        fn k(&self, id: &str) -> &SigningKey {
            &self.keys.iter().find(|k| k.0 == id).unwrap().1
        }

        fn auth(&self, intent: &TransferIntent, approvers: &[&str]) -> Authorization {
            let hash = intent.hash().unwrap();
            Authorization {
                head: self.gov.head(),
                initiator: "ivy".into(),
                initiator_signature: self
                    .k("ivy")
                    .sign(&initiate_message(&hash))
                    .to_bytes()
                    .to_vec(),
                approvals: approvers
                    .iter()
                    .map(|a| {
                        let sig = self.k(a).sign(&approval_message(&hash, &self.gov.head()));
                        (a.to_string(), sig.to_bytes().to_vec())
                    })
                    .collect(),
                time: NOW,
            }
        }
    }

    fn intent(id: u8, amount: u128) -> TransferIntent {
        TransferIntent {
            version: INTENT_VERSION,
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 0,
            chain: ChainIntent::Ethereum(EthereumTransfer {
                chain_id: 1,
                to: "0x00000000000000000000000000000000000000aa".into(),
                asset: Asset::Native,
                amount,
                nonce: 0,
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
            }),
        }
    }

    fn logged(intents: &[&TransferIntent], at: i64) -> Vec<LedgerRow> {
        intents
            .iter()
            .enumerate()
            .map(|(i, t)| LedgerRow {
                seq: i as u64,
                record: SigningRecord::for_transfer(t, "ivy").unwrap(),
                witnessed_at: at,
            })
            .collect()
    }

    const TWO_APPROVERS: &str = r#"{"rules":[
        {"name":"big","min_amount":"1000","action":{"type":"block"}},
        {"name":"two","initiators":[{"role":"initiator"}],
         "velocity":{"scope":"wallet","window_secs":3600,"max_count":2},
         "action":{"type":"approve","count":2,"from":[{"role":"approver"}]}}]}"#;

    #[test]
    fn approved_transfer_passes_and_every_attack_is_refused() {
        let w = world(TWO_APPROVERS);
        let t = intent(1, 10);
        let ledger = logged(&[&t], NOW);
        let check = |auth: &Authorization, ledger: &[LedgerRow]| {
            check_transfer(Some(&w.gov), &t, auth, NOW, ledger)
        };
        check(&w.auth(&t, &["ann", "bob"]), &ledger).unwrap();

        // (1), (2) no or too few approvals.
        assert!(matches!(
            check(&w.auth(&t, &[]), &ledger),
            Err(Refusal::Policy(PolicyError::NotEnoughApprovals {
                have: 0,
                need: 2
            }))
        ));
        assert!(matches!(
            check(&w.auth(&t, &["ann"]), &ledger),
            Err(Refusal::Policy(PolicyError::NotEnoughApprovals {
                have: 1,
                need: 2
            }))
        ));
        // (3) forged approval.
        let mut forged = w.auth(&t, &["ann", "bob"]);
        forged.approvals[1].1 = key(50).sign(b"x").to_bytes().to_vec();
        assert!(matches!(check(&forged, &ledger), Err(Refusal::Approval(_))));
        // (4) initiator approves.
        let mut own = w.auth(&t, &["ann"]);
        let hash = t.hash().unwrap();
        own.approvals.push((
            "ivy".into(),
            w.k("ivy")
                .sign(&approval_message(&hash, &w.gov.head()))
                .to_bytes()
                .to_vec(),
        ));
        assert_eq!(
            check(&own, &ledger),
            Err(Refusal::SelfApproval("ivy".into()))
        );
        // (5) a viewer approves.
        assert!(matches!(
            check(&w.auth(&t, &["ann", "vic"]), &ledger),
            Err(Refusal::Unqualified { .. })
        ));
        // Duplicate approver.
        assert_eq!(
            check(&w.auth(&t, &["ann", "ann"]), &ledger),
            Err(Refusal::DuplicateApproval("ann".into()))
        );
        // (6) intent altered after approval: the signatures no longer match.
        let auth = w.auth(&t, &["ann", "bob"]);
        let altered = intent(1, 11);
        assert!(matches!(
            check_transfer(
                Some(&w.gov),
                &altered,
                &auth,
                NOW,
                &logged(&[&altered], NOW)
            ),
            Err(Refusal::Initiator(_))
        ));
        // (8) stale or forked head.
        let mut stale = w.auth(&t, &["ann", "bob"]);
        stale.head = [7; 32];
        assert!(matches!(check(&stale, &ledger), Err(Refusal::Head { .. })));
        assert_eq!(
            check_transfer(None, &t, &auth, NOW, &ledger),
            Err(Refusal::NoGovernance)
        );
        // (11) skewed server time.
        let mut skewed = w.auth(&t, &["ann", "bob"]);
        skewed.time = NOW - 3 * 3600;
        assert!(matches!(
            check(&skewed, &ledger),
            Err(Refusal::ClockSkew { .. })
        ));
        // (12) not logged, or logged with other content.
        assert!(matches!(check(&auth, &[]), Err(Refusal::NotLogged(_))));
        let mut other = logged(&[&t], NOW);
        other[0].record.request = "00".repeat(32);
        assert!(matches!(check(&auth, &other), Err(Refusal::NotLogged(_))));
        // Block rule and default deny.
        let big = intent(2, 5000);
        assert_eq!(
            check_transfer(
                Some(&w.gov),
                &big,
                &w.auth(&big, &["ann", "bob"]),
                NOW,
                &logged(&[&big], NOW)
            ),
            Err(Refusal::Policy(PolicyError::Denied(
                "a policy rule blocks this transfer"
            )))
        );
    }

    #[test]
    fn velocity_counts_witnessed_signings_of_other_requests() {
        let w = world(TWO_APPROVERS);
        let (a, b, c) = (intent(1, 10), intent(2, 10), intent(3, 10));
        // Two earlier signings in the window: a third exceeds max_count 2 and,
        // matching no other rule, is denied.
        let ledger = logged(&[&a, &b, &c], NOW - 60);
        assert!(matches!(
            check_transfer(Some(&w.gov), &c, &w.auth(&c, &["ann", "bob"]), NOW, &ledger),
            Err(Refusal::Policy(PolicyError::Denied(_)))
        ));
        // Outside the window they no longer count.
        let old = logged(&[&a, &b, &c], NOW - 3600);
        check_transfer(Some(&w.gov), &c, &w.auth(&c, &["ann", "bob"]), NOW, &old).unwrap();
    }

    /// A PSBT request spending inputs worth `sats` (one input of the value).
    fn psbt_request(id: u8, sats: u64) -> SigningRequest {
        use bitcoin::{absolute, transaction, Amount, ScriptBuf, Transaction, TxIn, TxOut};
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn::default()],
            output: vec![TxOut {
                value: Amount::from_sat(sats / 2),
                script_pubkey: ScriptBuf::new(),
            }],
        };
        let mut p = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
        if let Some(input) = p.inputs.first_mut() {
            input.witness_utxo = Some(TxOut {
                value: Amount::from_sat(sats),
                script_pubkey: ScriptBuf::new(),
            });
        }
        SigningRequest::Psbt(custos_protocol::authz::PsbtRequest {
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            network: "regtest".into(),
            psbt: p.serialize(),
        })
    }

    #[test]
    fn psbt_amount_limits_and_velocity_count_input_values() {
        let w = world(
            r#"{"rules":[{"name":"psbt","chains":["bitcoin-psbt"],"max_amount":"100000",
                "velocity":{"scope":"initiator","window_secs":3600,"max_sum":"150000"},
                "action":{"type":"allow"}}]}"#,
        );
        let auth = |r: &SigningRequest| {
            let hash = r.hash().unwrap();
            Authorization {
                head: w.gov.head(),
                initiator: "ivy".into(),
                initiator_signature: w
                    .k("ivy")
                    .sign(&initiate_message(&hash))
                    .to_bytes()
                    .to_vec(),
                approvals: Vec::new(),
                time: NOW,
            }
        };
        let row = |seq: u64, r: &SigningRequest| LedgerRow {
            seq,
            record: r.record("ivy").unwrap(),
            witnessed_at: NOW - 60,
        };
        let (small, large, again) = (
            psbt_request(1, 90_000),
            psbt_request(2, 130_000),
            psbt_request(3, 90_000),
        );
        check_request(Some(&w.gov), &small, &auth(&small), NOW, &[row(0, &small)]).unwrap();
        // Above the per-request limit (the change output does not lower it).
        assert!(matches!(
            check_request(Some(&w.gov), &large, &auth(&large), NOW, &[row(0, &large)]),
            Err(Refusal::Policy(PolicyError::Denied(_)))
        ));
        // 90 000 witnessed within the hour plus 90 000 exceeds 150 000.
        let ledger = [row(0, &small), row(1, &again)];
        assert!(matches!(
            check_request(Some(&w.gov), &again, &auth(&again), NOW, &ledger),
            Err(Refusal::Policy(PolicyError::Denied(_)))
        ));
    }
}
