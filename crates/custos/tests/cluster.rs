//! The whole system as separate processes on loopback: `custos server run`
//! and three `custos node run`, driven through the `custos` CLI and the REST
//! API. One scenario, so the committee's ECDSA aux info is made once.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custos_node::store::NodeVault;
use custos_node::vault::EntryKind;
use custos_tss::{KeyShare, Scheme};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_custos");

struct Cluster {
    data: PathBuf,
    server: Option<Child>,
    nodes: BTreeMap<u16, Child>,
    responses: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.server.iter_mut().chain(self.nodes.values_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Keep the data directory (logs, stores) of a failed run for inspection.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

fn custos(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(EXE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CUSTOS_KEY_PASSPHRASE", USER_KEY_PASSPHRASE)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn log(data: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join(format!("{name}.log")))
        .unwrap()
}

impl Cluster {
    fn new() -> Self {
        let data = std::env::temp_dir().join(format!("custos-cluster-{}", std::process::id()));
        std::fs::remove_dir_all(&data).ok();
        let (ok, _, err) = custos(&data, &["up", "--init-only"]);
        assert!(ok, "{err}");
        // Test fixture primes (never on the product path) so aux info need not wait for prime generation.
        let primes = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../custos-tss/test-data/primes-5.hex"
        ))
        .unwrap();
        for (i, line) in primes.lines().take(3).enumerate() {
            let dir = data.join(format!("node-{i}"));
            std::fs::write(dir.join("primes.hex"), line).unwrap();
            let (ok, _, err) = custos(
                &data,
                &[
                    "node",
                    "import-primes",
                    "--dir",
                    dir.to_str().unwrap(),
                    "--passphrase-file",
                    dir.join("passphrase").to_str().unwrap(),
                    "--primes-file",
                    dir.join("primes.hex").to_str().unwrap(),
                ],
            );
            assert!(ok, "{err}");
            std::fs::remove_file(dir.join("primes.hex")).unwrap();
            // Short deadlines so failure cases end quickly.
            let mut config: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("node.json")).unwrap())
                    .unwrap();
            config["message_timeout_ms"] = 5000.into();
            std::fs::write(dir.join("node.json"), config.to_string()).unwrap();
        }
        let mut server: Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("server/server.json")).unwrap(),
        )
        .unwrap();
        server["session_timeout_ms"] = 20000.into();
        // A small background pool, so refill runs beside the scenario.
        server["presignature_target"] = 1.into();
        server["tokens"] = serde_json::json!([
            {"chain": "ethereum", "address": USDT, "symbol": "USDT", "decimals": 6},
            {"chain": "solana", "address": USDC, "symbol": "USDC", "decimals": 6}
        ]);
        std::fs::write(data.join("server/server.json"), server.to_string()).unwrap();
        let mut c = Cluster {
            data,
            server: None,
            nodes: BTreeMap::new(),
            responses: Vec::new(),
        };
        c.start_server(None);
        for i in 0..3 {
            c.start_node(i);
        }
        c.wait_connected(&[0, 1, 2]);
        c
    }

    /// Starts the server; `fault` (`VAR=value`) makes it misbehave (test build only).
    fn start_server(&mut self, fault: Option<&str>) {
        let mut cmd = Command::new(EXE);
        cmd.args(["server", "run", "--dir"])
            .arg(self.data.join("server"))
            .stdout(log(&self.data, "server"))
            .stderr(log(&self.data, "server"));
        if let Some((k, v)) = fault.and_then(|f| f.split_once('=')) {
            cmd.env(k, v);
        }
        self.server = Some(cmd.spawn().unwrap());
    }

    /// Restarts the server and waits for every node to reconnect.
    fn restart_server(&mut self, fault: Option<&str>) {
        if let Some(mut s) = self.server.take() {
            s.kill().unwrap();
            s.wait().unwrap();
        }
        self.start_server(fault);
        self.wait_connected(&[0, 1, 2]);
    }

    fn node_dir(&self, i: u16) -> PathBuf {
        self.data.join(format!("node-{i}"))
    }

    fn start_node(&mut self, i: u16) {
        let dir = self.node_dir(i);
        let child = Command::new(EXE)
            .args(["node", "run", "--dir"])
            .arg(&dir)
            .arg("--passphrase-file")
            .arg(dir.join("passphrase"))
            .stdout(log(&self.data, &format!("node-{i}")))
            .stderr(log(&self.data, &format!("node-{i}")))
            .spawn()
            .unwrap();
        self.nodes.insert(i, child);
    }

    fn stop_node(&mut self, i: u16) {
        let mut child = self.nodes.remove(&i).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn health(&mut self) -> Option<Value> {
        let url = serde_json::from_str::<Value>(
            &std::fs::read_to_string(self.data.join("cluster.json")).unwrap(),
        )
        .unwrap()["api_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = http_get(&format!("{url}/v1/health"))?;
        self.responses.push(body.clone());
        serde_json::from_str(&body).ok()
    }

    fn wait_connected(&mut self, nodes: &[u16]) {
        let start = Instant::now();
        loop {
            let h = self.health().unwrap_or_default();
            let up: Vec<u16> = h["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["connected"] == true)
                .map(|n| n["index"].as_u64().unwrap() as u16)
                .collect();
            if nodes.iter().all(|n| up.contains(n)) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "nodes {nodes:?} not connected: {h}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn run(&mut self, args: &[&str]) -> Result<Value, String> {
        let (ok, out, err) = custos(&self.data, args);
        self.responses.push(out.clone());
        self.responses.push(err.clone());
        if ok {
            Ok(serde_json::from_str(out.trim()).unwrap())
        } else {
            Err(err)
        }
    }

    /// Signs `message_hex` with ECDSA, hashed with SHA-256 at each node, by
    /// nodes 0 and 1 at the root key (eligible for the presignature pool).
    fn sign_hashed(&mut self, wallet: &str, message_hex: &str) -> Result<Value, String> {
        self.run(&[
            "sign",
            "--wallet",
            wallet,
            "--message-hex",
            message_hex,
            "--hash",
            "sha256",
            "--signers",
            "0,1",
            "--json",
            "--key",
            &self.key("ivy"),
        ])
    }

    /// Node `i`'s journal of signings (background presigning left out),
    /// read with `custos node journal`.
    fn journal(&self, i: u16) -> Vec<Value> {
        let (ok, out, err) = custos(
            &self.data,
            &[
                "node",
                "journal",
                "--dir",
                self.node_dir(i).to_str().unwrap(),
            ],
        );
        assert!(ok, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["kind"] != "presign")
            .collect()
    }

    /// Plays a compromised server database: every presignature it handed
    /// out is marked ready again.
    fn reset_taken_presignatures(&self) {
        let db = self.data.join("server/server.db");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
                .await
                .unwrap();
            let done = sqlx::query(
                "UPDATE presignatures SET state = 'ready', created_at = 0 WHERE state = 'taken'",
            )
            .execute(&pool)
            .await
            .unwrap();
            assert!(done.rows_affected() >= 1);
            pool.close().await;
        });
    }

    fn sign(
        &mut self,
        wallet: &str,
        message: &str,
        signers: Option<&str>,
        path: &str,
    ) -> Result<Value, String> {
        let key = self.key("ivy");
        let mut args = vec![
            "sign",
            "--wallet",
            wallet,
            "--message-hex",
            message,
            "--path",
            path,
            "--json",
            "--key",
            &key,
        ];
        if let Some(s) = signers {
            args.extend(["--signers", s]);
        }
        self.run(&args)
    }
}

/// A minimal HTTP/1.1 GET over loopback, independent of the CLI; `None`
/// while the server is not listening yet.
fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// A minimal HTTP/1.1 request over loopback: (status, body).
fn http(url: &str, method: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    (status, resp.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// Headers of a call signed by `user` with `key` (what the CLI sends).
fn signed_headers(
    user: &str,
    key: &ed25519_dalek::SigningKey,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    use ed25519_dalek::Signer;
    let message = custos_governance::auth::RequestSignature {
        method,
        path,
        body_sha256: sha2_256(body),
        timestamp,
        nonce,
    }
    .message();
    vec![
        ("x-custos-user", user.to_owned()),
        ("x-custos-timestamp", timestamp.to_string()),
        ("x-custos-nonce", nonce.to_owned()),
        (
            "x-custos-signature",
            hex::encode(key.sign(&message).to_bytes()),
        ),
    ]
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The key of user rex (a viewer the test holds in memory).
fn rex() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x5e; 32])
}

/// Signed API calls: a replayed or stale call is refused; TOTP login opens a
/// session once per code (RFC 6238 vectors are in custos-governance).
fn signed_calls_and_totp_sessions(c: &mut Cluster) {
    let api = serde_json::from_str::<Value>(
        &std::fs::read_to_string(c.data.join("cluster.json")).unwrap(),
    )
    .unwrap()["api_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = rex();
    let body = b"{}";
    let nonce = "11".repeat(16);
    let h = signed_headers(
        "rex",
        &key,
        "POST",
        "/v1/users/totp",
        body,
        unix_now(),
        &nonce,
    );
    let (status, enrolment) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 200, "{enrolment}");
    // The same signed call again: replayed.
    let (status, err) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("request replayed"), "{err}");
    // Stale: ten minutes old.
    let h = signed_headers(
        "rex",
        &key,
        "POST",
        "/v1/users/totp",
        body,
        unix_now() - 600,
        &"22".repeat(16),
    );
    let (status, err) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("outside"), "{err}");
    // Another user's signature over rex's call.
    let h = signed_headers(
        "rex",
        &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        "POST",
        "/v1/users/totp",
        body,
        unix_now(),
        &"33".repeat(16),
    );
    let (status, _) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401);

    let secret: Value = serde_json::from_str(&enrolment).unwrap();
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        secret["secret"].as_str().unwrap(),
    )
    .unwrap();
    let totp = custos_governance::auth::Totp::new(zeroize::Zeroizing::new(secret), None).unwrap();
    let code = totp.code(unix_now() as u64);
    let login = |nonce: &str, code: &str| {
        let body = serde_json::json!({ "code": code }).to_string();
        let h = signed_headers(
            "rex",
            &key,
            "POST",
            "/v1/login",
            body.as_bytes(),
            unix_now(),
            nonce,
        );
        http(&format!("{api}/v1/login"), "POST", &h, body.as_bytes())
    };
    let (status, wrong) = login(
        &"44".repeat(16),
        if code == "000000" { "111111" } else { "000000" },
    );
    assert_eq!(status, 401, "{wrong}");
    let (status, session) = login(&"55".repeat(16), &code);
    assert_eq!(status, 200, "{session}");
    let token = serde_json::from_str::<Value>(&session).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, me) = http(
        &format!("{api}/v1/session"),
        "GET",
        &[("x-custos-session", token.clone())],
        b"",
    );
    assert_eq!(status, 200, "{me}");
    assert!(
        me.contains("\"user\":\"rex\"") && me.contains("viewer"),
        "{me}"
    );
    // The same code again (fresh signature): refused.
    let (status, err) = login(&"66".repeat(16), &code);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("TOTP code refused"), "{err}");

    // Reads need a user: the session reads what a viewer may, not the audit
    // log; a signed read works without a session; anonymous or bogus
    // credentials read nothing; the health check stays public.
    let session = [("x-custos-session", token)];
    let (status, list) = http(&format!("{api}/v1/requests"), "GET", &session, b"");
    assert_eq!(status, 200, "{list}");
    let (status, err) = http(&format!("{api}/v1/audit/export"), "GET", &session, b"");
    assert_eq!(status, 403, "{err}");
    assert!(err.contains("rex may not read /v1/audit/export"), "{err}");
    let h = signed_headers(
        "rex",
        &key,
        "GET",
        "/v1/wallets",
        b"",
        unix_now(),
        &"77".repeat(16),
    );
    let (status, wallets) = http(&format!("{api}/v1/wallets"), "GET", &h, b"");
    assert_eq!(status, 200, "{wallets}");
    for headers in [vec![], vec![("x-custos-session", "ab".repeat(32))]] {
        let (status, err) = http(&format!("{api}/v1/requests"), "GET", &headers, b"");
        assert_eq!(status, 401, "{err}");
    }
    let (status, _) = http(&format!("{api}/v1/health"), "GET", &[], b"");
    assert_eq!(status, 200);
    // Logging out ends the session.
    let (status, _) = http(&format!("{api}/v1/session"), "DELETE", &session, b"");
    assert_eq!(status, 204);
    let (status, err) = http(&format!("{api}/v1/requests"), "GET", &session, b"");
    assert_eq!(status, 401, "{err}");
}

