//! `custos audit export` and `verify`: the log, the governance chain and
//! the nodes' answers to the exporter's own nonce, checked offline against
//! the pinned genesis. Whose signatures count comes from the chain (the
//! committee's witness keys at each governance head), never from the
//! server; how long the log must be comes from a majority of the nodes,
//! which the server relays but cannot forge or replay. Every logged signing
//! must carry its initiator's signature over the logged request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use custos_audit::checkpoint::{Checkpoint, SignedCheckpoint};
use custos_audit::entry::SignedEntry;
use custos_audit::verify::{Keys, Witnesses};
use custos_governance::{Committee, Genesis, Governance, Hash, SignedProposal};
use custos_protocol::attest::Freshness;
use custos_protocol::authz::SIGN_ACTION;
use custos_protocol::sign_entry::{SignEntry, SignEntryError};
use serde_json::{json, Value};

use crate::client::Client;
use crate::json::Field;

/// Writes the export: entries, checkpoints, the governance chain and the
/// nodes' signed answers to a fresh nonce (at least a majority of the
/// committee, each valid and over this nonce, or nothing is written).
pub fn export(c: &Client, out: &Path) -> Result<String> {
    use rand::RngCore;
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // The answers first: the log read after them must reach at least as far.
    let answers = c.get(&format!("/v1/audit/freshness?nonce={}", hex::encode(nonce)))?;
    let answers: Vec<Freshness> =
        serde_json::from_value(answers.at("answers").clone()).context("freshness answers")?;
    let chain = crate::trust::governance(c, None)?;
    let committee = log_committee(&chain.gov)?;
    let members = fresh_members(&answers, &nonce, &committee)?;
    let log = c.get("/v1/audit/export")?;
    let g = &chain.view;
    let export = json!({
        "entries": log.at("entries"),
        "checkpoints": log.at("checkpoints"),
        "governance": { "genesis": g.at("genesis"), "chain": g.at("chain") },
        "freshness": { "nonce": hex::encode(nonce), "answers": answers },
    });
    std::fs::write(out, serde_json::to_string_pretty(&export)?)?;
    Ok(format!(
        "{} entries, {} checkpoints, answers from {} of {} nodes written to {}\n\
         nonce {} (keep it: `custos audit verify --nonce` checks the file against it)",
        log.at("entries").as_array().map(Vec::len).unwrap_or(0),
        log.at("checkpoints").as_array().map(Vec::len).unwrap_or(0),
        members,
        committee.members.len(),
        out.display(),
        hex::encode(nonce)
    ))
}

/// The committee whose nodes witness this log: the genesis committee.
fn log_committee(gov: &Governance) -> Result<Committee> {
    let committees = &gov.state().committees;
    match committees.values().collect::<Vec<_>>().as_slice() {
        [only] => Ok((*only).clone()),
        _ => bail!(
            "the governance chain names {} committees; this verifier knows one",
            committees.len()
        ),
    }
}

/// Checks the answers: each over `nonce`, valid, by a distinct member;
/// at least a majority of them. Returns how many.
fn fresh_members(answers: &[Freshness], nonce: &[u8; 32], c: &Committee) -> Result<usize> {
    let mut seen = BTreeSet::new();
    for a in answers {
        let i = c.witness_index(&a.witness_key).with_context(|| {
            format!(
                "a freshness answer by {} is by no member",
                hex::encode(a.witness_key)
            )
        })?;
        let name = c.members.get(i).map_or("?", |m| m.name.as_str());
        if a.nonce != *nonce {
            bail!(
                "{}'s freshness answer is over another nonce (an old answer replayed)",
                name
            );
        }
        if !a.verifies() {
            bail!("{}'s freshness answer does not verify", name);
        }
        if !seen.insert(i) {
            bail!("{} answered twice", name);
        }
    }
    if seen.len() < c.majority() {
        bail!(
            "only {} of the {} nodes answered for freshness (a majority, {}, is needed to know \
             the newest co-signed checkpoint)",
            seen.len(),
            c.members.len(),
            c.majority()
        );
    }
    Ok(seen.len())
}

