//! The audit entry of a dispatched signing: the canonical request, the
//! signatures behind it, the governance head it went out under and the
//! server's record of it. A witness and the offline auditor check that the
//! initiator signed exactly this request, and a witness recomputes the
//! record it adds to its velocity ledger from the request and its own
//! wallet record, instead of trusting the server's summary (a server that
//! logs a signing nobody asked for, or misstates one, adds nothing to any
//! node's ledger).

use custos_governance::{initiate_message, GovError, Governance, Role};
use serde::{Deserialize, Serialize};

use crate::attest::WalletStatement;
use crate::authz::{plan, Authorization, RequestError, SigningRecord, SigningRequest};

/// The detail of a `sign` entry (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignEntry {
    /// The server's record of the request (what approvers were shown).
    pub record: SigningRecord,
    /// The canonical request (hex).
    pub request: String,
    /// The governance head it was dispatched under (hex).
    pub head: String,
    /// The initiator's signature over the request hash (hex).
    pub initiator_signature: String,
    /// The approvals sent with it: (approver, signature hex).
    pub approvals: Vec<(String, String)>,
}

/// Why a `sign` entry is not a signing this checker accepts.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignEntryError {
    /// The detail is not a sign entry.
    #[error("the entry does not decode as a signing")]
    Decode,
    /// The request bytes are not canonical, or are not the request the
    /// record names (id, hash, wallet, key or initiator).
    #[error("the logged request is not the one its record names")]
    Request,
    /// The head is not on the chain this checker holds (yet).
    #[error("dispatched under governance head {0}, which the chain held here does not reach")]
    Head(String),
    /// The initiator's signature does not verify under that head.
    #[error("initiator: {0}")]
    Initiator(GovError),
    /// The initiator did not hold the initiator role under that head.
    #[error("{0} did not hold the initiator role")]
    NotInitiator(String),
    /// No wallet record for the request's wallet and key.
    #[error("no wallet record of wallet {wallet} with key {key_id}")]
    Wallet {
        /// The request's wallet.
        wallet: String,
        /// The request's key id.
        key_id: String,
    },
    /// The request does not plan.
    #[error("the request does not plan: {0}")]
    Plan(RequestError),
    /// The logged record is not what the request plans to.
    #[error("the logged record is not the request's own plan (the server's summary differs)")]
    Record,
}

impl SignEntry {
    /// The entry of `record`'s request (`request`: its canonical bytes),
    /// sent out with `auth`.
    pub fn new(record: &SigningRecord, request: &[u8], auth: &Authorization) -> Self {
        Self {
            record: record.clone(),
            request: hex::encode(request),
            head: hex::encode(auth.head),
            initiator_signature: hex::encode(&auth.initiator_signature),
            approvals: auth
                .approvals
                .iter()
                .map(|(u, s)| (u.clone(), hex::encode(s)))
                .collect(),
        }
    }

    /// Decodes an entry's detail.
    pub fn decode(detail: &str) -> Result<Self, SignEntryError> {
        serde_json::from_str(detail).map_err(|_| SignEntryError::Decode)
    }

    /// The head it names.
    pub fn head(&self) -> Result<[u8; 32], SignEntryError> {
        hex::decode(&self.head)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or(SignEntryError::Decode)
    }

    /// The request, once checked to be the one the record names and signed
    /// by an initiator of `gov`, which must be the governance at the
    /// entry's head.
    pub fn authentic(&self, gov: &Governance) -> Result<SigningRequest, SignEntryError> {
        if gov.head() != self.head()? {
            return Err(SignEntryError::Head(self.head.clone()));
        }
        let bytes = hex::decode(&self.request).map_err(|_| SignEntryError::Request)?;
        let request = SigningRequest::from_bytes(&bytes).map_err(|_| SignEntryError::Request)?;
        let hash = request.hash().map_err(|_| SignEntryError::Request)?;
        let r = &self.record;
        if r.request != hex::encode(hash)
            || r.request_id != hex::encode(request.request_id())
            || r.wallet != request.wallet()
            || r.key_id != request.key_id()
        {
            return Err(SignEntryError::Request);
        }
        let signature = hex::decode(&self.initiator_signature)
            .map_err(|_| SignEntryError::Initiator(GovError::BadSignature(r.initiator.clone())))?;
        gov.state()
            .verify_user(&r.initiator, &initiate_message(&hash), &signature)
            .map_err(SignEntryError::Initiator)?;
        if !gov.state().has_role(&r.initiator, Role::Initiator) {
            return Err(SignEntryError::NotInitiator(r.initiator.clone()));
        }
        Ok(request)
    }

