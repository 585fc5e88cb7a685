//! A signing request decoded and checked once per call: its wallet, and
//! for a transfer the transaction the server will assemble (built from the
//! intent), for a PSBT the wallet's inputs and their sighashes. Submission,
//! the approval that meets the quorum, and the dispatch that follows it use
//! the one [`Checked`] value; nothing on the way decodes or builds again.
//! (Each node builds the transaction once more itself: it signs only what
//! it computed.)

use custos_chains::intent::BitcoinNetwork;
use custos_chains::psbt::{PlannedInput, Psbt};
use custos_chains::{ChainError, Unsigned};
use custos_protocol::authz::{MessageRequest, SigningRequest};
use custos_tss::PartyIndex;

use crate::error::FlowError;
use crate::hub::Hub;
use crate::requests::stored::invalid;
use crate::signing::{check_message, SignSpec};
use crate::store::WalletRecord;
use crate::transfers::account_key;

/// What the server will do with the request once it is approved.
pub(crate) enum Plan {
    /// A transfer: the unsigned transaction, one payload per signature.
    Transfer(Box<Unsigned>),
    /// A raw message (its shape checked against the wallet).
    Message,
    /// A PSBT: the wallet's inputs and their sighashes.
    Psbt {
        /// Network the inputs' addresses are on.
        network: BitcoinNetwork,
        /// The parsed PSBT.
        psbt: Box<Psbt>,
        /// The wallet's inputs.
        planned: Vec<PlannedInput>,
    },
}

/// A decoded, checked signing request.
pub(crate) struct Checked {
    /// Its canonical bytes (what the initiator's signature covers).
    pub bytes: Vec<u8>,
    /// The request.
    pub request: SigningRequest,
    /// Its wallet.
    pub wallet: WalletRecord,
    /// What signing it takes.
    pub plan: Plan,
}

/// Decodes `bytes` and checks the request against its wallet and the
/// deployment's tokens, building what the server will later assemble.
pub(crate) async fn check(hub: &Hub, bytes: &[u8]) -> Result<Checked, FlowError> {
    let request = SigningRequest::from_bytes(bytes).map_err(invalid)?;
    complete(hub, request, bytes).await
}

/// [`check`] for a request decoded already from `bytes`.
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
    let plan = match &request {
        SigningRequest::Transfer(intent) => {
            intent.validate()?;
            custos_chains::intent::check_token(intent, &hub.config().tokens)?;
            Plan::Transfer(Box::new(custos_chains::build(
                intent,
                &account_key(&wallet, intent.account)?,
            )?))
        }
        SigningRequest::Message(m) => {
            check_message(&wallet, &message_spec(m, None))?;
            Plan::Message
        }
        SigningRequest::Psbt(p) => {
            let network: BitcoinNetwork = p.network.parse()?;
            let psbt = custos_chains::psbt::parse(&p.psbt)?;
            let key_at =
                |a: u32| account_key(&wallet, a).map_err(|_| ChainError::Key("account key"));
            let planned = custos_chains::psbt::plan(&psbt, network, key_at)?;
            Plan::Psbt {
                network,
                psbt: Box::new(psbt),
                planned,
            }
        }
    };
    Ok(Checked {
        bytes: bytes.to_vec(),
        request,
        wallet,
        plan,
    })
}

/// How a raw-message request is signed.
pub(crate) fn message_spec(m: &MessageRequest, signers: Option<Vec<PartyIndex>>) -> SignSpec {
    SignSpec {
        message: m.message.clone(),
        sha256: m.sha256,
        path: m.path.clone(),
        signers,
    }
}
