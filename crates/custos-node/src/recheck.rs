//! The node's own decision on a signing request, before it joins the
//! protocol (DESIGN "A signing, step by step", step 4). Pure: the node's
//! governance state, its ledger of witnessed signings and its clock come in
//! as arguments, so a compromised server can only supply signatures it does
//! not have the keys to forge.

use custos_governance::{approval_message, initiate_message, GovError, Governance, Role};
use custos_policy::{Approver, PolicyError, Spent};
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
    /// The request is not in the audit log as this node witnessed it (or
    /// its entry records other destinations or amounts than this node
    /// planned).
    #[error("request {0} is not covered, as this node planned it, by an audit checkpoint this node co-signed")]
    NotLogged(String),
    /// The intent does not decode or build.
    #[error("intent: {0}")]
    Intent(#[from] RequestError),
    /// The recorded amount is not a number.
    #[error("intent: amount")]
    Amount,
    /// The request id was logged before for another request.
    #[error("request id {0} was logged before for another request")]
    RequestIdReused(String),
    /// An outpoint this request spends was stated with another value by a
    /// request this node witnessed (whichever nodes signed it).
    #[error("outpoint {outpoint} was stated at {recorded} sats by an earlier request; this one states {stated}: refusing")]
    OutpointConflict {
        /// `txid:vout`.
        outpoint: String,
        /// The earlier value.
        recorded: u64,
        /// This request's value.
        stated: u64,
    },
    /// A blind digest for a key that was not born blind (an ordinary
    /// wallet's key never signs a digest it is handed).
    #[error("blind signing refused: wallet {0} is not a blind wallet (its key was not created for blind signing)")]
    NotBlind(String),
    /// A transfer, PSBT or message for a blind wallet's key.
    #[error("a blind wallet's key signs blind digests only")]
    BlindOnly,
    /// The request names a wallet the key was not made for (this node's
    /// own record of the key, whatever the server's database says).
    #[error("the request names wallet {wallet}, but its key belongs to wallet {key_of} (this node's record)")]
    WalletKey {
        /// The wallet the request names.
        wallet: String,
        /// The wallet the key was made for.
        key_of: String,
    },
    /// The admin's wallet order was refused.
    #[error("wallet order: {0}")]
    Order(#[from] custos_protocol::attest::OrderError),
    /// A wallet of this id exists, or its DKG runs, at this node already.
    #[error("wallet {0} exists or is being made already at this node")]
    WalletExists(String),
    /// An aux-info job not for an ECDSA wallet's order.
    #[error("aux info is made only for an order of an ECDSA wallet")]
    AuxOrder,
    /// The job's committee is not the governance chain's.
    #[error("committee {0:?} is not the one the governance chain records")]
    Committee(String),
    /// The checkpoint sent with a signing does not certify its entry.
    #[error("log before sign: {0}")]
    Checkpoint(&'static str),
}

/// What every request before this one (as this node witnessed them, whichever
/// nodes signed) must not contradict: its id names no other request, and no
/// outpoint of the same key was stated at another value (a value proven by
/// the previous transaction may replace one that was only stated).
fn check_history(record: &SigningRecord, ledger: &[LedgerRow]) -> Result<(), Refusal> {
    for r in ledger.iter().map(|r| &r.record) {
        if r == record {
            continue;
        }
        if r.request_id == record.request_id {
            return Err(Refusal::RequestIdReused(record.request_id.clone()));
        }
        if r.key_id != record.key_id {
            continue;
        }
        for mine in &record.outpoints {
            for theirs in r
                .outpoints
                .iter()
                .filter(|t| t.txid == mine.txid && t.vout == mine.vout)
            {
                // A proven value may replace one that was only stated.
                let replaces = mine.proven && !theirs.proven;
                if theirs.value != mine.value && !replaces {
                    return Err(Refusal::OutpointConflict {
                        outpoint: format!("{}:{}", mine.txid, mine.vout),
                        recorded: theirs.value,
                        stated: mine.value,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Decides whether this node may sign `request` as authorised by `auth`:
/// governance head, clock, initiator signature and role, approval
/// signatures, segregation of duties, the first-matching rule with the
/// node's own time and velocity ledger, and the request's audit entry.
pub fn check_request(
    gov: Option<&Governance>,
    request: &SigningRequest,
    record: &SigningRecord,
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
            .verify_user(
                user,
                &approval_message(&hash, &auth.head, &auth.initiator),
                sig,
            )
            .map_err(Refusal::Approval)?;
        approvers.push(Approver {
            user: user.clone(),
            roles: gov.state().role_names(user),
        });
    }
    if record.initiator != auth.initiator || record.request != hex::encode(hash) {
        return Err(Refusal::Intent(RequestError::Malformed));
    }
    // Log before sign: the dispatch entry of exactly this request, recording
    // exactly what this node planned (so every node's velocity ledger holds
    // what the signers computed, never what the server claims), must be in
    // what this node witnessed.
    if !ledger.iter().any(|r| r.record == *record) {
        return Err(Refusal::NotLogged(record.request_id.clone()));
    }
    check_history(record, ledger)?;
    let (policy, book) = custos_protocol::policy::load(state)?;
    // The node's own record (its plan of the request), never the logged
    // one, is what policy sees; the ledger holds what the others recorded.
    let transfer =
        custos_protocol::policy::request_of(record, state, &book).ok_or(Refusal::Amount)?;
    let spent: Vec<Spent> = ledger
        .iter()
        .filter(|r| r.record != *record)
        .filter_map(|r| custos_protocol::policy::spent_of(&r.record, r.witnessed_at))
        .collect();
    let decision = custos_policy::evaluate(&policy, &book, &transfer, now, &spent)?;
    let asks = decision
        .buckets
        .iter()
        .any(|b| matches!(b.action, custos_policy::Action::Approve { .. }));
    for a in approvers.iter().filter(|_| asks) {
        if !custos_policy::may_approve(&decision, &auth.initiator, a) {
            return Err(Refusal::Unqualified {
                user: a.user.clone(),
                rule: decision.rule_names(&policy).unwrap_or_default(),
            });
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
    use custos_governance::{Change, Genesis, Proposal, SignedProposal};
    use custos_protocol::authz::plan;
    use custos_tss::Scheme;
    use ed25519_dalek::{Signer, SigningKey};
    use std::collections::BTreeSet;

    const NOW: i64 = 1_764_000_000; // a Monday, 16:00 UTC
    /// The wallet's key at every path (the secp256k1 generator).
    const G: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    const TO: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

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
            committees: vec![],
            demo: true,
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
        changes.push(Change::AllowBlindWallet {
            wallet: "bw".into(),
        });
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

    /// The record a node plans for `r` (the wallet key is G everywhere).
    fn record(r: &SigningRequest) -> SigningRecord {
        let key_at = |_: &custos_tss::DerivationPath| Ok(hex::decode(G).unwrap());
        SigningRecord::new(r, "ivy", &plan(r, Scheme::EcdsaSecp256k1, &key_at).unwrap()).unwrap()
    }

    fn logged(requests: &[&SigningRequest], at: i64) -> Vec<LedgerRow> {
        requests
            .iter()
            .enumerate()
            .map(|(i, r)| LedgerRow {
                seq: i as u64,
                record: record(r),
                witnessed_at: at,
            })
            .collect()
    }

    impl World {
        fn k(&self, id: &str) -> &SigningKey {
            &self.keys.iter().find(|k| k.0 == id).unwrap().1
        }

        fn auth(&self, r: &SigningRequest, approvers: &[&str]) -> Authorization {
            let hash = r.hash().unwrap();
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
                        let sig = self
                            .k(a)
                            .sign(&approval_message(&hash, &self.gov.head(), "ivy"));
                        (a.to_string(), sig.to_bytes().to_vec())
                    })
                    .collect(),
                time: NOW,
            }
        }

        /// The node's whole check of `r` with its own record.
        fn check(
            &self,
            r: &SigningRequest,
            auth: &Authorization,
            ledger: &[LedgerRow],
        ) -> Result<(), Refusal> {
            check_request(Some(&self.gov), r, &record(r), auth, NOW, ledger)
        }

        /// `r` approved by `approvers`, logged with `earlier` before it.
        fn try_sign(
            &self,
            r: &SigningRequest,
            approvers: &[&str],
            earlier: &[&SigningRequest],
        ) -> Result<(), Refusal> {
            let mut all: Vec<&SigningRequest> = earlier.to_vec();
            all.push(r);
            self.check(r, &self.auth(r, approvers), &logged(&all, NOW - 60))
        }
    }

    fn eth(id: u8, amount: u128, max_fee_per_gas: u128) -> SigningRequest {
        SigningRequest::Transfer(TransferIntent {
            version: INTENT_VERSION,
            request_id: [id; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 0,
            chain: ChainIntent::Ethereum(EthereumTransfer {
                chain_id: 1,
                to: TO.into(),
                asset: Asset::Native,
                amount,
                nonce: 0,
                max_fee_per_gas,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
            }),
        })
    }

    const TWO_APPROVERS: &str = r#"{"rules":[
        {"name":"big","min_amount":"1000000","action":{"type":"block"}},
        {"name":"two","initiators":[{"role":"initiator"}],
         "velocity":{"scope":"wallet","window_secs":3600,"max_count":2},
         "action":{"type":"approve","count":2,"from":[{"role":"approver"}]}}]}"#;

    #[test]
    fn approved_transfer_passes_and_every_attack_is_refused() {
        let w = world(TWO_APPROVERS);
        let t = eth(1, 10, 1);
        let ledger = logged(&[&t], NOW);
        let check = |auth: &Authorization, ledger: &[LedgerRow]| w.check(&t, auth, ledger);
        check(&w.auth(&t, &["ann", "bob"]), &ledger).unwrap();
        // No or too few approvals.
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
        // Forged approval.
        let mut forged = w.auth(&t, &["ann", "bob"]);
        forged.approvals[1].1 = key(50).sign(b"x").to_bytes().to_vec();
        assert!(matches!(check(&forged, &ledger), Err(Refusal::Approval(_))));
        // The initiator approves.
        let mut own = w.auth(&t, &["ann"]);
        let hash = t.hash().unwrap();
        own.approvals.push((
            "ivy".into(),
            w.k("ivy")
                .sign(&approval_message(&hash, &w.gov.head(), "ivy"))
                .to_bytes()
                .to_vec(),
        ));
        assert_eq!(
            check(&own, &ledger),
            Err(Refusal::SelfApproval("ivy".into()))
        );
        // A viewer approves; someone approves twice.
        assert!(matches!(
            check(&w.auth(&t, &["ann", "vic"]), &ledger),
            Err(Refusal::Unqualified { .. })
        ));
        assert_eq!(
            check(&w.auth(&t, &["ann", "ann"]), &ledger),
            Err(Refusal::DuplicateApproval("ann".into()))
        );
        // The request altered after approval: the signatures do not match.
        let auth = w.auth(&t, &["ann", "bob"]);
        let altered = eth(1, 11, 1);
        assert!(matches!(
            w.check(&altered, &auth, &logged(&[&altered], NOW)),
            Err(Refusal::Initiator(_))
        ));
        // Stale head, no governance, skewed server time.
        let mut stale = w.auth(&t, &["ann", "bob"]);
        stale.head = [7; 32];
        assert!(matches!(check(&stale, &ledger), Err(Refusal::Head { .. })));
        assert_eq!(
            check_request(None, &t, &record(&t), &auth, NOW, &ledger),
            Err(Refusal::NoGovernance)
        );
        let mut skewed = w.auth(&t, &["ann", "bob"]);
        skewed.time = NOW - 3 * 3600;
        assert!(matches!(
            check(&skewed, &ledger),
            Err(Refusal::ClockSkew { .. })
        ));
        // Not logged, or logged with other content (another hash, or the
        // server's own understated amounts): refused.
        assert!(matches!(check(&auth, &[]), Err(Refusal::NotLogged(_))));
        let mut other = logged(&[&t], NOW);
        other[0].record.request = "00".repeat(32);
        assert!(matches!(check(&auth, &other), Err(Refusal::NotLogged(_))));
        let mut understated = logged(&[&t], NOW);
        understated[0].record.spends[0].amount = "1".into();
        assert!(matches!(
            check(&auth, &understated),
            Err(Refusal::NotLogged(_))
        ));
        // Block rule.
        let big = eth(2, 5_000_000, 1);
        assert_eq!(
            w.try_sign(&big, &["ann", "bob"], &[]),
            Err(Refusal::Policy(PolicyError::Denied(
                "a policy rule blocks this request"
            )))
        );
    }

    #[test]
    fn velocity_counts_witnessed_signings_of_other_requests() {
        let w = world(TWO_APPROVERS);
        let (a, b, c) = (eth(1, 10, 1), eth(2, 10, 1), eth(3, 10, 1));
        assert!(matches!(
            w.try_sign(&c, &["ann", "bob"], &[&a, &b]),
            Err(Refusal::Policy(PolicyError::Denied(_)))
        ));
        // Outside the window they no longer count.
        let old = logged(&[&a, &b, &c], NOW - 3600);
        w.check(&c, &w.auth(&c, &["ann", "bob"]), &old).unwrap();
    }

    #[test]
    fn the_witnessed_history_binds_request_ids_and_outpoint_values() {
        use custos_protocol::authz::OutpointValue;
        let w = world(TWO_APPROVERS);
        let t = eth(1, 10, 1);
        let auth = w.auth(&t, &["ann", "bob"]);
        let mut ledger = logged(&[&t], NOW);
        // The same id logged for another request (signed elsewhere):
        // refused here, and not skipped by velocity either.
        let mut other = ledger[0].clone();
        other.record.request = "11".repeat(32);
        ledger.push(other);
        assert!(matches!(
            w.check(&t, &auth, &ledger),
            Err(Refusal::RequestIdReused(_))
        ));
        // Outpoints: an earlier request of the same key stating another
        // value, whichever nodes signed it, refuses this one; a proven value
        // may replace a stated one, not the reverse.
        let out = |value, proven| OutpointValue {
            txid: "ab".repeat(32),
            vout: 0,
            value,
            proven,
        };
        let mut mine = record(&t);
        mine.outpoints = vec![out(1000, false)];
        let mut theirs = record(&eth(2, 10, 1));
        theirs.outpoints = vec![out(900, false)];
        let row = |r: &SigningRecord| LedgerRow {
            seq: 0,
            record: r.clone(),
            witnessed_at: NOW,
        };
        assert!(matches!(
            check_history(&mine, &[row(&theirs), row(&mine)]),
            Err(Refusal::OutpointConflict {
                recorded: 900,
                stated: 1000,
                ..
            })
        ));
        mine.outpoints = vec![out(1000, true)];
        check_history(&mine, &[row(&theirs), row(&mine)]).unwrap();
        theirs.outpoints = vec![out(900, true)];
        assert!(check_history(&mine, &[row(&theirs)]).is_err());
        // Another key's outpoint with the same txid:vout does not conflict.
        theirs.key_id = "ff".repeat(32);
        check_history(&mine, &[row(&theirs)]).unwrap();
    }
}
