//! `custos bench --governance`: the per-request cost of the checks issue 6
//! added, in-process: policy evaluation over a 100-rule policy, a node's
//! whole re-check of a request (signatures, roles, policy, velocity), and
//! audit-log throughput (append, node witnessing, checkpoints; in memory
//! and durable in SQLite).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Result;
use custos_audit::checkpoint::Checkpoint;
use custos_audit::entry::Log;
use custos_audit::merkle::Frontier;
use custos_chains::intent::{Asset, ChainIntent, SolanaTransfer, TransferIntent, INTENT_VERSION};
use custos_governance::{
    approval_message, initiate_message, Change, Genesis, Governance, Proposal, Role, SignedProposal,
};
use custos_node::recheck::{check_request, LedgerRow};
use custos_policy::{evaluate, AddressBook, Kind, Policy, Request, Spend, Spent};
use custos_protocol::authz::{
    plan, AssetAmount, Authorization, SigningRecord, SigningRequest, WitnessRequest,
};
use ed25519_dalek::{Signer, SigningKey};

const NOW: i64 = 1_795_429_800;

/// 99 rules that do not match the benchmark transfer (initiator, chain and
/// asset match; each fails on its destination), then the one that does:
/// approvals, with a velocity limit summed over the ledger.
fn policy() -> Result<Policy> {
    let mut rules = Vec::new();
    for i in 0..99 {
        rules.push(serde_json::json!({
            "name": format!("r{i}"), "initiators": [{"role": "initiator"}], "chains": ["solana"],
            "assets": ["native"], "min_amount": "1", "max_amount": "1000000000",
            "velocity": {"scope": "wallet", "window_secs": 86400, "max_count": 100000},
            "destination": {"addresses": [format!("dest{i}")]},
            "action": {"type": "allow"}
        }));
    }
    rules.push(serde_json::json!({
        "name": "approved", "initiators": [{"role": "initiator"}], "chains": ["solana"],
        "velocity": {"scope": "wallet", "window_secs": 86400, "max_sum": "100000000000000"},
        "action": {"type": "approve", "count": 2, "from": [{"role": "approver"}]}
    }));
    let p: Policy = serde_json::from_value(serde_json::json!({ "rules": rules }))?;
    p.validate()?;
    Ok(p)
}

fn per_op(start: Instant, n: u32) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

