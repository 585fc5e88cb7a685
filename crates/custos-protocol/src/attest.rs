//! Statements that do not rest on the server's word:
//!
//! - [`WalletOrder`]: an admin's signed order to create a wallet (the DKG,
//!   and the committee's aux info before its first ECDSA key); every node
//!   checks it under its own governance head before any round.
//! - [`WalletStatement`]: what a node recorded about a new wallet (id,
//!   scheme, key id, public key, chain code, committee, epoch), signed with
//!   its witness key. A reader holding `t` valid attestations from the
//!   committee (keys from the governance chain) derives addresses itself;
//!   the server's wallet row is then only a cache.
//! - [`Freshness`]: a node's newest co-signed audit checkpoint over a nonce
//!   the verifier chose, so a server cannot answer with an old one.
//!
//! Pure: keys and clocks come in as arguments.

use custos_governance::{Committee, Governance, Hash, Role};
use custos_tss::Scheme;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ORDER_TAG: &[u8] = b"custos/wallet-order/v1";
const STATEMENT_TAG: &[u8] = b"custos/wallet-statement/v1";
const FRESHNESS_TAG: &[u8] = b"custos/audit-freshness/v1";

/// How far an order's time may be from a node's clock (seconds).
pub const ORDER_SKEW: i64 = 300;

fn tagged<T: Serialize>(tag: &[u8], value: &T) -> Vec<u8> {
    // Postcard of these plain structs cannot fail; an empty body would
    // still be domain-separated and never verify against a real signature.
    let body = postcard::to_stdvec(value).unwrap_or_default();
    let digest: [u8; 32] = Sha256::new()
        .chain_update(tag)
        .chain_update(&body)
        .finalize()
        .into();
    [tag, digest.as_slice()].concat()
}

/// An admin's order to create one wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletOrder {
    /// The wallet's id (unique; a blind wallet's id is allowed by governance).
    pub wallet: String,
    /// Scheme of its key.
    pub scheme: Scheme,
    /// Born for blind (bare-digest) signing.
    pub blind: bool,
    /// The committee that holds it.
    pub committee: String,
    /// The governance head the admin ordered it under.
    pub head: Hash,
    /// The admin's clock (Unix seconds).
    pub time: i64,
}

impl WalletOrder {
    /// What the admin signs.
    pub fn message(&self) -> Vec<u8> {
        tagged(ORDER_TAG, self)
    }
}

/// A wallet order with the admin's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOrder {
    /// The order.
    pub order: WalletOrder,
    /// Admin's user id.
    pub admin: String,
    /// Ed25519 signature over [`WalletOrder::message`].
    pub signature: Vec<u8>,
}

/// Why an order was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// No governance chain to check against.
    #[error("no governance chain yet")]
    NoGovernance,
    /// Ordered under another governance head.
    #[error("ordered under another governance head than this node's")]
    Head,
    /// The orderer is not an admin, or the signature does not verify.
    #[error("not signed by an admin: {0}")]
    NotAdmin(String),
    /// Too far from this clock.
    #[error("order time {time} is more than {ORDER_SKEW} s from this clock ({now})")]
    Time {
        /// The order's time.
        time: i64,
        /// The checker's clock.
        now: i64,
    },
    /// For another committee.
    #[error("the order is for committee {0:?}")]
    Committee(String),
    /// A malformed id, a blind wallet governance does not allow, or an
    /// ordinary wallet under an id reserved for a blind one.
    #[error("wallet id {0:?}: {1}")]
    Wallet(String, &'static str),
}

impl SignedOrder {
    /// Checks the order under `gov` (its head, the admin's current key),
    /// against `now` and the committee it runs in.
    pub fn check(
        &self,
        gov: Option<&Governance>,
        committee: &str,
        now: i64,
    ) -> Result<(), OrderError> {
        let gov = gov.ok_or(OrderError::NoGovernance)?;
        let o = &self.order;
        if o.head != gov.head() {
            return Err(OrderError::Head);
        }
        let state = gov.state();
        if !state.has_role(&self.admin, Role::Admin) {
            return Err(OrderError::NotAdmin(self.admin.clone()));
        }
        state
            .verify_user(&self.admin, &o.message(), &self.signature)
            .map_err(|_| OrderError::NotAdmin(self.admin.clone()))?;
        if (now - o.time).abs() > ORDER_SKEW {
            return Err(OrderError::Time { time: o.time, now });
        }
        if o.committee != committee || gov.committee(committee).is_none() {
            return Err(OrderError::Committee(o.committee.clone()));
        }
        let wallet = |why| OrderError::Wallet(o.wallet.clone(), why);
        if !custos_governance::valid_id(&o.wallet) {
            return Err(wallet("1-64 of [A-Za-z0-9_-]"));
        }
        match (o.blind, state.blind_wallets.contains(&o.wallet)) {
            (true, false) => Err(wallet("governance allows no blind wallet of this id")),
            (false, true) => Err(wallet("reserved by governance for a blind wallet")),
            _ => Ok(()),
        }
    }
}