/// Verifies an export offline against the pinned genesis and, if given,
/// the nonce its exporter chose (an export made by someone else, over a
/// nonce of theirs, may hide what came after it).
pub fn verify(export: &Path, genesis: Hash, expected_nonce: Option<[u8; 32]>) -> Result<String> {
    let export: Value = serde_json::from_str(&std::fs::read_to_string(export)?)
        .context("the export is not JSON")?;
    let entries: Vec<SignedEntry> =
        serde_json::from_value(export.at("entries").clone()).context("export entries")?;
    let checkpoints: Vec<SignedCheckpoint> =
        serde_json::from_value(export.at("checkpoints").clone()).context("export checkpoints")?;
    let g = export.at("governance");
    let first: Genesis = postcard::from_bytes(&hex::decode(
        g.at("genesis")
            .as_str()
            .context("export governance genesis")?,
    )?)
    .context("the export's genesis does not decode")?;
    if first.hash()? != genesis {
        bail!(
            "the export's genesis is {}, not the pinned {}",
            hex::encode(first.hash()?),
            hex::encode(genesis)
        );
    }
    let mut gov = Governance::genesis(&first)?;
    let mut witnesses = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut at_head = |gov: &Governance| -> Result<()> {
        states.insert(gov.head(), gov.clone());
        let c = log_committee(gov)?;
        witnesses.insert(
            gov.head(),
            Witnesses {
                keys: c.members.iter().map(|m| m.witness_key).collect(),
                quorum: c.checkpoint_quorum(),
            },
        );
        Ok(())
    };
    at_head(&gov)?;
    for (i, p) in g.at("chain").as_array().into_iter().flatten().enumerate() {
        let p: SignedProposal =
            postcard::from_bytes(&hex::decode(p.as_str().context("governance proposal")?)?)
                .with_context(|| format!("governance proposal at height {}", i + 1))?;
        gov.apply(&p)
            .with_context(|| format!("governance proposal at height {}", i + 1))?;
        at_head(&gov)?;
    }
    let committee = log_committee(&gov)?;
    let fresh = export.at("freshness");
    let nonce: [u8; 32] = hex::decode(fresh.at("nonce").as_str().context("freshness nonce")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the freshness nonce is not 32 bytes"))?;
    if expected_nonce.is_some_and(|n| n != nonce) {
        bail!("the export's freshness nonce is not yours: its answers may be old");
    }
    let answers: Vec<Freshness> =
        serde_json::from_value(fresh.at("answers").clone()).context("freshness answers")?;
    fresh_members(&answers, &nonce, &committee)?;
    // Each node's head must be in the export's chain: one that is not saw
    // a change the export leaves out (a rolled-back or forked chain).
    for a in &answers {
        if !witnesses.contains_key(&a.head) {
            bail!(
                "node {} holds governance head {}, which the export's chain does not reach: \
                 a rolled-back or forked chain",
                hex::encode(a.witness_key),
                hex::encode(a.head)
            );
        }
    }
    let floor = answers
        .iter()
        .filter(|a| a.size > 0)
        .map(|a| Checkpoint {
            size: a.size,
            root: a.root,
        })
        .collect();
    let keys = Keys {
        server: ed25519_dalek::VerifyingKey::from_bytes(&gov.genesis_audit_key())?,
        witnesses,
        floor,
    };
    let report = custos_audit::verify::verify_export(&entries, &checkpoints, &keys)?;
    let signings = authentic_signings(&entries, &states)?;
    // Entries past the newest certified checkpoint are the server's word
    // alone (a single node's answer certifies nothing).
    let covered = report.last.map_or(0, |c| c.size);
    Ok(format!(
        "ok: {} entries ({} covered by checkpoints the committee co-signed, the last {} signed \
         by the server alone; {} signings, each signed by its initiator), {} checkpoints, last \
         checkpoint size {}, fresh answers from {} nodes",
        report.entries,
        covered.min(report.entries),
        report.entries.saturating_sub(covered),
        signings,
        report.checkpoints,
        report.last.map(|c| c.size).unwrap_or(0),
        answers.len()
    ))
}

/// Every `sign` entry carries its request and the initiator's signature
/// over it under the head it names: a signing the server logged that its
/// initiator never asked for is named (no node counted or signed it, but
/// the log claims it). Returns how many there are.
fn authentic_signings(
    entries: &[SignedEntry],
    states: &BTreeMap<Hash, Governance>,
) -> Result<usize> {
    let mut n = 0;
    for e in entries.iter().filter(|e| e.entry.action == SIGN_ACTION) {
        let seq = e.entry.seq;
        let checked = SignEntry::decode(&e.entry.detail).and_then(|s| {
            let gov = states
                .get(&s.head()?)
                .ok_or_else(|| SignEntryError::Head(s.head.clone()))?;
            s.authentic(gov)
        });
        if let Err(why) = checked {
            bail!("entry {seq}: a signing its initiator did not sign as logged: {why}");
        }
        n += 1;
    }
    Ok(n)
}
