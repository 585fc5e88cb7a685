//! One audit checkpoint round, decided without I/O: which nodes were asked,
//! what each answered, whether the checkpoint holds, and why not.
//!
//! The round holds once the committee's checkpoint quorum (a majority of
//! its members, and at least `t`: two disjoint sets can never both certify)
//! co-signed and every *required* node (the
//! signers named for the request about to be signed) did: a node that
//! stalls or refuses must not stop a committee that can sign without it,
//! and it catches up in the next round. A checkpoint is recorded only with
//! the quorum of co-signatures (what auditors and nodes verify against). The
//! driver in `hub::witness` sends the requests, waits with a deadline and
//! feeds the answers in.

use std::collections::{BTreeMap, BTreeSet};

use custos_tss::PartyIndex;

/// Why one node does not count in this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Not asked: it has not answered the previous round yet.
    Busy {
        /// The size it is still witnessing.
        size: u64,
    },
    /// Not asked: its connection would not take the request.
    Unreachable,
    /// It answered with a co-signature that does not verify.
    InvalidCoSignature,
    /// It refused, saying why.
    Refused(String),
    /// Its connection closed before it answered.
    Disconnected,
    /// It did not answer before the deadline.
    TimedOut,
}

/// A node's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A co-signature, and whether it verifies under the key it came with.
    CoSigned {
        /// Verifies.
        valid: bool,
    },
    /// A refusal.
    Refused(String),
    /// The connection closed first.
    Disconnected,
}

/// Why the round does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// A required node did not co-sign (`None`: it was never in the round,
    /// i.e. not connected).
    Required(PartyIndex, Option<Missing>),
    /// Fewer than `t` co-signed; the first node (by index) that did not,
    /// if any was in the round.
    BelowThreshold {
        /// How many co-signed.
        cosigned: usize,
        /// The first failure.
        first: Option<(PartyIndex, Missing)>,
    },
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Record the checkpoint (a threshold co-signed it).
    pub record: bool,
    /// The co-signers in index order, or why the round does not hold.
    pub result: Result<Vec<PartyIndex>, Shortfall>,
    /// Nodes the round holds without, and why (logged).
    pub without: BTreeMap<PartyIndex, Missing>,
}

/// The state of one round.
#[derive(Debug, Clone)]
pub struct Round {
    t: usize,
    /// In the order the caller named them (the first missing one is reported).
    required: Vec<PartyIndex>,
    waiting: BTreeSet<PartyIndex>,
    cosigners: BTreeSet<PartyIndex>,
    missing: BTreeMap<PartyIndex, Missing>,
}

impl Round {
    /// A round that needs `t` co-signatures including every one of `required`.
    pub fn new(t: usize, required: &[PartyIndex]) -> Self {
        Self {
            t,
            required: required.to_vec(),
            waiting: BTreeSet::new(),
            cosigners: BTreeSet::new(),
            missing: BTreeMap::new(),
        }
    }

    /// Whether `p`, which has not answered the previous round (of `size`),
    /// is left out of this one. A required node is asked regardless: it may
    /// have just recovered, and the signing fails anyway if it has not.
    pub fn skip_if_busy(&mut self, p: PartyIndex, outstanding: Option<u64>) -> bool {
        match outstanding {
            Some(size) if !self.required.contains(&p) => {
                self.missing.insert(p, Missing::Busy { size });
                true
            }
            _ => false,
        }
    }

    /// `p`'s connection would not take the request.
    pub fn unreachable(&mut self, p: PartyIndex) {
        self.missing.insert(p, Missing::Unreachable);
    }

    /// `p` was asked.
    pub fn asked(&mut self, p: PartyIndex) {
        self.waiting.insert(p);
    }

    /// Feeds `p`'s answer in; answers from nodes not waited for are ignored.
    pub fn answer(&mut self, p: PartyIndex, answer: Answer) {
        if !self.waiting.remove(&p) {
            return;
        }
        let missing = match answer {
            Answer::CoSigned { valid: true } => {
                self.cosigners.insert(p);
                return;
            }
            Answer::CoSigned { valid: false } => Missing::InvalidCoSignature,
            Answer::Refused(why) => Missing::Refused(why),
            Answer::Disconnected => Missing::Disconnected,
        };
        self.missing.insert(p, missing);
    }

    /// Whether the checkpoint holds already (the driver then waits only a
    /// short grace for the rest).
    pub fn holds(&self) -> bool {
        self.cosigners.len() >= self.t && self.required.iter().all(|p| self.cosigners.contains(p))
    }