/// The CLI reads through the session `custos login` saved (a revoked one
/// fails, it does not fall back), and `custos logout` ends it.
fn cli_session(c: &mut Cluster) {
    let enrolment = c.run(&["user", "totp-enrol"]).unwrap();
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        enrolment["secret"].as_str().unwrap(),
    )
    .unwrap();
    // The store holds it sealed: not in the database files in the clear.
    let clear = hex::encode(&secret);
    for f in ["server.db", "server.db-wal"] {
        let bytes = std::fs::read(c.data.join("server").join(f)).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(&clear), "{f}");
    }
    let totp = custos_governance::auth::Totp::new(zeroize::Zeroizing::new(secret), None).unwrap();
    let code = totp.code(unix_now() as u64);
    let (ok, out, err) = custos(&c.data, &["login", "--code", &code]);
    assert!(ok && out.contains("logged in as admin"), "{out}{err}");
    let file = c.data.join("session.json");
    let saved = std::fs::read(&file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(ok, "{err}");
    let (ok, out, err) = custos(&c.data, &["logout"]);
    assert!(ok && out.contains("logged out"), "{out}{err}");
    assert!(!file.exists());
    std::fs::write(&file, &saved).unwrap();
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(!ok && err.contains("no such session"), "{err}");
    std::fs::remove_file(&file).unwrap();
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(ok, "{err}");
}

