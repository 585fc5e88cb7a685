//! `custos bench --cluster`: the same operations through real processes on
//! loopback (1 server, 3 nodes, 2-of-3), measured in the same run as the
//! in-process figure they are compared with.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use custos_tss::driver::simulate;
use custos_tss::ecdsa::AuxInfo;
use custos_tss::{Committee, DerivationPath, KeyShare, Scheme};
use rand::rngs::OsRng;
use rand::RngCore;

use std::sync::Arc;

use super::args::{fixtures_dir, median, BenchArgs};
use crate::client::Client;
use crate::json::Field;
use crate::userkey::UserKey;
use custos_chains::message::MessageFormat;

const CONCURRENCY: usize = 16;

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, start.elapsed()))
}

fn fixture(args: &BenchArgs, name: &str) -> Result<Vec<Vec<u8>>> {
    let dir = fixtures_dir(args);
    let text =
        std::fs::read_to_string(dir.join(name)).with_context(|| format!("fixture {name}"))?;
    text.lines()
        .map(|l| hex::decode(l).context("fixture is not hex"))
        .collect()
}

/// In-process ECDSA 2-of-3 full signing on one thread (the `custos bench` figure).
fn in_process_ecdsa(args: &BenchArgs, runs: usize) -> Result<Duration> {
    let aux: Vec<AuxInfo> = fixture(args, "aux-3.hex")?
        .iter()
        .map(|b| AuxInfo::from_bytes(b))
        .collect::<Result<_, _>>()?;
    let committee = Committee::new(2, 3)?;
    let mut sid = [0u8; 32];
    OsRng.fill_bytes(&mut sid);
    let sessions = (0..3u16)
        .map(|i| {
            custos_tss::keygen(
                Scheme::EcdsaSecp256k1,
                &sid,
                committee,
                i,
                aux.get(usize::from(i)),
                &mut OsRng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shares: Vec<KeyShare> = simulate(sessions).into_iter().collect::<Result<_, _>>()?;
    let mut times = Vec::new();
    for _ in 0..runs {
        OsRng.fill_bytes(&mut sid);
        let msg = sid;
        let sessions = [0u16, 1]
            .iter()
            .map(|&i| {
                Ok(custos_tss::sign(
                    shares.get(usize::from(i)).context("signer index")?,
                    &sid,
                    &[0, 1],
                    &DerivationPath::root(),
                    &msg,
                    &mut OsRng,
                )?)
            })
            .collect::<Result<Vec<_>>>()?;
        let start = Instant::now();
        for r in simulate(sessions) {
            r?;
        }
        times.push(start.elapsed());
    }
    Ok(median(times))
}

/// A message signing by the bench initiator (allowed by the bench policy),
/// by the format's convention; returns what was signed.
fn sign(
    client: &Client,
    key: &UserKey,
    wallet: &str,
    format: MessageFormat,
    message: Vec<u8>,
    signers: Option<Vec<u16>>,
) -> Result<serde_json::Value> {
    let r = crate::govern::sign_message(client, key, wallet, "m", format, message, signers)?;
    anyhow::ensure!(r.at("state") == "signed", "not signed: {r}");
    Ok(r.at("signed").clone())
}

/// Users and policy of the bench: an initiator, an approver; messages
/// allowed for initiators, Solana transfers need one approval.
fn governance(client: &Client, data: &Path) -> Result<(Arc<UserKey>, UserKey)> {
    let admin = crate::userkey::locate(None, data)?;
    let (ivy, ann) = (
        UserKey::generate("bench-initiator"),
        UserKey::generate("bench-approver"),
    );
    let policy = data.join("bench-policy.json");
    std::fs::write(
        &policy,
        r#"{"rules":[
          {"name":"solana-approved","initiators":[{"role":"initiator"}],"chains":["solana"],
           "action":{"type":"approve","count":1,"from":[{"role":"approver"}]}},
          {"name":"messages","initiators":[{"role":"initiator"}],"kinds":["message"],"action":{"type":"allow"}}]}"#,
    )?;
    let changes = crate::govern::Changes {
        add_user: vec![
            format!("{}:{}:initiator", ivy.user, hex::encode(ivy.public())),
            format!("{}:{}:approver", ann.user, hex::encode(ann.public())),
        ],
        policy: Some(policy),
        ..Default::default()
    };
    let r = crate::govern::propose(client, &admin, &changes, true)?;
    anyhow::ensure!(r.at("state") == "applied", "governance: {r}");
    Ok((Arc::new(ivy), ann))
}

fn throughput(
    data: &Path,
    key: &Arc<UserKey>,
    wallet: &str,
    format: MessageFormat,
    message_len: usize,
    per_thread: usize,
) -> Result<f64> {
    let start = Instant::now();
    let handles: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (data, wallet, key) = (data.to_path_buf(), wallet.to_owned(), key.clone());
            std::thread::spawn(move || -> Result<()> {
                let client = Client::locate(&data)?;
                for _ in 0..per_thread {
                    let mut m = vec![0u8; message_len / 2];
                    OsRng.fill_bytes(&mut m);
                    // Text: the Solana off-chain format signs UTF-8.
                    sign(
                        &client,
                        &key,
                        &wallet,
                        format,
                        hex::encode(m).into_bytes(),
                        None,
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    Ok((CONCURRENCY * per_thread) as f64 / start.elapsed().as_secs_f64())
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let data = std::env::temp_dir().join(format!("custos-bench-cluster-{}", std::process::id()));
    std::fs::remove_dir_all(&data).ok();
    rt.block_on(crate::cmd::up::init(&data, 3, 2))?;
    if args.quick {
        // Test-fixture primes (benchmarks only) so aux info need not wait for prime generation.
        for (i, primes) in fixture(args, "primes-5.hex")?.iter().take(3).enumerate() {
            let dir = data.join(format!("node-{i}"));
            let pass = std::fs::read_to_string(dir.join("passphrase"))?;
            rt.block_on(custos_node::daemon::import_primes(
                &dir,
                pass.trim().as_bytes(),
                primes,
            ))?;
        }
    }
    let (mut children, _, api_url) = rt.block_on(crate::cmd::up::start(&data))?;
    eprintln!("cluster up at {api_url}");
    let result = (|| -> Result<()> {
        let client = Client::locate(&data)?;
        let (ivy, ann) = governance(&client, &data)?;
        let admin = crate::userkey::locate(None, &data)?;
        let id = |w: serde_json::Value| w.at("id").as_str().map(str::to_owned).context("wallet id");
        let (ecdsa, first_ecdsa) = timed(|| {
            id(client.signed(
                &admin,
                "POST",
                "/v1/wallets",
                &serde_json::json!({"scheme": "ecdsa-secp256k1"}),
            )?)
        })?;
        let (_, second_ecdsa) = timed(|| {
            id(client.signed(
                &admin,
                "POST",
                "/v1/wallets",
                &serde_json::json!({"scheme": "ecdsa-secp256k1"}),
            )?)
        })?;
        let (ed, ed_create) = timed(|| {
            id(client.signed(
                &admin,
                "POST",
                "/v1/wallets",
                &serde_json::json!({"scheme": "ed25519"}),
            )?)
        })?;
        let (bip, bip_create) = timed(|| {
            id(client.signed(
                &admin,
                "POST",
                "/v1/wallets",
                &serde_json::json!({"scheme": "schnorr-bip340"}),
            )?)
        })?;

        let runs = if args.quick { 5 } else { 9 };
        let mut cluster_times = Vec::new();
        let mut in_process = Vec::new();
        for _ in 0..runs {
            let mut digest = [0u8; 32];
            OsRng.fill_bytes(&mut digest);
            let (_, t) = timed(|| {
                sign(
                    &client,
                    &ivy,
                    &ecdsa,
                    MessageFormat::Eip191,
                    // Text: EIP-191 refuses binary and 32-byte messages.
                    hex::encode(digest).into_bytes(),
                    Some(vec![0, 1]),
                )
            })?;
            cluster_times.push(t);
        }
        in_process.push(in_process_ecdsa(args, runs)?);
        let (cluster_ecdsa, local_ecdsa) = (median(cluster_times), median(in_process));

        let per_thread = if args.quick { 8 } else { 25 };
        let ed_rate = throughput(
            &data,
            &ivy,
            &ed,
            MessageFormat::SolanaOffchain,
            32,
            per_thread,
        )?;
        let bip_rate = throughput(&data, &ivy, &bip, MessageFormat::Bip322, 32, per_thread)?;

        // An approved Ed25519 transfer end to end with every check on:
        // initiator request, policy, one approval, audit entry and node
        // co-signed checkpoint, each node's re-check, signing, assembly.
        let mut approved = Vec::new();
        for _ in 0..runs {
            let request = serde_json::json!({
                "chain": "solana", "to": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
                "amount": "5000", "recent_blockhash": "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            });
            let (r, t) = timed(|| {
                let r = crate::govern::transfer(&client, &ivy, &ed, request)?;
                let id = r.at("id").as_str().context("request id")?.to_owned();
                crate::govern::approve(&client, &ann, &id)
            })?;
            anyhow::ensure!(r.at("state") == "signed", "approved transfer: {r}");
            approved.push(t);
        }
        let approved = median(approved);

        println!("| cluster (1 server + 3 node processes, loopback, 2-of-3) | value |");
        println!("|---|---|");
        println!(
            "| first ECDSA wallet (committee aux info + DKG) | {} |",
            secs(first_ecdsa)
        );
        println!(
            "| ECDSA wallet creation, aux info reused | {} |",
            secs(second_ecdsa)
        );
        println!("| Ed25519 wallet creation | {} |", secs(ed_create));
        println!("| BIP-340 wallet creation | {} |", secs(bip_create));
        println!(
            "| ECDSA 2-of-3 full sign (an EIP-191 message), cluster (median of {runs}) | {} |",
            secs(cluster_ecdsa)
        );
        println!(
            "| ECDSA 2-of-3 full sign, in-process same run (median of {runs}) | {} |",
            secs(local_ecdsa)
        );
        println!(
            "| ratio cluster / in-process (goal <= 1.2) | {:.2} |",
            cluster_ecdsa.as_secs_f64() / local_ecdsa.as_secs_f64()
        );
        println!("| Ed25519 2-of-3 message signings/s, {CONCURRENCY} concurrent requests ({} total) | {ed_rate:.1} |", CONCURRENCY * per_thread);
        println!("| BIP-340 2-of-3 message signings/s, {CONCURRENCY} concurrent requests ({} total) | {bip_rate:.1} |", CONCURRENCY * per_thread);
        println!(
            "| Ed25519 2-of-3 approved transfer end to end, all checks on (median of {runs}) | {} |",
            secs(approved)
        );
        println!(
            "In-process runs all parties on one thread; the cluster runs each party in its own process on {} cores.",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        Ok(())
    })();
    rt.block_on(async {
        // Nodes first, so none reconnects to a stopped server.
        for c in children.iter_mut().rev() {
            let _ = c.kill().await;
        }
    });
    std::fs::remove_dir_all(&data).ok();
    result
}
