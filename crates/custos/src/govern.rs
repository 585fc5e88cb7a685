//! CLI commands where a user acts with their key: transfers, approvals,
//! governance proposals, policy, and the audit log. What the user signs is
//! decoded and shown (or compared with what they asked for) first: the
//! server is not trusted to present it honestly.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use custos_chains::intent::TransferIntent;
use custos_chains::message::MessageFormat;
use custos_governance::{approval_message, initiate_message, Change, Proposal, Role};
use custos_net::clock::unix_now;
use custos_protocol::authz::{BlindRequest, MessageRequest, PsbtRequest, SigningRequest};
use serde_json::{json, Value};

use crate::client::Client;
use crate::json::Field;
use crate::userkey::UserKey;

/// Prepares the intent at the server, checks it is exactly what `request`
/// asks for, signs its hash and submits it.
pub fn transfer(c: &Client, key: &UserKey, wallet: &str, request: Value) -> Result<Value> {
    let prepared = c.signed(
        key,
        "POST",
        &format!("/v1/wallets/{wallet}/transfers/prepare"),
        &request,
    )?;
    let bytes = hex::decode(prepared.at("intent").as_str().context("prepared intent")?)?;
    let intent = TransferIntent::from_bytes(&bytes)?;
    let asked: custos_chains::args::TransferArgs = serde_json::from_value(request.clone())?;
    // Token decimals come from the server's list; everything else from us.
    let tokens: Vec<custos_chains::intent::KnownToken> = match (&asked.asset, &intent.chain) {
        (
            Some(a),
            custos_chains::ChainIntent::Ethereum(custos_chains::intent::EthereumTransfer {
                asset: custos_chains::intent::Asset::Token { address, decimals },
                ..
            }),
        )
        | (
            Some(a),
            custos_chains::ChainIntent::Solana(custos_chains::intent::SolanaTransfer {
                asset: custos_chains::intent::Asset::Token { address, decimals },
                ..
            }),
        ) if a == address => {
            vec![custos_chains::intent::KnownToken {
                chain: asked.chain.clone(),
                address: address.clone(),
                symbol: String::new(),
                decimals: *decimals,
            }]
        }
        _ => Vec::new(),
    };
    let expected = custos_chains::args::chain_intent(&asked, &tokens)?;
    if intent.chain != expected
        || intent.wallet != wallet
        || intent.account != asked.index.unwrap_or(0)
    {
        bail!("the server prepared a different transfer than asked; not signing it");
    }
    // The key too: the committee attested which key is this wallet's.
    let attested = key_id(c, key, wallet)?;
    if intent.key_id != attested {
        bail!(
            "the server prepared a transfer with key {} for wallet {wallet}, whose attested key is              {attested}; not signing it",
            intent.key_id
        );
    }
    submit(
        c,
        key,
        &SigningRequest::Transfer(intent),
        request.at("signers").clone(),
    )
}

/// Signs and submits a request as its initiator.
pub fn submit(
    c: &Client,
    key: &UserKey,
    request: &SigningRequest,
    signers: Value,
) -> Result<Value> {
    let hash = request.hash()?;
    let body = json!({
        "request": hex::encode(request.to_bytes()?),
        "signature": hex::encode(key.sign(&initiate_message(&hash))),
        "signers": signers,
    });
    c.signed(key, "POST", "/v1/requests", &body)
}

fn request_id() -> [u8; 16] {
    use rand::RngCore;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    id
}

/// The wallet's key id, as its committee attested it.
fn key_id(c: &Client, key: &UserKey, wallet: &str) -> Result<String> {
    Ok(crate::trust::wallet(c, Some(key), wallet)?.statement.key_id)
}

/// A raw signing request (message, or ECDSA digest) of `wallet` at `path`.
pub fn sign_message(
    c: &Client,
    key: &UserKey,
    wallet: &str,
    path: &str,
    format: MessageFormat,
    message: Vec<u8>,
    signers: Option<Vec<u16>>,
) -> Result<Value> {
    let request = SigningRequest::Message(MessageRequest {
        request_id: request_id(),
        wallet: wallet.to_owned(),
        key_id: key_id(c, key, wallet)?,
        path: path.to_owned(),
        format,
        message,
    });
    submit(c, key, &request, json!(signers))
}

/// A blind-digest signing request (blind wallets only).
pub fn sign_blind(
    c: &Client,
    key: &UserKey,
    wallet: &str,
    path: &str,
    digest: [u8; 32],
    signers: Option<Vec<u16>>,
) -> Result<Value> {
    let request = SigningRequest::Blind(BlindRequest {
        request_id: request_id(),
        wallet: wallet.to_owned(),
        key_id: key_id(c, key, wallet)?,
        path: path.to_owned(),
        digest,
    });
    submit(c, key, &request, json!(signers))
}