fn verify(scheme: &str, key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match scheme {
        "ecdsa-secp256k1" => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier;
            let s = k256::ecdsa::Signature::from_slice(sig).unwrap();
            s.normalize_s().is_none()
                && k256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .unwrap()
                    .verify_prehash(msg, &s)
                    .is_ok()
        }
        "schnorr-bip340" => {
            use bitcoin::secp256k1::{schnorr, Message, Secp256k1, XOnlyPublicKey};
            Secp256k1::verification_only()
                .verify_schnorr(
                    &schnorr::Signature::from_slice(sig).unwrap(),
                    &Message::from_digest_slice(msg).unwrap(),
                    &XOnlyPublicKey::from_slice(key).unwrap(),
                )
                .is_ok()
        }
        "ed25519" => ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap())
            .unwrap()
            .verify_strict(msg, &ed25519_dalek::Signature::from_slice(sig).unwrap())
            .is_ok(),
        other => panic!("{other}"),
    }
}

fn check_signature(record: &Value, expected_scheme: &str) {
    let obj = record.as_object().unwrap();
    assert_eq!(obj.len(), 5, "{record}");
    assert_eq!(record["request"].as_str().unwrap().len(), 32, "{record}");
    assert_eq!(record["scheme"], expected_scheme);
    let get = |k: &str| hex::decode(record[k].as_str().unwrap()).unwrap();
    assert!(
        verify(
            expected_scheme,
            &get("public_key"),
            &get("message"),
            &get("signature")
        ),
        "{record}"
    );
}

/// Test-only reconstruction of a private key from `t` shares' secret scalars
/// (the product never does this).
fn reconstruct<E: generic_ec::Curve>(
    shares: &[(u16, generic_ec::Scalar<E>)],
) -> generic_ec::Scalar<E> {
    use generic_ec::Scalar;
    let xs: Vec<Scalar<E>> = shares
        .iter()
        .map(|(i, _)| Scalar::from(u64::from(*i) + 1))
        .collect();
    let mut key = Scalar::zero();
    for (j, (_, s)) in shares.iter().enumerate() {
        let mut l = Scalar::one();
        for (m, xm) in xs.iter().enumerate() {
            if m != j {
                l *= xm * (xm - xs[j]).invert().unwrap();
            }
        }
        key += s * l;
    }
    key
}