    /// Nodes asked that have not answered.
    pub fn waiting(&self) -> impl Iterator<Item = PartyIndex> + '_ {
        self.waiting.iter().copied()
    }

    /// Ends the round at its deadline: whoever still waits timed out.
    pub fn finish(mut self) -> Verdict {
        for p in std::mem::take(&mut self.waiting) {
            self.missing.insert(p, Missing::TimedOut);
        }
        let record = self.cosigners.len() >= self.t;
        let result = if let Some(&p) = self.required.iter().find(|p| !self.cosigners.contains(p)) {
            Err(Shortfall::Required(p, self.missing.get(&p).cloned()))
        } else if !record {
            Err(Shortfall::BelowThreshold {
                cosigned: self.cosigners.len(),
                first: self.missing.iter().next().map(|(p, m)| (*p, m.clone())),
            })
        } else {
            Ok(self.cosigners.iter().copied().collect())
        };
        Verdict {
            record,
            result,
            without: self.missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_with_t_including_the_required_and_without_a_stalled_node() {
        // 2-of-3, node 2 still busy with the last round, node 1 named.
        let mut r = Round::new(2, &[1]);
        assert!(r.skip_if_busy(2, Some(7)));
        assert!(
            !r.skip_if_busy(1, Some(7)),
            "a required node is asked anyway"
        );
        r.asked(0);
        r.asked(1);
        r.answer(0, Answer::CoSigned { valid: true });
        assert!(!r.holds(), "the named signer has not co-signed");
        r.answer(1, Answer::CoSigned { valid: true });
        assert!(r.holds());
        let v = r.finish();
        assert!(v.record);
        assert_eq!(v.result, Ok(vec![0, 1]));
        assert_eq!(v.without.get(&2), Some(&Missing::Busy { size: 7 }));
    }

    #[test]
    fn a_pair_of_a_two_of_five_committee_forms_no_checkpoint() {
        // The quorum the hub uses: a majority (3 of 5), not t (2). Two
        // disjoint pairs asked to co-sign two diverging logs: neither holds,
        // neither is recorded.
        let member = |i: u8| custos_governance::Member {
            name: format!("node-{i}"),
            channel_key: [i; 32],
            witness_key: [i + 10; 32],
            tls_fingerprint: [i + 20; 32],
        };
        let committee = custos_governance::Committee {
            id: "c".into(),
            threshold: 2,
            members: (0..5).map(member).collect(),
        };
        assert_eq!(committee.checkpoint_quorum(), 3);
        for pair in [[0, 1], [2, 3]] {
            let mut r = Round::new(committee.checkpoint_quorum(), &pair);
            for p in pair {
                r.asked(p);
                r.answer(p, Answer::CoSigned { valid: true });
            }
            assert!(!r.holds());
            let v = r.finish();
            assert!(!v.record, "{pair:?} recorded a checkpoint");
            assert!(matches!(
                v.result,
                Err(Shortfall::BelowThreshold { cosigned: 2, .. })
            ));
        }
    }

    #[test]
    fn a_required_node_that_refuses_fails_the_round_but_a_threshold_is_recorded() {
        let mut r = Round::new(2, &[2]);
        for p in 0..3 {
            r.asked(p);
        }
        r.answer(0, Answer::CoSigned { valid: true });
        r.answer(1, Answer::CoSigned { valid: true });
        r.answer(2, Answer::Refused("fork".into()));
        assert!(!r.holds());
        let v = r.finish();
        assert!(v.record, "two co-signatures are a checkpoint");
        assert_eq!(
            v.result,
            Err(Shortfall::Required(
                2,
                Some(Missing::Refused("fork".into()))
            ))
        );
    }

    #[test]
    fn below_threshold_names_the_first_failure_and_is_not_recorded() {
        let mut r = Round::new(2, &[]);
        r.asked(0);
        r.asked(1);
        r.unreachable(2);
        r.answer(0, Answer::CoSigned { valid: false });
        r.answer(1, Answer::CoSigned { valid: true });
        // A second answer from a node no longer waited for changes nothing.
        r.answer(0, Answer::CoSigned { valid: true });
        let v = r.finish();
        assert!(!v.record);
        assert_eq!(
            v.result,
            Err(Shortfall::BelowThreshold {
                cosigned: 1,
                first: Some((0, Missing::InvalidCoSignature))
            })
        );
    }

    #[test]
    fn the_first_named_signer_missing_is_the_one_reported() {
        let mut r = Round::new(2, &[2, 1]);
        r.asked(0);
        r.asked(1);
        r.asked(2);
        r.answer(0, Answer::CoSigned { valid: true });
        r.answer(1, Answer::Refused("a".into()));
        r.answer(2, Answer::Refused("b".into()));
        assert_eq!(
            r.finish().result,
            Err(Shortfall::Required(2, Some(Missing::Refused("b".into()))))
        );
    }

    #[test]
    fn silence_is_a_timeout_and_an_absent_required_node_is_named() {
        let mut r = Round::new(1, &[3]);
        r.asked(0);
        r.asked(1);
        r.answer(1, Answer::Disconnected);
        assert_eq!(r.waiting().collect::<Vec<_>>(), vec![0]);
        let v = r.finish();
        assert_eq!(v.without.get(&0), Some(&Missing::TimedOut));
        assert_eq!(v.without.get(&1), Some(&Missing::Disconnected));
        assert_eq!(v.result, Err(Shortfall::Required(3, None)));
        assert!(!v.record);
    }
}