/// A PSBT signing request.
pub fn sign_psbt(
    c: &Client,
    key: &UserKey,
    wallet: &str,
    network: &str,
    psbt: Vec<u8>,
    signers: Option<Vec<u16>>,
) -> Result<Value> {
    let request = SigningRequest::Psbt(PsbtRequest {
        request_id: request_id(),
        wallet: wallet.to_owned(),
        key_id: key_id(c, key, wallet)?,
        network: network.to_owned(),
        psbt,
    });
    submit(c, key, &request, json!(signers))
}

/// Approves request `id` under the current governance head.
pub fn approve(c: &Client, key: &UserKey, id: &str) -> Result<Value> {
    let r = c.get_as(key, &format!("/v1/requests/{id}"))?;
    let bytes = hex::decode(r.at("request").as_str().context("request")?)?;
    let request = SigningRequest::from_bytes(&bytes)?;
    let hash = request.hash()?;
    if hex::encode(hash) != r.at("hash").as_str().unwrap_or_default() {
        bail!("the server's request hash does not match its request");
    }
    // The key the request names must be the wallet's attested one.
    let (wallet, named) = (request.wallet(), request.key_id());
    let attested = key_id(c, key, wallet)?;
    if named != attested {
        bail!(
            "request {id} names key {named} for wallet {wallet}, whose attested key is {attested};              not approving it"
        );
    }
    // What is approved, from the request itself (not the server's summary);
    // the approval names the initiator shown, so it holds only with theirs.
    let initiator = r
        .at("record")
        .at("initiator")
        .as_str()
        .context("request initiator")?;
    eprintln!(
        "approving {id}, initiated by {initiator}: {}",
        custos_protocol::authz::describe(&request)
    );
    // The head from the chain checked against the pinned genesis.
    let head = crate::trust::governance(c, Some(key))?.gov.head();
    let body = json!({
        "signature": hex::encode(key.sign(&approval_message(&hash, &head, initiator))),
    });
    c.signed(key, "POST", &format!("/v1/requests/{id}/approve"), &body)
}

/// Rejects request `id`.
pub fn reject(c: &Client, key: &UserKey, id: &str, reason: &str) -> Result<Value> {
    c.signed(
        key,
        "POST",
        &format!("/v1/requests/{id}/reject"),
        &json!({ "reason": reason }),
    )
}

/// One line per request.
pub fn print_requests(list: &Value) {
    for r in list.as_array().into_iter().flatten() {
        println!(
            "{}  {:<8} {:<10} {} {} {} -> {}  by {}  approvals {}",
            r.at("id").as_str().unwrap_or("?"),
            r.at("state").as_str().unwrap_or("?"),
            r.at("decision").as_str().unwrap_or("?"),
            r.at("record").at("kind").as_str().unwrap_or("?"),
            r.at("record").at("chain").as_str().unwrap_or("-"),
            r.at("record")
                .at("spends")
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!(
                    "{} {}",
                    s.at("amount").as_str().unwrap_or("?"),
                    s.at("asset").as_str().unwrap_or("?")
                ))
                .collect::<Vec<_>>()
                .join(" + "),
            r.at("record")
                .at("destinations")
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(","),
            r.at("record").at("initiator").as_str().unwrap_or("?"),
            r.at("approvals").as_array().map(Vec::len).unwrap_or(0),
        );
    }
}

/// Changes a proposal makes, from CLI flags.
#[derive(Default)]
pub struct Changes {
    pub add_user: Vec<String>,
    pub remove_user: Vec<String>,
    pub grant: Vec<String>,
    pub revoke: Vec<String>,
    pub rotate_key: Vec<String>,
    pub quorum: Option<u32>,
    pub policy: Option<std::path::PathBuf>,
    pub address_book: Option<std::path::PathBuf>,
    pub allow_blind_wallet: Vec<String>,
}

fn roles(list: &str) -> Result<BTreeSet<Role>> {
    list.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| r.trim().parse::<Role>().map_err(anyhow::Error::msg))
        .collect()
}

fn key_hex(s: &str) -> Result<[u8; 32]> {
    hex::decode(s)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a user key is 32 bytes of hex"))
}

/// Reads a policy or address-book file (JSON) as compact JSON,
/// checking it decodes as the node will decode it.
fn document<T: serde::de::DeserializeOwned + serde::Serialize>(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let value: T =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(serde_json::to_vec(&value)?)
}