/// What a node recorded about a wallet at its creation (and, after a
/// refresh, per epoch): hex fields as the node's outcome reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletStatement {
    /// Wallet id.
    pub wallet: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Born blind: no addresses, bare digests only.
    pub blind: bool,
    /// Committee id.
    pub committee: String,
    /// Share generation (0 at creation).
    pub epoch: u32,
    /// Key id of that generation (hex).
    pub key_id: String,
    /// Public key signatures at the root verify against (hex).
    pub public_key: String,
    /// Root key for derivation (hex; BIP-340: the internal key).
    pub root_key: String,
    /// Chain code (hex).
    pub chain_code: String,
}

/// One node's signature over a [`WalletStatement`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The node's witness key (Ed25519, as governance records it).
    pub witness_key: [u8; 32],
    /// Signature over [`WalletStatement::message`].
    pub signature: Vec<u8>,
}

/// Why attestations were refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// The statement names another committee than the one checked against.
    #[error("the statement names committee {0:?}")]
    Committee(String),
    /// A signature by a key that is no witness of the committee.
    #[error("attestation by {0}, which is no witness of the committee")]
    NotAMember(String),
    /// A member's signature does not verify.
    #[error("attestation by member {0} does not verify")]
    BadSignature(usize),
    /// One member attested twice.
    #[error("member {0} attested twice")]
    Duplicate(usize),
    /// Fewer valid attestations than the threshold.
    #[error("{have} valid attestations, the committee's threshold is {need}")]
    TooFew {
        /// Valid distinct attestations.
        have: usize,
        /// Threshold.
        need: usize,
    },
}

impl WalletStatement {
    /// What each node signs.
    pub fn message(&self) -> Vec<u8> {
        tagged(STATEMENT_TAG, self)
    }

    /// A node's attestation with its witness key.
    pub fn attest(&self, key: &SigningKey) -> Attestation {
        Attestation {
            witness_key: key.verifying_key().to_bytes(),
            signature: key.sign(&self.message()).to_bytes().to_vec(),
        }
    }

    /// Checks `attestations` against `committee` (from the governance
    /// chain): every one from a distinct member and valid — a bad one is
    /// refused, not skipped, so tampering is loud — and at least the
    /// threshold of them. Returns the attesting members' indices.
    pub fn verify(
        &self,
        attestations: &[Attestation],
        committee: &Committee,
    ) -> Result<Vec<usize>, AttestError> {
        if self.committee != committee.id {
            return Err(AttestError::Committee(self.committee.clone()));
        }
        let message = self.message();
        let mut members = Vec::new();
        for a in attestations {
            let i = committee
                .witness_index(&a.witness_key)
                .ok_or_else(|| AttestError::NotAMember(hex::encode(a.witness_key)))?;
            if !verifies(&a.witness_key, &message, &a.signature) {
                return Err(AttestError::BadSignature(i));
            }
            if members.contains(&i) {
                return Err(AttestError::Duplicate(i));
            }
            members.push(i);
        }
        let need = usize::from(committee.threshold);
        if members.len() < need {
            return Err(AttestError::TooFew {
                have: members.len(),
                need,
            });
        }
        members.sort_unstable();
        Ok(members)
    }
}

fn verifies(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(vk), Ok(sig)) = (
        VerifyingKey::from_bytes(key),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    vk.verify(message, &sig).is_ok()
}

/// A node's answer to a verifier's nonce: the newest audit checkpoint it
/// co-signed and its governance head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The verifier's nonce.
    pub nonce: [u8; 32],
    /// Size of the newest checkpoint this node co-signed (0: none).
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The node's governance head.
    pub head: Hash,
    /// The node's witness key.
    pub witness_key: [u8; 32],
    /// Signature over the fields above.
    pub signature: Vec<u8>,
}

#[derive(Serialize)]
struct FreshnessBody<'a> {
    nonce: &'a [u8; 32],
    size: u64,
    root: &'a Hash,
    head: &'a Hash,
}

impl Freshness {
    fn message(nonce: &[u8; 32], size: u64, root: &Hash, head: &Hash) -> Vec<u8> {
        tagged(
            FRESHNESS_TAG,
            &FreshnessBody {
                nonce,
                size,
                root,
                head,
            },
        )
    }

    /// A node's signed answer.
    pub fn answer(nonce: [u8; 32], size: u64, root: Hash, head: Hash, key: &SigningKey) -> Self {
        let signature = key
            .sign(&Self::message(&nonce, size, &root, &head))
            .to_bytes()
            .to_vec();
        Self {
            nonce,
            size,
            root,
            head,
            witness_key: key.verifying_key().to_bytes(),
            signature,
        }
    }

