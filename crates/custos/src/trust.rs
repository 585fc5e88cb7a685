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
/// genesis (every proposal's admin quorum checked).
pub struct Chain {
    /// The state at the head.
    pub gov: Governance,
}

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
    }
    Ok(Chain { gov })
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