impl Changes {
    fn build(&self) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        for a in &self.add_user {
            // ID:KEYHEX:role,role
            let mut parts = a.splitn(3, ':');
            let (Some(id), Some(key), roles_s) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--add-user takes ID:KEYHEX:ROLE,ROLE");
            };
            out.push(Change::AddUser {
                id: id.into(),
                key: key_hex(key)?,
                roles: roles(roles_s.unwrap_or_default())?,
            });
        }
        for id in &self.remove_user {
            out.push(Change::RemoveUser { id: id.clone() });
        }
        for (list, grant) in [(&self.grant, true), (&self.revoke, false)] {
            for g in list {
                let (id, role) = g.split_once(':').context("--grant/--revoke take ID:ROLE")?;
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                out.push(if grant {
                    Change::Grant {
                        id: id.into(),
                        role,
                    }
                } else {
                    Change::Revoke {
                        id: id.into(),
                        role,
                    }
                });
            }
        }
        for r in &self.rotate_key {
            let (id, key) = r.split_once(':').context("--rotate-key takes ID:KEYHEX")?;
            out.push(Change::RotateKey {
                id: id.into(),
                key: key_hex(key)?,
            });
        }
        if let Some(q) = self.quorum {
            out.push(Change::SetQuorum(q));
        }
        if let Some(p) = &self.policy {
            let doc = document::<custos_policy::Policy>(p)?;
            let policy: custos_policy::Policy = serde_json::from_slice(&doc)?;
            policy.validate()?;
            out.push(Change::SetPolicy(doc));
        }
        if let Some(b) = &self.address_book {
            out.push(Change::SetAddressBook(document::<
                custos_policy::AddressBook,
            >(b)?));
        }
        for wallet in &self.allow_blind_wallet {
            out.push(Change::AllowBlindWallet {
                wallet: wallet.clone(),
            });
        }
        if out.is_empty() {
            bail!("a proposal needs at least one change");
        }
        Ok(out)
    }
}

/// Shows what signing `changes` does to `state` and, at a terminal, asks
/// (unless `yes`); scripts get the printout and no question.
fn confirm(state: &custos_governance::State, changes: &[Change], yes: bool) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    for line in crate::diff::describe(state, changes) {
        eprintln!("  {line}");
    }
    if yes || !std::io::stdin().is_terminal() {
        return Ok(());
    }
    eprint!("sign this change? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not signed");
    }
    Ok(())
}

/// Proposes `changes` on top of the current head, signed by `key`.
pub fn propose(c: &Client, key: &UserKey, changes: &Changes, yes: bool) -> Result<Value> {
    // The state the change applies to, as the pinned genesis' chain says.
    let chain = crate::trust::governance(c, Some(key))?;
    let proposal = Proposal {
        height: chain.gov.height() + 1,
        prev: chain.gov.head(),
        proposer: key.user.clone(),
        time: unix_now(),
        changes: changes.build()?,
    };
    eprintln!("proposing at height {}:", proposal.height);
    confirm(chain.gov.state(), &proposal.changes, yes)?;
    let body = json!({
        "proposal": hex::encode(postcard::to_stdvec(&proposal)?),
        "signature": hex::encode(key.sign(&proposal.hash()?)),
    });
    c.signed(key, "POST", "/v1/governance/proposals", &body)
}

/// Adds `key`'s signature to pending proposal `id` after showing it.
pub fn approve_proposal(c: &Client, key: &UserKey, id: &str, yes: bool) -> Result<Value> {
    let list = c.get_as(key, "/v1/governance/proposals")?;
    let p = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p.at("id") == id)
        .with_context(|| format!("no proposal {id}"))?;
    let signed: custos_governance::SignedProposal =
        postcard::from_bytes(&hex::decode(p.at("body").as_str().context("body")?)?)?;
    if hex::encode(signed.proposal.hash()?) != id {
        bail!("the server's proposal does not hash to {id}");
    }
    let chain = crate::trust::governance(c, Some(key))?;
    if signed.proposal.prev != chain.gov.head() {
        bail!("proposal {id} does not extend the current governance head");
    }
    eprintln!(
        "approving proposal {id} by {} at height {}:",
        signed.proposal.proposer, signed.proposal.height,
    );
    confirm(chain.gov.state(), &signed.proposal.changes, yes)?;
    let body = json!({ "signature": hex::encode(key.sign(&signed.proposal.hash()?)) });
    c.signed(
        key,
        "POST",
        &format!("/v1/governance/proposals/{id}/approve"),
        &body,
    )
}