    /// Whether the signature verifies under the key it names.
    pub fn verifies(&self) -> bool {
        verifies(
            &self.witness_key,
            &Self::message(&self.nonce, self.size, &self.root, &self.head),
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_governance::{Genesis, Member};

    fn keys() -> Vec<SigningKey> {
        (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect()
    }

    fn committee(keys: &[SigningKey]) -> Committee {
        Committee {
            id: "default".into(),
            threshold: 2,
            members: keys
                .iter()
                .enumerate()
                .map(|(i, k)| Member {
                    name: format!("n{i}"),
                    channel_key: [i as u8; 32],
                    witness_key: k.verifying_key().to_bytes(),
                    tls_fingerprint: [i as u8 + 9; 32],
                })
                .collect(),
        }
    }

    fn statement() -> WalletStatement {
        WalletStatement {
            wallet: "w".into(),
            scheme: Scheme::Ed25519,
            blind: false,
            committee: "default".into(),
            epoch: 0,
            key_id: "00".into(),
            public_key: "11".into(),
            root_key: "11".into(),
            chain_code: "22".into(),
        }
    }

    #[test]
    fn attestations_need_a_threshold_of_valid_distinct_members() {
        let k = keys();
        let c = committee(&k);
        let s = statement();
        let a: Vec<Attestation> = k.iter().map(|k| s.attest(k)).collect();
        assert_eq!(s.verify(&a, &c), Ok(vec![0, 1, 2]));
        assert_eq!(s.verify(&a[..2], &c), Ok(vec![0, 1]));
        assert_eq!(
            s.verify(&a[..1], &c),
            Err(AttestError::TooFew { have: 1, need: 2 })
        );
        assert_eq!(
            s.verify(&[a[0].clone(), a[0].clone()], &c),
            Err(AttestError::Duplicate(0))
        );
        let mut flipped = a.clone();
        flipped[1].signature[5] ^= 1;
        assert_eq!(s.verify(&flipped, &c), Err(AttestError::BadSignature(1)));
        let outsider = statement().attest(&SigningKey::from_bytes(&[7; 32]));
        assert!(matches!(
            s.verify(&[a[0].clone(), outsider], &c),
            Err(AttestError::NotAMember(_))
        ));
        // Any field changed after signing: no member's signature holds.
        for edit in [
            |s: &mut WalletStatement| s.chain_code = "23".into(),
            |s: &mut WalletStatement| s.key_id = "01".into(),
            |s: &mut WalletStatement| s.root_key = "12".into(),
            |s: &mut WalletStatement| s.blind = true,
        ] {
            let mut t = statement();
            edit(&mut t);
            assert_eq!(t.verify(&a, &c), Err(AttestError::BadSignature(0)));
        }
    }

    #[test]
    fn orders_are_checked_under_the_head_by_an_admin_in_time() {
        let admin = SigningKey::from_bytes(&[5; 32]);
        let k = keys();
        let gov = Governance::genesis(&Genesis {
            admins: vec![("alice".into(), admin.verifying_key().to_bytes())],
            admin_quorum: 1,
            audit_key: [0; 32],
            committees: vec![committee(&k)],
            demo: true,
        })
        .unwrap();
        let order = WalletOrder {
            wallet: "w1".into(),
            scheme: Scheme::Ed25519,
            blind: false,
            committee: "default".into(),
            head: gov.head(),
            time: 1000,
        };
        let signed = |o: &WalletOrder, key: &SigningKey| SignedOrder {
            order: o.clone(),
            admin: "alice".into(),
            signature: key.sign(&o.message()).to_bytes().to_vec(),
        };
        let ok = signed(&order, &admin);
        assert_eq!(ok.check(Some(&gov), "default", 1100), Ok(()));
        assert_eq!(
            ok.check(None, "default", 1100),
            Err(OrderError::NoGovernance)
        );
        assert!(matches!(
            ok.check(Some(&gov), "default", 2000),
            Err(OrderError::Time { .. })
        ));
        assert!(matches!(
            ok.check(Some(&gov), "other", 1000),
            Err(OrderError::Committee(_))
        ));
        assert!(matches!(
            signed(&order, &k[0]).check(Some(&gov), "default", 1000),
            Err(OrderError::NotAdmin(_))
        ));
        let mut stale = order.clone();
        stale.head = [1; 32];
        assert_eq!(
            signed(&stale, &admin).check(Some(&gov), "default", 1000),
            Err(OrderError::Head)
        );
        let mut blind = order.clone();
        blind.blind = true;
        assert!(matches!(
            signed(&blind, &admin).check(Some(&gov), "default", 1000),
            Err(OrderError::Wallet(..))
        ));
        // The signature covers the order: changing the scheme breaks it.
        let mut moved = ok.clone();
        moved.order.scheme = Scheme::EcdsaSecp256k1;
        assert!(matches!(
            moved.check(Some(&gov), "default", 1000),
            Err(OrderError::NotAdmin(_))
        ));
    }

    #[test]
    fn freshness_answers_bind_the_nonce() {
        let k = SigningKey::from_bytes(&[4; 32]);
        let a = Freshness::answer([1; 32], 5, [2; 32], [3; 32], &k);
        assert!(a.verifies());
        let mut replayed = a.clone();
        replayed.nonce = [9; 32];
        assert!(!replayed.verifies());
        let mut shrunk = a;
        shrunk.size = 4;
        assert!(!shrunk.verifies());
    }
}
