//! What the CLI believes without believing the server: the governance
//! chain, checked against the genesis hash the user pinned (cluster.json's
//! `genesis`, or `CUSTOS_GENESIS`), and wallets, shown only with valid
//! attestations from at least `t` members of their committee (keys from
//! that chain). Addresses and xpubs are derived here from the attested
//! key, never taken from the server.

use std::path::Path;

use anyhow::{bail, Context, Result};
use custos_chains::address::AddressKind;
use custos_chains::AccountKey;
use custos_governance::{Genesis, Governance, Hash, SignedProposal};
use custos_protocol::attest::{Attestation, WalletStatement};
use custos_tss::{DerivationPath, Scheme};
use serde_json::{json, Value};

use crate::client::Client;
use crate::json::Field;
use crate::userkey::UserKey;

/// The genesis hash the user pinned.
pub fn pinned_genesis(data_dir: &Path) -> Result<Hash> {
    let hex_hash = match std::env::var("CUSTOS_GENESIS") {
        Ok(h) => h,
        Err(_) => {
            let cluster: Value = std::fs::read_to_string(data_dir.join("cluster.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            cluster.at("genesis").as_str().map(str::to_owned).context(
                "no governance genesis pinned: set CUSTOS_GENESIS to the genesis hash your \
                     admins published (custos up writes it to cluster.json)",
            )?
        }
    };
    hex::decode(hex_hash.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("the pinned genesis is not 32 bytes of hex")
}

/// The governance chain as the server serves it, replayed from the pinned
/// genesis (every proposal's admin quorum checked), never behind what this
/// CLI saw before.
pub struct Chain {
    /// The state at the head.
    pub gov: Governance,
    /// The server's view it came from (genesis and proposals, hex).
    pub view: Value,
}

/// Where the CLI remembers the newest governance head it saw.
const SEEN_FILE: &str = "governance-seen.json";

/// Reads as the client's reader, or signed with `key` (commands run as a
/// user read as them).
fn read(c: &Client, key: Option<&UserKey>, path: &str) -> Result<Value> {
    match key {
        Some(k) => c.get_as(k, path),
        None => c.get(path),
    }
}

/// Fetches and checks the governance chain.
pub fn governance(c: &Client, key: Option<&UserKey>) -> Result<Chain> {
    let pinned = pinned_genesis(c.data_dir())?;
    let view = read(c, key, "/v1/governance")?;
    let genesis: Genesis = postcard::from_bytes(&hex::decode(
        view.at("genesis").as_str().context("governance genesis")?,
    )?)
    .context("the server's genesis does not decode")?;
    if genesis.hash()? != pinned {
        bail!(
            "the server's governance genesis is {}, not the pinned {}: refusing everything it says",
            hex::encode(genesis.hash()?),
            hex::encode(pinned)
        );
    }
    let mut gov = Governance::genesis(&genesis)?;
    let mut heads = vec![gov.head()];
    for (i, p) in view
        .at("chain")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p: SignedProposal =
            postcard::from_bytes(&hex::decode(p.as_str().context("governance proposal")?)?)
                .with_context(|| format!("governance proposal at height {}", i + 1))?;
        gov.apply(&p)
            .with_context(|| format!("governance proposal at height {}", i + 1))?;
        heads.push(gov.head());
    }
    not_rolled_back(c.data_dir(), &pinned, &heads)?;
    Ok(Chain { gov, view })
}

/// Refuses a chain shorter than, or forked from, the newest one this CLI
/// saw for the pinned genesis (a server hiding a change, say a revoked
/// role, by serving an older prefix), then remembers this one's head.
fn not_rolled_back(data_dir: &Path, genesis: &Hash, heads: &[Hash]) -> Result<()> {
    let path = data_dir.join(SEEN_FILE);
    let seen: Option<Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|v: &Value| v.at("genesis").as_str() == Some(hex::encode(genesis).as_str()));
    let height = heads.len().saturating_sub(1);
    if let Some(seen) = &seen {
        let seen_height = usize::try_from(seen.at("height").as_u64().unwrap_or(0))?;
        let seen_head = seen.at("head").as_str().unwrap_or_default();
        match heads.get(seen_height) {
            None => bail!(
                "the server serves governance height {height}, but this CLI saw height \
                 {seen_height}: a rolled-back chain"
            ),
            Some(h) if hex::encode(h) != seen_head => bail!(
                "the server's governance chain forks from the one this CLI saw at height \
                 {seen_height}"
            ),
            Some(_) => {}
        }
        if seen_height == height {
            return Ok(());
        }
    }
    let Some(head) = heads.last() else {
        return Ok(());
    };
    let now =
        json!({ "genesis": hex::encode(genesis), "height": height, "head": hex::encode(head) });
    let tmp = path.with_extension("tmp");
    let saved = std::fs::write(&tmp, now.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = saved {
        eprintln!(
            "warning: cannot remember the governance head in {}: {e}",
            path.display()
        );
    }
    Ok(())
}

/// A wallet the committee attested.
pub struct Attested {
    /// What the nodes recorded.
    pub statement: WalletStatement,
    /// Indices of the members whose attestations verified.
    pub members: Vec<usize>,
}

fn hex32(v: &Value, what: &str) -> Result<[u8; 32]> {
    hex::decode(v.as_str().with_context(|| what.to_owned())?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is not 32 bytes"))
}

/// Checks the server's wallet JSON: the statement its fields make must
/// carry valid attestations from at least `t` members of its committee.
pub fn attested(gov: &Governance, w: &Value) -> Result<Attested> {
    let field = |k: &str| -> Result<String> {
        Ok(w.at(k)
            .as_str()
            .with_context(|| format!("wallet {k}"))?
            .to_owned())
    };
    let id = field("id")?;
    let statement = WalletStatement {
        wallet: id.clone(),
        scheme: field("scheme")?.parse::<Scheme>()?,
        blind: w.at("blind").as_bool().unwrap_or(false),
        committee: field("committee_id")?,
        epoch: u32::try_from(w.at("epoch").as_u64().unwrap_or(0))?,
        key_id: field("key_id")?,
        public_key: field("public_key")?,
        root_key: field("root_key")?,
        chain_code: w.at("chain_code").as_str().unwrap_or_default().to_owned(),
    };
    let attestations = w
        .at("attestations")
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            Ok(Attestation {
                witness_key: hex32(a.at("witness_key"), "attestation witness key")?,
                signature: hex::decode(a.at("signature").as_str().context("attestation")?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let committee = gov.committee(&statement.committee).with_context(|| {
        format!(
            "wallet {id}: committee {:?} is not in the governance chain",
            statement.committee
        )
    })?;
    let members = statement.verify(&attestations, committee).map_err(|e| {
        anyhow::anyhow!(
            "wallet {id}: the committee's attestations do not hold ({e}); refusing what the \
             server alone says"
        )
    })?;
    Ok(Attested { statement, members })
}

/// Fetches wallet `id` and checks its attestations.
pub fn wallet(c: &Client, key: Option<&UserKey>, id: &str) -> Result<Attested> {
    let chain = governance(c, key)?;
    if !custos_governance::valid_id(id) {
        bail!("wallet ids are 1-64 of [A-Za-z0-9_-]");
    }
    let a = attested(&chain.gov, &read(c, key, &format!("/v1/wallets/{id}"))?)?;
    // Another wallet's genuine record is no answer for this one.
    if a.statement.wallet != id {
        bail!(
            "asked for wallet {id}, the server answered with wallet {}",
            a.statement.wallet
        );
    }
    Ok(a)
}

impl Attested {
    fn chain_code(&self) -> Result<[u8; 32]> {
        hex::decode(&self.statement.chain_code)
            .ok()
            .and_then(|c| c.try_into().ok())
            .context("the attested chain code is not 32 bytes of hex")
    }

    /// The key of `m/0/account`, derived here from the attested root.
    pub fn account_key(&self, account: u32) -> Result<AccountKey> {
        let path: DerivationPath = format!("m/0/{account}").parse()?;
        let root = hex::decode(&self.statement.root_key)?;
        let public_key = custos_tss::hd::public_key_at(
            self.statement.scheme,
            &root,
            &self.chain_code()?,
            &path,
        )?;
        Ok(AccountKey {
            scheme: self.statement.scheme,
            public_key,
        })
    }

    /// The address of `m/0/account`.
    pub fn address(&self, account: u32, kind: AddressKind) -> Result<String> {
        if self.statement.blind {
            bail!(
                "wallet {} is a blind wallet: it has no deposit addresses (its key signs bare \
                 digests only)",
                self.statement.wallet
            );
        }
        Ok(custos_chains::address::address(
            &self.account_key(account)?,
            kind,
        )?)
    }

    /// The root xpub (ECDSA, not blind), derived here.
    pub fn xpub(&self) -> Result<Option<String>> {
        if self.statement.scheme != Scheme::EcdsaSecp256k1 || self.statement.blind {
            return Ok(None);
        }
        let root = hex::decode(&self.statement.root_key)?;
        Ok(Some(custos_chains::address::xpub(
            &root,
            &self.chain_code()?,
            custos_chains::intent::BitcoinNetwork::Mainnet,
        )?))
    }

    /// The wallet as the CLI shows it: every field from the attested
    /// statement, the xpub derived here, and who attested it.
    pub fn view(&self, committee_names: &[String]) -> Result<Value> {
        let s = &self.statement;
        Ok(json!({
            "id": s.wallet, "scheme": s.scheme.as_str(), "committee_id": s.committee,
            "epoch": s.epoch, "key_id": s.key_id, "public_key": s.public_key,
            "root_key": s.root_key, "chain_code": s.chain_code, "blind": s.blind,
            "xpub": self.xpub()?,
            "attested_by": self.members.iter()
                .map(|&i| committee_names.get(i).cloned().unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>(),
        }))
    }
}

/// Member names of `committee`, in index order.
pub fn member_names(gov: &Governance, committee: &str) -> Vec<String> {
    gov.committee(committee)
        .map(|c| c.members.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_shorter_than_or_forked_from_the_one_seen_is_refused() {
        let dir = std::env::temp_dir().join(format!("custos-seen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(SEEN_FILE));
        let genesis = [1; 32];
        let heads: Vec<Hash> = (0..4u8).map(|i| [i; 32]).collect();
        not_rolled_back(&dir, &genesis, &heads[..3]).unwrap();
        let err = not_rolled_back(&dir, &genesis, &heads[..2]).unwrap_err();
        assert!(err.to_string().contains("a rolled-back chain"), "{err}");
        let mut forked = heads.clone();
        forked[2] = [9; 32];
        let err = not_rolled_back(&dir, &genesis, &forked).unwrap_err();
        assert!(err.to_string().contains("forks"), "{err}");
        not_rolled_back(&dir, &genesis, &heads).unwrap();
        assert!(not_rolled_back(&dir, &genesis, &heads[..3]).is_err());
        // Another genesis is another chain.
        not_rolled_back(&dir, &[2; 32], &heads[..1]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
