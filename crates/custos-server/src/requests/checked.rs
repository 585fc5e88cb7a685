//! A signing request decoded and planned once per call: its wallet, and
//! what the nodes will sign and the server assemble — the same pure
//! [`custos_protocol::authz::plan`] every node runs on the same bytes (with
//! the wallet's public key material here, the node's share there).
//! Submission, the approval that meets the quorum, and the dispatch that
//! follows it use the one [`Checked`] value; nothing on the way decodes or
//! builds again.

use custos_protocol::authz::{plan, Planned, SigningRecord, SigningRequest};

use crate::error::FlowError;
use crate::hub::Hub;
use crate::requests::stored::{governance, invalid};
use crate::signing::public_key_at;
use crate::store::WalletRecord;

/// A decoded, planned signing request.
pub(crate) struct Checked {
    /// Its canonical bytes (what the initiator's signature covers).
    pub bytes: Vec<u8>,
    /// The request.
    pub request: SigningRequest,
    /// Its wallet.
    pub wallet: WalletRecord,
    /// What signing it takes and what policy counts.
    pub planned: Planned,
}

impl Checked {
    /// The record of this request started by `initiator`.
    pub fn record(&self, initiator: &str) -> Result<SigningRecord, FlowError> {
        SigningRecord::new(&self.request, initiator, &self.planned).map_err(invalid)
    }
}

/// Decodes `bytes` and plans the request for its wallet.
pub(crate) async fn check(hub: &Hub, bytes: &[u8]) -> Result<Checked, FlowError> {
    let request = SigningRequest::from_bytes(bytes).map_err(invalid)?;
    complete(hub, request, bytes).await
}

/// [`check`] for a request decoded already from `bytes`: its wallet and
/// key, what the wallet is for (a blind wallet signs bare digests only, and
/// only a blind wallet does), the deployment's tokens, and the plan.
pub(crate) async fn complete(
    hub: &Hub,
    request: SigningRequest,
    bytes: &[u8],
) -> Result<Checked, FlowError> {
    let wallet = hub
        .store()
        .wallet(request.wallet())
        .await?
        .ok_or_else(|| FlowError::NoWallet(request.wallet().to_owned()))?;
    if wallet.key_id != request.key_id() {
        return Err(FlowError::Invalid(
            "the request names another key than its wallet".into(),
        ));
    }
    let blind = governance(hub)
        .await?
        .state()
        .blind_wallets
        .contains(&wallet.id);
    match (&request, blind) {
        (SigningRequest::Blind(_), false) => return Err(FlowError::NotBlind(wallet.id.clone())),
        (SigningRequest::Blind(_), true) => {}
        (_, true) => return Err(FlowError::BlindOnly(wallet.id.clone())),
        (SigningRequest::Transfer(intent), false) => {
            custos_chains::intent::check_token(intent, &hub.config().tokens)?;
        }
        (SigningRequest::Message(_) | SigningRequest::Psbt(_), false) => {}
    }
    let key_at = |p: &custos_tss::DerivationPath| {
        public_key_at(&wallet, p).map_err(|_| custos_chains::ChainError::Key("stored key"))
    };
    let planned = plan(&request, wallet.scheme, &key_at).map_err(invalid)?;
    Ok(Checked {
        bytes: bytes.to_vec(),
        request,
        wallet,
        planned,
    })
}