pub fn run() -> Result<()> {
    let policy = policy()?;
    let ledger: Vec<Spent> = (0..1000)
        .map(|i| Spent {
            time: NOW - i,
            wallet: "w1".into(),
            initiator: "ivy".into(),
            kind: Kind::Transfer,
            chain: Some("solana".into()),
            spends: vec![Spend {
                asset: "native".into(),
                amount: 1000,
            }],
        })
        .collect();
    let transfer = Request {
        kind: Kind::Transfer,
        initiator: "ivy".into(),
        roles: vec!["initiator".into()],
        wallet: "w1".into(),
        wallet_groups: vec![],
        chain: Some("solana".into()),
        destinations: vec!["9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into()],
        spends: vec![Spend {
            asset: "native".into(),
            amount: 10_000,
        }],
    };
    let book = AddressBook::default();
    let n = 2000;
    let start = Instant::now();
    for _ in 0..n {
        let d = evaluate(&policy, &book, &transfer, NOW, &ledger)?;
        anyhow::ensure!(d.buckets.first().and_then(|b| b.rule) == Some(99));
    }
    let eval = per_op(start, n);
    let start = Instant::now();
    for _ in 0..n {
        evaluate(&policy, &book, &transfer, NOW, &[])?;
    }
    let eval_empty = per_op(start, n);

    // A node's full re-check: governance with four users, the policy above,
    // initiator + two approver signatures, 1000 witnessed signings.
    let [admin, ivy, ann, bob] = [1u8, 2, 3, 4].map(|i| SigningKey::from_bytes(&[i; 32]));
    let genesis = Genesis {
        admins: vec![("admin".into(), admin.verifying_key().to_bytes())],
        admin_quorum: 1,
        audit_key: SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes(),
        committees: vec![],
        demo: true,
    };
    let mut gov = Governance::genesis(&genesis)?;
    let mut changes: Vec<Change> = [
        ("ivy", Role::Initiator),
        ("ann", Role::Approver),
        ("bob", Role::Approver),
    ]
    .iter()
    .zip([&ivy, &ann, &bob])
    .map(|((id, role), k)| Change::AddUser {
        id: (*id).into(),
        key: k.verifying_key().to_bytes(),
        roles: BTreeSet::from([*role]),
    })
    .collect();
    changes.push(Change::SetPolicy(serde_json::to_vec(&policy)?));
    let proposal = Proposal {
        height: 1,
        prev: gov.head(),
        proposer: "admin".into(),
        time: NOW,
        changes,
    };
    let sig = proposal.sign(&admin)?;
    gov.apply(&SignedProposal {
        proposal,
        signatures: vec![("admin".into(), sig)],
    })?;
    let intent = TransferIntent {
        version: INTENT_VERSION,
        request_id: [7; 16],
        wallet: "w1".into(),
        key_id: "00".repeat(32),
        account: 0,
        chain: ChainIntent::Solana(SolanaTransfer {
            to: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            asset: Asset::Native,
            amount: 5000,
            recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into(),
        }),
    };
    let request = SigningRequest::Transfer(intent);
    let hash = request.hash()?;
    let auth = Authorization {
        head: gov.head(),
        initiator: "ivy".into(),
        initiator_signature: ivy.sign(&initiate_message(&hash)).to_bytes().to_vec(),
        approvals: ["ann", "bob"]
            .iter()
            .zip([&ann, &bob])
            .map(|(u, k)| {
                (
                    (*u).to_owned(),
                    k.sign(&approval_message(&hash, &gov.head(), "ivy"))
                        .to_bytes()
                        .to_vec(),
                )
            })
            .collect(),
        time: NOW,
    };
    let mut rows: Vec<LedgerRow> = (0..1000u64)
        .map(|i| LedgerRow {
            seq: i,
            record: SigningRecord {
                request_id: format!("{i:032x}"),
                request: "00".repeat(32),
                wallet: "w1".into(),
                key_id: "00".repeat(32),
                initiator: "ivy".into(),
                kind: Kind::Transfer,
                chain: Some("solana".into()),
                destinations: vec!["x".into()],
                spends: vec![AssetAmount {
                    asset: "native".into(),
                    amount: "1000".into(),
                }],
                path: None,
                digest: None,
                outpoints: Vec::new(),
            },
            witnessed_at: NOW - i as i64,
        })
        .collect();
    // The node plans the request with its own key (builds the Solana
    // transaction from the intent) before it checks it.
    let wallet = custos_protocol::attest::WalletStatement {
        wallet: "w1".into(),
        scheme: custos_tss::Scheme::Ed25519,
        blind: false,
        committee: "default".into(),
        epoch: 0,
        key_id: "00".repeat(32),
        public_key: String::new(),
        root_key: hex::encode(SigningKey::from_bytes(&[21; 32]).verifying_key().to_bytes()),
        chain_code: "15".repeat(32),
    };
    let root = hex::decode(&wallet.root_key)?;
    let key_at = |p: &custos_tss::DerivationPath| {
        custos_tss::hd::public_key_at(custos_tss::Scheme::Ed25519, &root, &[0x15; 32], p)
            .map_err(|_| custos_chains::ChainError::Key("derivation"))
    };
    let planned = plan(&request, custos_tss::Scheme::Ed25519, &key_at)?;
    let record = SigningRecord::new(&request, "ivy", &planned)?;
    rows.push(LedgerRow {
        seq: 1000,
        record: record.clone(),
        witnessed_at: NOW,
    });
    let m = 500;
    let start = Instant::now();
    for _ in 0..m {
        let planned = plan(&request, custos_tss::Scheme::Ed25519, &key_at)?;
        let record = SigningRecord::new(&request, "ivy", &planned)?;
        check_request(Some(&gov), &request, &record, &auth, NOW, &rows)?;
    }
    let recheck = per_op(start, m);

    // Audit: append (sign), witness (verify + frontier), checkpoint.
    let server = SigningKey::from_bytes(&[11; 32]);
    let node = SigningKey::from_bytes(&[12; 32]);
    let entries = 20_000u32;
    let detail = serde_json::to_string(&custos_protocol::sign_entry::SignEntry::new(
        &record,
        &request.to_bytes()?,
        &auth,
    ))?;
    let mut log = Log::new();
    let start = Instant::now();
    for i in 0..entries {
        log.append(NOW + i64::from(i), "server", "sign", &detail, &server)?;
    }
    let append = f64::from(entries) / start.elapsed().as_secs_f64();
    let every = 100usize;
    let start = Instant::now();
    let mut frontier = Frontier::new();
    let mut checkpoints = 0u32;
    for chunk in log.entries().chunks(every) {
        for e in chunk {
            frontier.push(e.entry.hash()?);
        }
        let cp = Checkpoint {
            size: frontier.size(),
            root: frontier.root(),
        };
        let _ = cp.sign(&server);
        checkpoints += 1;
    }
    let server_cp = f64::from(checkpoints) / start.elapsed().as_secs_f64();
    let mut state = custos_node::witness::WitnessState::default();
    let audit_key = server.verifying_key();
    let start = Instant::now();
    let mut cosigned = 0u32;
    let mut f = Frontier::new();
    for chunk in log.entries().chunks(every) {
        for e in chunk {
            f.push(e.entry.hash()?);
        }
        let checkpoint = Checkpoint {
            size: f.size(),
            root: f.root(),
        };
        let req = WitnessRequest {
            entries: chunk.to_vec(),
            server_signature: checkpoint.sign(&server),
            checkpoint,
        };
        // As the daemon does: the initiator's signature under the entry's
        // head, and the record recomputed from the request and the wallet.
        let check = |d: &str| {
            let e = custos_protocol::sign_entry::SignEntry::decode(d)?;
            let r = e.authentic(&gov)?;
            e.recompute(&r, &wallet)
        };
        let done =
            custos_node::witness::witness(&state, &req, &audit_key, &node, [0; 32], NOW, &check)?;
        if !done.skipped.is_empty() {
            anyhow::bail!("the bench's signings were not accepted: {:?}", done.skipped);
        }
        state = done.state;
        cosigned += 1;
    }
    let witness_s = start.elapsed().as_secs_f64();
    let witness_entries = f64::from(entries) / witness_s;

    // Durable: the server's log in SQLite (WAL), one fsync'd insert per entry.
    let rt = tokio::runtime::Runtime::new()?;
    let dir = std::env::temp_dir().join(format!("custos-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let durable_n = 2000u32;
    let durable = rt.block_on(async {
        let url = format!("sqlite:{}", dir.join("audit.db").display());
        let store = custos_server::store::connect(&url).await?;
        let authority =
            custos_server::authority::Authority::load(server.clone(), store.as_ref()).await?;
        let value: serde_json::Value = serde_json::from_str(&detail)?;
        let start = Instant::now();
        for i in 0..durable_n {
            authority
                .append(store.as_ref(), NOW + i64::from(i), "server", "sign", &value)
                .await?;
        }
        anyhow::Ok(f64::from(durable_n) / start.elapsed().as_secs_f64())
    })?;
    std::fs::remove_dir_all(&dir).ok();

    println!("| governance checks (in-process, one thread) | value |");
    println!("|---|---|");
    println!("| policy evaluation, 100 rules, match at rule 100, 1000-entry velocity ledger (mean of {n}) | {eval:.1} µs |");
    println!("| policy evaluation, 100 rules, match at rule 100, empty ledger (mean of {n}) | {eval_empty:.1} µs |");
    println!("| node re-check of a request: plan (build the Solana transaction from the intent), head, initiator + 2 approval signatures, roles, SoD, 100-rule policy per asset bucket, 1001-entry ledger (mean of {m}) | {recheck:.1} µs |");
    println!("| audit append, signed + hash-linked, in memory ({entries} entries) | {append:.0} entries/s |");
    println!("| audit append, durable in SQLite ({durable_n} entries) | {durable:.0} entries/s |");
    println!("| server checkpoint (frontier root + signature) every {every} entries | {server_cp:.0} checkpoints/s |");
    println!("| node witnessing (verify every entry, link, recompute root, co-sign; every entry a signing: initiator signature checked and the Solana transaction re-planned), {cosigned} checkpoints of {every} | {witness_entries:.0} entries/s ({:.0} checkpoints/s) |", f64::from(cosigned) / witness_s);
    Ok(())
}