fn sha2_256(data: &[u8]) -> [u8; 32] {
    use k256::sha2::Digest;
    k256::sha2::Sha256::digest(data).into()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[test]
fn cluster_end_to_end() {
    let mut c = Cluster::new();
    setup_governance(&mut c);
    let schemes = ["ecdsa-secp256k1", "schnorr-bip340", "ed25519"];
    let mut wallets = BTreeMap::new();
    for scheme in schemes {
        let (ok, out, err) = custos(&c.data, &["wallet", "create", "--scheme", scheme, "--json"]);
        assert!(ok, "{err}");
        c.responses.extend([out.clone(), err.clone()]);
        if scheme == "ecdsa-secp256k1" {
            // The committee's first ECDSA key makes its aux info; the CLI
            // shows the nodes' progress meanwhile.
            assert!(err.contains("[aux-info] node-"), "no progress shown: {err}");
        }
        let w: Value = serde_json::from_str(out.trim()).unwrap();
        wallets.insert(scheme, w["id"].as_str().unwrap().to_owned());
        for signers in ["0,1", "0,2", "1,2"] {
            for path in ["m", "m/0/1"] {
                let r = c
                    .sign(&wallets[scheme], &"5a".repeat(32), Some(signers), path)
                    .unwrap();
                check_signature(&r, scheme);
            }
        }
    }
    // Only admins create keys.
    let key = c.key("ivy");
    let err = c
        .run(&["wallet", "create", "--scheme", "ed25519", "--key", &key])
        .unwrap_err();
    assert!(err.contains("ivy is not an admin"), "{err}");
    // A second ECDSA key reuses the committee's aux info (no new aux session).
    let second = c
        .run(&["wallet", "create", "--scheme", "ecdsa-secp256k1", "--json"])
        .unwrap();
    assert_ne!(second["key_id"], serde_json::json!(null));

    chain_transfers(&mut c, &wallets);
    malicious_server(&mut c, &wallets);

    // Presignature pool: filled for signers 0,1, then a node-hashed message at
    // the root key signs from it in one online round (the nodes' journals
    // say so).
    let ecdsa = wallets["ecdsa-secp256k1"].clone();
    let (ok, out, err) = custos(
        &c.data,
        &[
            "wallet",
            "presign",
            &ecdsa,
            "--count",
            "2",
            "--signers",
            "0,1",
        ],
    );
    assert!(ok && out.contains("presignatures ready"), "{out}{err}");
    let r = c.sign_hashed(&ecdsa, "c0ffee").unwrap();
    check_signature(&r, "ecdsa-secp256k1");
    assert_eq!(r["message"], hex::encode(sha2_256(&[0xc0, 0xff, 0xee])));
    for i in [0, 1] {
        let last = c.journal(i).pop().unwrap();
        assert_eq!(last["kind"], "sign-presigned", "{last}");
        assert!(
            last["outcome"].as_str().unwrap().contains("Signature"),
            "{last}"
        );
    }

    // One node down: automatic signer choice still signs; naming it fails fast.
    c.stop_node(2);
    let start = Instant::now();
    check_signature(
        &c.sign(&wallets["ed25519"], "01", None, "m").unwrap(),
        "ed25519",
    );
    let err = c
        .sign(&wallets["ed25519"], "01", Some("0,2"), "m")
        .unwrap_err();
    assert!(err.contains("not connected: node-2"), "{err}");
    // Two down: a clear error, well within the deadline.
    c.stop_node(1);
    let err = c
        .sign(&wallets["schnorr-bip340"], &"01".repeat(32), None, "m")
        .unwrap_err();
    assert!(err.contains("only 1 of the 2 required nodes"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));

    // Restart: nodes reload their vaults and sign again.
    c.start_node(1);
    c.start_node(2);
    c.wait_connected(&[0, 1, 2]);
    check_signature(
        &c.sign(
            &wallets["ecdsa-secp256k1"],
            &"77".repeat(32),
            Some("1,2"),
            "m/5",
        )
        .unwrap(),
        "ecdsa-secp256k1",
    );

    // A node that stalls while connected (stopped, its socket open) delays
    // no one: the audit checkpoint holds with the two that co-signed, and
    // they sign. Resumed, it reads the entries it missed and signs again.
    let stalled = c.nodes[&2].id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &stalled])
        .status()
        .unwrap()
        .success());
    let r = c.sign(&wallets["ed25519"], "02", None, "m");
    assert!(Command::new("kill")
        .args(["-CONT", &stalled])
        .status()
        .unwrap()
        .success());
    check_signature(&r.unwrap(), "ed25519");
    let server_log = std::fs::read_to_string(c.data.join("server.log")).unwrap();
    assert!(
        server_log
            .lines()
            .any(|l| l.contains("holds without") && l.contains("node-2")),
        "{server_log}"
    );
    check_signature(
        &c.sign(&wallets["ed25519"], "03", Some("0,2"), "m").unwrap(),
        "ed25519",
    );

    // A server (or its database) that hands out a used presignature again,
    // after the signers restarted: each node refuses from its own record, no
    // partial signature leaves, and the server falls back to full signing.
    c.reset_taken_presignatures();
    let r = c.sign_hashed(&ecdsa, "c0ffee02").unwrap();
    check_signature(&r, "ecdsa-secp256k1");
    for i in [0, 1] {
        let journal = c.journal(i);
        let refused = &journal[journal.len() - 2];
        assert_eq!(refused["kind"], "sign-presigned", "{refused}");
        assert!(
            refused["outcome"].as_str().unwrap().contains("used before"),
            "{refused}"
        );
        assert_eq!(journal[journal.len() - 1]["kind"], "sign");
        // No presignature ever signed twice at this node.
        let mut used = std::collections::BTreeSet::new();
        for e in journal.iter().filter(|e| {
            e["kind"] == "sign-presigned" && e["outcome"].as_str().unwrap().contains("Signature")
        }) {
            let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            assert!(used.insert(detail["presignature"].to_string()), "{e}");
        }
    }

    // A node killed mid-round: the session aborts with an error naming it,
    // and a retry with another subset succeeds.
    let data = c.data.clone();
    let wallet = wallets["ecdsa-secp256k1"].clone();
    let key = c.key("ivy");
    let signing = std::thread::spawn(move || {
        custos(
            &data,
            &[
                "sign",
                "--wallet",
                &wallet,
                "--message-hex",
                &"42".repeat(32),
                "--signers",
                "0,1",
                "--json",
                "--key",
                &key,
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    c.stop_node(1);
    let (ok, out, err) = signing.join().unwrap();
    assert!(!ok, "a signature was produced after its signer died: {out}");
    assert!(err.contains("node-1"), "{err}");
    check_signature(
        &c.sign(
            &wallets["ecdsa-secp256k1"],
            &"42".repeat(32),
            Some("0,2"),
            "m",
        )
        .unwrap(),
        "ecdsa-secp256k1",
    );
    c.start_node(1);
    c.wait_connected(&[0, 1, 2]);

    // Wrong passphrase: a clear error at start, and the vault file untouched.
    c.stop_node(0);
    let db = c.node_dir(0).join("node.db");
    // The node was killed: fold its write-ahead log into the file first, so
    // the comparison below sees every byte of the store.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let before = std::fs::read(&db).unwrap();
    std::fs::write(c.data.join("wrong-pass"), "not the passphrase at all").unwrap();
    let out = Command::new(EXE)
        .args(["node", "run", "--dir"])
        .arg(c.node_dir(0))
        .arg("--passphrase-file")
        .arg(c.data.join("wrong-pass"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("passphrase does not open this vault"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a refused start must not write the vault"
    );
    c.start_node(0);
    c.wait_connected(&[0, 1, 2]);

    // A malicious relay (the server, test build): each fault to a
    // node-to-node stream aborts the session at the receiving node with the
    // matching typed error, and no signature comes back.
    for (fault, expect) in [
        ("flip", "fails authentication (altered or forged)"),
        ("replay", "replayed (sequence 0)"),
        ("reorder", "out of order: expected sequence 0, got 1"),
        ("drop", "timed out after 5s waiting for parties"),
    ] {
        c.restart_server(Some(&format!("CUSTOS_RELAY_FAULT={fault}")));
        let err = c
            .sign(&wallets["ed25519"], "0f0f", Some("0,1"), "m")
            .unwrap_err();
        assert!(err.contains(expect), "{fault}: {err}");
    }
    c.restart_server(None);
    check_signature(
        &c.sign(&wallets["ed25519"], "0f0f", Some("0,1"), "m")
            .unwrap(),
        "ed25519",
    );

    audit_export_verifies_and_every_corruption_is_named(&mut c);

    // Secret scan: each share's secret and each full key must appear nowhere.
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aux = |vault: &NodeVault| {
        rt.block_on(vault.get(EntryKind::AuxInfo, [0; 32], 0))
            .unwrap()
            .map(|b| custos_tss::ecdsa::AuxInfo::from_bytes(&b).unwrap())
    };
    let mut by_key: BTreeMap<String, Vec<(u16, Vec<u8>, Scheme)>> = BTreeMap::new();
    for i in 0..3u16 {
        let dir = c.node_dir(i);
        let pass = std::fs::read_to_string(dir.join("passphrase")).unwrap();
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("node.json")).unwrap()).unwrap();
        let vault = rt
            .block_on(NodeVault::open(
                &dir.join("node.db"),
                pass.as_bytes(),
                config["public_key"].as_str().unwrap(),
            ))
            .unwrap();
        let aux = aux(&vault);
        for key_id in rt.block_on(vault.keys(EntryKind::KeyShare)).unwrap() {
            let id: [u8; 32] = hex::decode(&key_id).unwrap().try_into().unwrap();
            let blob = rt
                .block_on(vault.get(EntryKind::KeyShare, id, 0))
                .unwrap()
                .unwrap();
            let share = KeyShare::from_bytes(&blob, aux.as_ref()).unwrap();
            let secret = blob[blob.len() - 32..].to_vec();
            by_key
                .entry(key_id)
                .or_default()
                .push((i, secret.clone(), share.scheme()));
            secrets.push(secret);
        }
    }
    assert_eq!(by_key.len(), 4);
    for shares in by_key.values() {
        let scheme = shares[0].2;
        let full = match scheme {
            Scheme::Ed25519 => {
                type E = generic_ec::curves::Ed25519;
                let parts: Vec<_> = shares
                    .iter()
                    .take(2)
                    .map(|(i, s, _)| (*i, generic_ec::Scalar::<E>::from_le_bytes(s).unwrap()))
                    .collect();
                reconstruct(&parts).to_le_bytes().to_vec()
            }
            _ => {
                type E = generic_ec::curves::Secp256k1;
                let parts: Vec<_> = shares
                    .iter()
                    .take(2)
                    .map(|(i, s, _)| (*i, generic_ec::Scalar::<E>::from_be_bytes(s).unwrap()))
                    .collect();
                reconstruct(&parts).to_be_bytes().to_vec()
            }
        };
        secrets.push(full);
    }
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    let mut all = Vec::new();
    files(&c.data, &mut all);
    for f in all {
        haystacks.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    for (k, r) in c.responses.iter().enumerate() {
        haystacks.push((format!("response {k}"), r.as_bytes().to_vec()));
    }
    for secret in &secrets {
        let hex_lower = hex::encode(secret).into_bytes();
        let hex_upper = hex::encode_upper(secret).into_bytes();
        for (name, hay) in &haystacks {
            for needle in [secret, &hex_lower, &hex_upper] {
                assert!(
                    !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "secret material found in {name}"
                );
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `custos` with extra environment; (success, stdout, stderr).
fn custos_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(EXE)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The multi-machine path without `custos up`: each operator runs their own
/// step, and trust is established only by fingerprints compared out of band.
#[test]
fn manual_enrolment_by_separate_operators() {
    let d = std::env::temp_dir().join(format!("custos-enrol-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    let mut children = Procs(Vec::new());
    let path = |p: &str| d.join(p).display().to_string();
    std::fs::write(d.join("pass"), "an operator passphrase").unwrap();
    let (api, nodes_port) = (free_port(), free_port());
    let (api_addr, node_addr) = (
        format!("127.0.0.1:{api}"),
        format!("127.0.0.1:{nodes_port}"),
    );

    // Server operator.
    let (ok, out, err) = custos_env(
        &[
            "server",
            "init",
            "--dir",
            &path("server"),
            "--api-addr",
            &api_addr,
            "--node-addr",
            &node_addr,
        ],
        &[],
    );
    assert!(ok, "{err}");
    let server_fp = out
        .trim()
        .strip_prefix("server TLS fingerprint: ")
        .unwrap()
        .to_owned();
    let (ok, _, err) = custos_env(&["server", "run", "--dir", &path("server")], &[]);
    assert!(!ok && err.contains("no nodes enrolled yet"), "{err}");

    // Node operators (c will try to join without being enrolled).
    for name in ["a", "b", "c"] {
        let (ok, out, err) = custos_env(
            &[
                "node",
                "init",
                "--dir",
                &path(name),
                "--name",
                &format!("node-{name}"),
                "--server-addr",
                &node_addr,
                "--server-fingerprint",
                &server_fp,
                "--passphrase-file",
                &path("pass"),
            ],
            &[],
        );
        assert!(ok, "{err}");
        assert!(out.contains("tls_fingerprint"), "{out}");
    }
    let (ok, _, err) = custos_env(
        &[
            "node",
            "run",
            "--dir",
            &path("a"),
            "--passphrase-file",
            &path("pass"),
        ],
        &[],
    );
    assert!(!ok && err.contains("no committee pinned yet"), "{err}");

    // Server operator enrols a and b as a 2-of-2 committee.
    let (ok, out, err) = custos_env(
        &[
            "server",
            "enrol",
            "--dir",
            &path("server"),
            "--threshold",
            "2",
            &path("a/enrolment.json"),
            &path("b/enrolment.json"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    let committee_fp = out
        .trim()
        .strip_prefix("committee fingerprint: ")
        .unwrap()
        .to_owned();
    let committee = path("server/committee.json");

    // The first admin makes her key; the genesis names her and the server's
    // audit key; node operators confirm its hash when they pin.
    let key_env = [("CUSTOS_KEY_PASSPHRASE", USER_KEY_PASSPHRASE)];
    let (ok, alice_pk, err) = custos_env(
        &[
            "user",
            "keygen",
            "--id",
            "alice",
            "--out",
            &path("alice.key"),
        ],
        &key_env,
    );
    assert!(ok, "{err}");
    let admin = format!("alice:{}", alice_pk.trim());
    let (ok, genesis, err) = custos_env(
        &[
            "governance",
            "init",
            "--server-dir",
            &path("server"),
            "--admin",
            &admin,
            "--quorum",
            "1",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let genesis = genesis.trim().to_owned();
    // Pinning checks the fingerprint and membership.
    let pin = |node: &str, fp: &str| {
        custos_env(
            &[
                "node",
                "pin",
                "--dir",
                &path(node),
                "--committee",
                &committee,
                "--fingerprint",
                fp,
                "--genesis",
                &genesis,
            ],
            &[],
        )
    };
    let (ok, _, err) = pin("a", &"00".repeat(32));
    assert!(!ok && err.contains("committee fingerprint is"), "{err}");
    let (ok, _, err) = pin("c", &committee_fp);
    assert!(!ok && err.contains("not a member"), "{err}");
    for node in ["a", "b"] {
        let (ok, out, err) = pin(node, &committee_fp);
        assert!(
            ok && out.contains("pinned committee default (2-of-2)"),
            "{out}{err}"
        );
    }
    // c's operator pins the committee by hand anyway; the server must still refuse it.
    let mut c_config: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("c/node.json")).unwrap()).unwrap();
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&committee).unwrap()).unwrap();
    c_config["members"] = spec["members"].clone();
    c_config["threshold"] = 2.into();
    std::fs::write(d.join("c/node.json"), c_config.to_string()).unwrap();

    let spawn = |args: &[&str], name: &str| {
        Command::new(EXE)
            .args(args)
            .stdout(log(&d, name))
            .stderr(log(&d, name))
            .spawn()
            .unwrap()
    };
    children.0.push(spawn(
        &["server", "run", "--dir", &path("server")],
        "server",
    ));
    for node in ["a", "b", "c"] {
        children.0.push(spawn(
            &[
                "node",
                "run",
                "--dir",
                &path(node),
                "--passphrase-file",
                &path("pass"),
            ],
            node,
        ));
    }
    let url = format!("http://{api_addr}");
    let env = [
        ("CUSTOS_API_URL", url.as_str()),
        ("CUSTOS_KEY_PASSPHRASE", USER_KEY_PASSPHRASE),
    ];
    let start = Instant::now();
    loop {
        if let Some(h) = http_get(&format!("{url}/v1/health")) {
            if serde_json::from_str::<Value>(&h).unwrap()["ready"] == true {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nodes did not connect"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Keys are created by an admin's signed call.
    let (ok, out, err) = custos_env(
        &[
            "wallet",
            "create",
            "--scheme",
            "ed25519",
            "--json",
            "--key",
            &path("alice.key"),
        ],
        &env,
    );
    assert!(ok, "{err}");
    let wallet: Value = serde_json::from_str(out.trim()).unwrap();
    let sign = || {
        custos_env(
            &[
                "sign",
                "--wallet",
                wallet["id"].as_str().unwrap(),
                "--message-hex",
                "aa55",
                "--json",
                "--key",
                &path("alice.key"),
            ],
            &env,
        )
    };
    // Nothing signs before governance allows it: alice is no initiator yet
    // and no policy exists (default deny).
    let (ok, _, err) = sign();
    assert!(
        !ok && err.contains("does not hold the initiator role"),
        "{err}"
    );
    std::fs::write(
        d.join("policy.json"),
        r#"{"rules":[{"name":"raw","initiators":[{"user":"alice"}],"chains":["message"],"action":{"type":"allow"}}]}"#,
    )
    .unwrap();
    let (ok, out, err) = custos_env(
        &[
            "governance",
            "propose",
            "--grant",
            "alice:initiator",
            "--policy",
            &path("policy.json"),
            "--key",
            &path("alice.key"),
        ],
        &env,
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    let (ok, out, err) = sign();
    assert!(ok, "{err}");
    check_signature(&serde_json::from_str(out.trim()).unwrap(), "ed25519");
    let server_log = std::fs::read_to_string(d.join("server.log")).unwrap();
    assert!(
        server_log.contains("refused connection from"),
        "{server_log}"
    );
    assert!(!server_log.contains("node-c connected"), "{server_log}");
    drop(children);
    std::fs::remove_dir_all(&d).ok();
}

/// Child processes killed when the test ends, also on a failed assertion.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const ETH_TO: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const SOL_TO: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

fn eth_transfer(wallet: &str, nonce: u64, asset: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = [
        "transfer",
        "--wallet",
        wallet,
        "--chain",
        "ethereum",
        "--to",
        ETH_TO,
        "--amount",
        "1000000000000000",
        "--index",
        "2",
        "--chain-id",
        "11155111",
        "--max-fee-per-gas",
        "30000000000",
        "--max-priority-fee-per-gas",
        "1000000000",
        "--gas-limit",
        "65000",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(["--nonce".into(), nonce.to_string()]);
    a.extend([
        "--key".into(),
        format!(
            "{}/ivy.key",
            std::env::temp_dir()
                .join(format!("custos-cluster-{}", std::process::id()))
                .display()
        ),
    ]);
    if let Some(t) = asset {
        a.extend(["--asset".into(), t.into()]);
    }
    a
}

impl Cluster {
    fn run_strings(&mut self, args: &[String]) -> Result<Value, String> {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs)
    }

    fn address(&mut self, wallet: &str, chain: &str, index: u32) -> String {
        let i = index.to_string();
        let r = self
            .run(&[
                "address",
                "--wallet",
                wallet,
                "--chain",
                chain,
                "--network",
                "regtest",
                "--index",
                &i,
                "--json",
            ])
            .unwrap();
        r["address"].as_str().unwrap().to_owned()
    }
}

/// Every input passes libbitcoinconsensus with its prevout.
fn consensus_verify(raw_hex: &str, prevouts: &[(Vec<u8>, u64)]) {
    let tx = hex::decode(raw_hex).unwrap();
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|(s, v)| bitcoinconsensus::Utxo {
            script_pubkey: s.as_ptr(),
            script_pubkey_len: s.len() as u32,
            value: *v as i64,
        })
        .collect();
    for (i, (s, v)) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify(s, *v, &tx, Some(&utxos), i)
            .unwrap_or_else(|e| panic!("input {i}: {e:?}"));
    }
}

fn json_prevouts(r: &Value) -> Vec<(Vec<u8>, u64)> {
    r["prevouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                hex::decode(p[0].as_str().unwrap()).unwrap(),
                p[1].as_u64().unwrap(),
            )
        })
        .collect()
}

const USER_KEY_PASSPHRASE: &str = "test user key passphrase";

/// The signed transaction of a request the CLI printed (it must be signed).
fn signed(r: Value) -> Value {
    assert_eq!(r["state"], "signed", "{r}");
    let mut s = r["signed"].clone();
    s["chain"] = r["record"]["chain"].clone();
    s
}

/// Policy of the scenario: large ether transfers need two approvers;
/// bitcoin is limited to 240 000 sat per initiator per hour; other
/// transfers, raw signings and PSBTs by initiators are allowed; anything
/// else is denied.
const POLICY: &str = r#"{"rules":[
  {"name":"large-ether","chains":["ethereum"],"assets":["native"],"min_amount":"5000000000000000",
   "action":{"type":"approve","count":2,"from":[{"role":"approver"}]}},
  {"name":"bitcoin-velocity","initiators":[{"role":"initiator"}],"chains":["bitcoin"],
   "velocity":{"scope":"initiator","window_secs":3600,"max_sum":"240000"},"action":{"type":"allow"}},
  {"name":"initiators","initiators":[{"role":"initiator"}],
   "chains":["ethereum","solana","message","bitcoin-psbt"],"action":{"type":"allow"}}
]}"#;

impl Cluster {
    fn key(&self, user: &str) -> String {
        self.data.join(format!("{user}.key")).display().to_string()
    }
}

/// Users (initiator ivy, approvers ann and bob, viewer vic) and the policy,
/// added by the demo admin of `custos up` (admin quorum 1).
fn setup_governance(c: &mut Cluster) {
    let mut add = vec![format!(
        "rex:{}:viewer",
        hex::encode(rex().verifying_key().to_bytes())
    )];
    for (user, role) in [
        ("ivy", "initiator"),
        ("ann", "approver"),
        ("bob", "approver"),
        ("vic", "viewer"),
    ] {
        let (ok, out, err) = custos(
            &c.data,
            &["user", "keygen", "--id", user, "--out", &c.key(user)],
        );
        assert!(ok, "{err}");
        add.push(format!("{user}:{}:{role}", out.trim()));
    }
    std::fs::write(c.data.join("policy.json"), POLICY).unwrap();
    let policy = c.data.join("policy.json").display().to_string();
    let mut args = vec!["governance", "propose", "--policy", &policy];
    for a in &add {
        args.extend(["--add-user", a]);
    }
    let (ok, out, err) = custos(&c.data, &args);
    assert!(ok, "{err}");
    assert!(out.contains(": applied"), "{out}");
    // Each node validated the chain itself.
    let (ok, out, _) = custos(&c.data, &["governance", "show"]);
    assert!(ok);
    assert!(out.contains("height 1"), "{out}");
    signed_calls_and_totp_sessions(c);
    cli_session(c);
}

/// The whole scenario's audit log, exported with the CLI, verifies offline
/// against the genesis audit key and the nodes' witness keys (two
/// co-signatures per checkpoint); each corruption is named by `custos audit
/// verify` with the first bad entry.
fn audit_export_verifies_and_every_corruption_is_named(c: &mut Cluster) {
    let export = c.data.join("audit.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(ok && out.contains("entries"), "{out}{err}");
    let api = serde_json::from_str::<Value>(
        &std::fs::read_to_string(c.data.join("cluster.json")).unwrap(),
    )
    .unwrap()["api_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Reads need a user: no anonymous governance read.
    let (status, err) = http(&format!("{api}/v1/governance"), "GET", &[], b"");
    assert_eq!(status, 401, "{err}");
    let (ok, shown, err) = custos(&c.data, &["governance", "show"]);
    assert!(ok, "{err}");
    let audit_key = shown
        .lines()
        .find_map(|l| l.strip_prefix("audit key "))
        .unwrap()
        .to_owned();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let dir = c.node_dir(i);
        let (ok, out, err) = custos(
            &c.data,
            &[
                "node",
                "witness-key",
                "--dir",
                dir.to_str().unwrap(),
                "--passphrase-file",
                dir.join("passphrase").to_str().unwrap(),
            ],
        );
        assert!(ok, "{err}");
        nodes.push(out.trim().to_owned());
    }
    let keys = c.data.join("audit-keys.json");
    std::fs::write(
        &keys,
        serde_json::json!({ "server": audit_key, "nodes": nodes, "quorum": 2 }).to_string(),
    )
    .unwrap();
    let verify = |e: &Value| {
        let f = c.data.join("audit-probe.json");
        std::fs::write(&f, e.to_string()).unwrap();
        custos(
            &c.data,
            &[
                "audit",
                "verify",
                f.to_str().unwrap(),
                "--keys",
                keys.to_str().unwrap(),
            ],
        )
    };
    let clean: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let (ok, out, err) = verify(&clean);
    assert!(ok && out.starts_with("ok: "), "{out}{err}");
    let entries = clean["entries"].as_array().unwrap().len();
    let checkpoints = clean["checkpoints"].as_array().unwrap().len();
    assert!(entries > 50 && checkpoints > 5, "{out}");
    // Every action of the scenario is there.
    let actions: std::collections::BTreeSet<&str> = clean["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["action"].as_str().unwrap())
        .collect();
    for a in [
        "governance-genesis",
        "node-join",
        "node-leave",
        "dkg",
        "wallet-created",
        "request",
        "approval",
        "sign",
        "signed",
        "sign-failed",
        "governance-change",
    ] {
        assert!(actions.contains(a), "no {a} entry: {actions:?}");
    }
    let probe = |name: &str, f: &dyn Fn(&mut Value), expect: &str| {
        let mut e = clean.clone();
        f(&mut e);
        let (ok, out, err) = verify(&e);
        assert!(!ok, "{name}: corruption not detected: {out}");
        assert!(err.contains(expect), "{name}: {err}");
    };
    let k = entries / 2;
    probe(
        "edit an entry",
        &|e| {
            let d = &mut e["entries"][k]["entry"]["detail"];
            *d = Value::String(d.as_str().unwrap().replacen('"', "'", 1));
        },
        &format!("entry {k}"),
    );
    probe(
        "delete an entry",
        &|e| {
            e["entries"].as_array_mut().unwrap().remove(k);
        },
        &format!("entry {k}"),
    );
    probe(
        "insert an entry",
        &|e| {
            let copy = e["entries"][k].clone();
            e["entries"].as_array_mut().unwrap().insert(k, copy);
        },
        &format!("entry {}", k + 1),
    );
    probe(
        "swap two entries",
        &|e| {
            e["entries"].as_array_mut().unwrap().swap(k, k + 1);
        },
        &format!("entry {k}"),
    );
    probe(
        "truncate",
        &|e| {
            e["entries"].as_array_mut().unwrap().truncate(k);
        },
        "checkpoint of size",
    );
    probe(
        "swap a checkpoint's root",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            let other = cps[1]["checkpoint"]["root"].clone();
            cps[0]["checkpoint"]["root"] = other;
        },
        "checkpoint of size",
    );
    probe(
        "two checkpoints of one size",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            let mut fork = cps[1].clone();
            fork["checkpoint"]["root"] = cps[0]["checkpoint"]["root"].clone();
            cps.push(fork);
        },
        "checkpoint of size",
    );
}

/// A large ether transfer by ivy (needs two approvals); returns the
/// request id while pending.
fn large_eth(c: &mut Cluster, wallet: &str, nonce: u64) -> Result<Value, String> {
    let mut a = eth_transfer(wallet, nonce, None);
    let i = a.iter().position(|x| x == "1000000000000000").unwrap();
    a[i] = "6000000000000000".into();
    c.run_strings(&a)
}

fn approve(c: &mut Cluster, id: &str, user: &str) -> Result<String, String> {
    let key = c.key(user);
    let (ok, out, err) = custos(&c.data, &["approve", id, "--key", &key]);
    c.responses.extend([out.clone(), err.clone()]);
    if ok {
        Ok(out)
    } else {
        Err(err)
    }
}

/// DESIGN threat table, row 1: a server that lies is refused by the nodes,
/// each with its typed reason, and no signature comes back.
fn malicious_server(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    let w = wallets["ecdsa-secp256k1"].clone();
    // Honest: pending until two approvers sign, then signed; the initiator
    // and a viewer are refused by the server already.
    let r = large_eth(c, &w, 20).unwrap();
    assert_eq!(r["state"], "pending", "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    assert!(approve(c, &id, "ivy")
        .unwrap_err()
        .contains("cannot approve their own request"));
    assert!(approve(c, &id, "vic")
        .unwrap_err()
        .contains("may not approve"));
    approve(c, &id, "ann").unwrap();
    let out = approve(c, &id, "bob").unwrap();
    assert!(out.trim().starts_with("0x02"), "{out}");
    let signed_id = id;

    // Each attack: the fault, who approves before dispatch, the node's reason.
    let attacks: &[(&str, &[&str], &str)] = &[
        ("no-approvals", &[], "0 of 2 required approvals"),
        ("below-quorum", &["ann"], "1 of 2 required approvals"),
        (
            "forge-approval",
            &["ann", "bob"],
            "approval: bad signature by bob",
        ),
        ("accept", &["ann", "ivy"], "ivy approved their own request"),
        ("accept", &["ann", "vic"], "vic may not approve under rule"),
        (
            "alter-amount",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "alter-destination",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "alter-fee",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "stale-head",
            &["ann", "bob"],
            "request approved under governance head",
        ),
        ("skew", &["ann", "bob"], "s from this node's clock"),
        (
            "unlogged",
            &["ann", "bob"],
            "is not covered by an audit checkpoint",
        ),
        (
            "payload",
            &["ann", "bob"],
            "differs from the one this node built from the request",
        ),
    ];
    for (k, (fault, approvers, expect)) in attacks.iter().enumerate() {
        c.restart_server(Some(&format!("CUSTOS_AUTH_FAULT={fault}")));
        let mut result = large_eth(c, &w, 30 + k as u64).map(|v| v.to_string());
        if let Ok(r) = &result {
            let id = serde_json::from_str::<Value>(r).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            for a in *approvers {
                result = approve(c, &id, a);
                if result.is_err() {
                    break;
                }
            }
        }
        let err = result.expect_err(fault);
        assert!(err.contains(expect), "{fault}: {err}");
    }
    // (7) Replay of a signed request: every node refuses from its own record.
    c.restart_server(Some("CUSTOS_AUTH_FAULT=accept"));
    let err = approve(c, &signed_id, "ann").unwrap_err();
    assert!(
        err.contains("was signed before; refusing to sign it again"),
        "{err}"
    );
    // (10) Velocity: two bitcoin transfers used the initiator's hourly
    // 240 000 sat; a third, sent to the other node pair by a server that
    // ignores policy, is refused (node 2 never signed the first two but
    // witnessed them in the audit log).
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &w,
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--to",
            BTC_TO,
            "--amount",
            "1000",
            "--index",
            "1",
            "--utxo",
            &format!("{}:0:100000", "ab".repeat(32)),
            "--fee-rate",
            "3",
            "--signers",
            "1,2",
            "--key",
            &c.key("ivy"),
            "--json",
        ])
        .unwrap_err();
    assert!(
        err.contains("no policy rule matches (default deny)"),
        "{err}"
    );
    // (9) A governance change with fewer than quorum admin signatures: the
    // admin quorum becomes 2, then a one-signature change forwarded by the
    // server is refused by every node, which stays at its head.
    c.restart_server(None);
    let (ok, pk, err) = custos(
        &c.data,
        &[
            "user",
            "keygen",
            "--id",
            "admin2",
            "--out",
            &c.key("admin2"),
        ],
    );
    assert!(ok, "{err}");
    let add = format!("admin2:{}:admin", pk.trim());
    let (ok, out, err) = custos(
        &c.data,
        &["governance", "propose", "--add-user", &add, "--quorum", "2"],
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    c.restart_server(Some("CUSTOS_AUTH_FAULT=governance"));
    let (ok, out, err) = custos(
        &c.data,
        &["governance", "propose", "--grant", "vic:initiator"],
    );
    assert!(ok && out.contains("pending"), "{out}{err}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    for i in 0..3 {
        let log = std::fs::read_to_string(c.data.join(format!("node-{i}.log"))).unwrap();
        assert!(
            log.contains("1 of 2 admin signatures"),
            "node {i} did not refuse: {log}"
        );
    }
    c.restart_server(None);
}

/// Transfers on every chain and a PSBT, signed by the 2-of-3 cluster and
/// checked by each chain's own verifier.
fn chain_transfers(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_consensus::Transaction as _;
    use alloy_eips::eip2718::Decodable2718;
    let (ecdsa, bip, ed) = (
        wallets["ecdsa-secp256k1"].clone(),
        wallets["schnorr-bip340"].clone(),
        wallets["ed25519"].clone(),
    );
    // Ethereum: ether and an ERC-20 token; the sender recovered by alloy is
    // the wallet's address.
    let eth_from = c.address(&ecdsa, "ethereum", 2);
    for (nonce, asset) in [(0, None), (1, Some(USDT))] {
        let r = signed(c.run_strings(&eth_transfer(&ecdsa, nonce, asset)).unwrap());
        assert_eq!(r["chain"], "ethereum");
        assert_eq!(r["from"], eth_from.as_str());
        let raw = hex::decode(r["raw_tx"].as_str().unwrap().strip_prefix("0x").unwrap()).unwrap();
        let env = alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
        assert_eq!(env.recover_signer().unwrap().to_checksum(None), eth_from);
        assert_eq!(env.nonce(), nonce);
    }
    // The ECDSA wallet's xpub derives the same account keys watch-only.
    let shown = c.run(&["wallet", "show", &ecdsa, "--json"]).unwrap();
    let xpub: bitcoin::bip32::Xpub = shown["xpub"].as_str().unwrap().parse().unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let child = xpub
        .derive_pub(
            &secp,
            &"m/0/1".parse::<bitcoin::bip32::DerivationPath>().unwrap(),
        )
        .unwrap();
    let watch_only = bitcoin::Address::p2wpkh(
        &bitcoin::CompressedPublicKey(child.public_key),
        bitcoin::Network::Regtest,
    );
    assert_eq!(watch_only.to_string(), c.address(&ecdsa, "bitcoin", 1));
    // Bitcoin: P2WPKH (ECDSA wallet) and P2TR key path (BIP-340 wallet); every
    // input passes libbitcoinconsensus.
    for (wallet, txid) in [(&ecdsa, "aa"), (&bip, "bb")] {
        let from = c.address(wallet, "bitcoin", 1);
        let (u1, u2) = (
            format!("{}:0:100000", txid.repeat(32)),
            format!("{}:1:50000", "cd".repeat(32)),
        );
        let r = c
            .run(&[
                "transfer",
                "--wallet",
                wallet,
                "--chain",
                "bitcoin",
                "--network",
                "regtest",
                "--to",
                BTC_TO,
                "--amount",
                "120000",
                "--index",
                "1",
                "--utxo",
                &u1,
                "--utxo",
                &u2,
                "--fee-rate",
                "3",
                "--key",
                &c.key("ivy"),
                "--json",
            ])
            .unwrap();
        let r = signed(r);
        assert_eq!(r["from"], from.as_str());
        let prevouts: Vec<(Vec<u8>, u64)> = r["prevouts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    hex::decode(p[0].as_str().unwrap()).unwrap(),
                    p[1].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(prevouts.len(), 2);
        consensus_verify(r["raw_tx"].as_str().unwrap(), &prevouts);
    }
    // Solana: SOL and an SPL token; signatures verify with the Solana crates
    // and the wallet pays the fee.
    let sol_from = c.address(&ed, "solana", 0);
    for asset in [None, Some(USDC)] {
        let mut args = vec![
            "transfer",
            "--wallet",
            &ed,
            "--chain",
            "solana",
            "--to",
            SOL_TO,
            "--amount",
            "5000",
            "--recent-blockhash",
            "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            "--json",
        ];
        let key = c.key("ivy");
        args.extend(["--key", &key]);
        if let Some(a) = asset {
            args.extend(["--asset", a]);
        }
        let r = signed(c.run(&args).unwrap());
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["raw_tx"].as_str().unwrap())
            .unwrap();
        let tx: solana_transaction::Transaction = bincode::deserialize(&raw).unwrap();
        tx.verify().unwrap();
        assert_eq!(tx.message.account_keys[0].to_string(), sol_from);
    }
    // Bad input: a typed error, nothing signed.
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &ed,
            "--chain",
            "solana",
            "--to",
            SOL_TO,
            "--amount",
            "5",
            "--recent-blockhash",
            "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            "--asset",
            "So11111111111111111111111111111111111111112",
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("unknown token"), "{err}");
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &ecdsa,
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--to",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "--amount",
            "1000",
            "--utxo",
            &format!("{}:0:5000", "ee".repeat(32)),
            "--fee-rate",
            "2",
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("another network"), "{err}");

    // A PSBT made with rust-bitcoin, spending one P2WPKH input of the ECDSA
    // wallet and one P2TR input of the BIP-340 wallet: each wallet signs its
    // input; the result finalizes and passes libbitcoinconsensus.
    use std::str::FromStr;
    let script = |a: &str| {
        bitcoin::Address::from_str(a)
            .unwrap()
            .assume_checked()
            .script_pubkey()
    };
    let (p2wpkh, p2tr) = (
        c.address(&ecdsa, "bitcoin", 4),
        c.address(&bip, "bitcoin", 4),
    );
    let txin = |b: u8| bitcoin::TxIn {
        previous_output: bitcoin::OutPoint::new(
            bitcoin::Txid::from_str(&hex::encode([b; 32])).unwrap(),
            0,
        ),
        sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
        ..Default::default()
    };
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![txin(0x51), txin(0x52)],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(90_000),
            script_pubkey: script(BTC_TO),
        }],
    };
    let mut psbt = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(60_000),
        script_pubkey: script(&p2wpkh),
    });
    psbt.inputs[1].witness_utxo = Some(bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(40_000),
        script_pubkey: script(&p2tr),
    });
    let file = c.data.join("fixture.psbt");
    std::fs::write(&file, psbt.serialize()).unwrap();
    let f = file.to_str().unwrap().to_owned();
    let r = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &ecdsa,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap();
    assert!(
        r["raw_tx"].is_null(),
        "the P2TR input is not signed yet: {r}"
    );
    std::fs::write(&file, r["psbt"].as_str().unwrap()).unwrap();
    let err = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &ecdsa,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap_err();
    assert!(err.contains("already finalized"), "{err}");
    let r = c
        .run(&[
            "psbt",
            "sign",
            "--wallet",
            &bip,
            "--network",
            "regtest",
            &f,
            "--json",
            "--key",
            &c.key("ivy"),
        ])
        .unwrap();
    consensus_verify(r["raw_tx"].as_str().unwrap(), &json_prevouts(&r));
}