    /// The record `request` plans to with the key of `wallet` (the
    /// checker's own record of the wallet); it must be the logged one.
    pub fn recompute(
        &self,
        request: &SigningRequest,
        wallet: &WalletStatement,
    ) -> Result<SigningRecord, SignEntryError> {
        let no_wallet = || SignEntryError::Wallet {
            wallet: request.wallet().to_owned(),
            key_id: request.key_id().to_owned(),
        };
        if wallet.wallet != request.wallet() || wallet.key_id != request.key_id() {
            return Err(no_wallet());
        }
        let root = hex::decode(&wallet.root_key).map_err(|_| no_wallet())?;
        let chain_code: [u8; 32] = hex::decode(&wallet.chain_code)
            .ok()
            .and_then(|c| c.try_into().ok())
            .ok_or_else(no_wallet)?;
        let key_at = |p: &custos_tss::DerivationPath| {
            custos_tss::hd::public_key_at(wallet.scheme, &root, &chain_code, p)
                .map_err(|_| custos_chains::ChainError::Key("derivation"))
        };
        let planned = plan(request, wallet.scheme, &key_at).map_err(SignEntryError::Plan)?;
        let record = SigningRecord::new(request, &self.record.initiator, &planned)
            .map_err(SignEntryError::Plan)?;
        if record != self.record {
            return Err(SignEntryError::Record);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::BlindRequest;
    use custos_governance::{Change, Genesis, Proposal, SignedProposal};
    use custos_tss::Scheme;
    use ed25519_dalek::{Signer, SigningKey};
    use std::collections::BTreeSet;

    /// The Ed25519 base point: a valid root key.
    const B: &str = "5866666666666666666666666666666666666666666666666666666666666666";

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn governance() -> Governance {
        let mut gov = Governance::genesis(&Genesis {
            admins: vec![("admin".into(), key(1).verifying_key().to_bytes())],
            admin_quorum: 1,
            audit_key: [0; 32],
            committees: vec![],
            demo: true,
        })
        .unwrap();
        let user = |id: &str, k: u8, role| Change::AddUser {
            id: id.into(),
            key: key(k).verifying_key().to_bytes(),
            roles: BTreeSet::from([role]),
        };
        let p = Proposal {
            height: 1,
            prev: gov.head(),
            proposer: "admin".into(),
            time: 0,
            changes: vec![
                user("ivy", 2, Role::Initiator),
                user("vic", 3, Role::Viewer),
            ],
        };
        let sig = p.sign(&key(1)).unwrap();
        gov.apply(&SignedProposal {
            proposal: p,
            signatures: vec![("admin".into(), sig)],
        })
        .unwrap();
        gov
    }

    fn wallet() -> WalletStatement {
        WalletStatement {
            wallet: "bw".into(),
            scheme: Scheme::Ed25519,
            blind: true,
            committee: "default".into(),
            epoch: 0,
            key_id: "ab".repeat(32),
            public_key: B.into(),
            root_key: B.into(),
            chain_code: "07".repeat(32),
        }
    }

    fn entry(gov: &Governance, who: &str, by: u8) -> (SignEntry, SigningRequest) {
        let request = SigningRequest::Blind(BlindRequest {
            request_id: [4; 16],
            wallet: "bw".into(),
            key_id: "ab".repeat(32),
            path: "m/1".into(),
            digest: [9; 32],
        });
        let w = wallet();
        let key_at = |p: &custos_tss::DerivationPath| {
            let root = hex::decode(&w.root_key).unwrap();
            let cc: [u8; 32] = hex::decode(&w.chain_code).unwrap().try_into().unwrap();
            custos_tss::hd::public_key_at(w.scheme, &root, &cc, p)
                .map_err(|_| custos_chains::ChainError::Key("derivation"))
        };
        let planned = plan(&request, Scheme::Ed25519, &key_at).unwrap();
        let record = SigningRecord::new(&request, who, &planned).unwrap();
        let hash = request.hash().unwrap();
        let auth = Authorization {
            head: gov.head(),
            initiator: who.into(),
            initiator_signature: key(by).sign(&initiate_message(&hash)).to_bytes().to_vec(),
            approvals: vec![],
            time: 0,
        };
        let e = SignEntry::new(&record, &request.to_bytes().unwrap(), &auth);
        (e, request)
    }

    #[test]
    fn an_entry_holds_only_as_the_initiator_signed_and_the_request_plans() {
        let gov = governance();
        let (e, request) = entry(&gov, "ivy", 2);
        let json = serde_json::to_string(&e).unwrap();
        let e = SignEntry::decode(&json).unwrap();
        assert_eq!(e.authentic(&gov).unwrap(), request);
        assert_eq!(e.recompute(&request, &wallet()).unwrap(), e.record);

        // A signature by another key, a user without the role, an unknown
        // head, another request under the record, bytes that do not decode.
        assert!(matches!(
            entry(&gov, "ivy", 3).0.authentic(&gov),
            Err(SignEntryError::Initiator(GovError::BadSignature(_)))
        ));
        assert_eq!(
            entry(&gov, "vic", 3).0.authentic(&gov),
            Err(SignEntryError::NotInitiator("vic".into()))
        );
        let mut other = e.clone();
        other.head = hex::encode([5; 32]);
        assert!(matches!(
            other.authentic(&gov),
            Err(SignEntryError::Head(_))
        ));
        let mut swapped = e.clone();
        swapped.record.request_id = hex::encode([5; 16]);
        assert_eq!(swapped.authentic(&gov), Err(SignEntryError::Request));
        let mut garbled = e.clone();
        garbled.request.push_str("00");
        assert_eq!(garbled.authentic(&gov), Err(SignEntryError::Request));
        assert_eq!(SignEntry::decode("{}"), Err(SignEntryError::Decode));

        // The server's summary misstated, or the checker's wallet record
        // names another key: nothing to add to a ledger.
        let mut misstated = e.clone();
        misstated.record.path = Some("m/2".into());
        assert_eq!(
            misstated.recompute(&request, &wallet()),
            Err(SignEntryError::Record)
        );
        let mut elsewhere = wallet();
        elsewhere.key_id = "cd".repeat(32);
        assert!(matches!(
            e.recompute(&request, &elsewhere),
            Err(SignEntryError::Wallet { .. })
        ));
    }
}
