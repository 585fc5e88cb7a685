//! The processes under test and how the tests talk to them: the cluster
//! (server and nodes as child processes), the CLI, raw HTTP with signed
//! headers, and small helpers.

use super::*;

pub(crate) const EXE: &str = env!("CARGO_BIN_EXE_custos");

pub(crate) struct Cluster {
    pub(crate) data: PathBuf,
    /// Committee size.
    pub(crate) n: u16,
    pub(crate) server: Option<Child>,
    pub(crate) nodes: BTreeMap<u16, Child>,
    pub(crate) responses: Vec<String>,
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

pub(crate) fn custos(data: &Path, args: &[&str]) -> (bool, String, String) {
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

pub(crate) fn log(data: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join(format!("{name}.log")))
        .unwrap()
}

impl Cluster {
    pub(crate) fn new() -> Self {
        Self::with(3, 2, "cluster")
    }

    /// A `t`-of-`n` cluster (`n` ≤ 5: one fixture line of primes per node)
    /// in a data directory named by `tag`.
    pub(crate) fn with(n: u16, t: u16, tag: &str) -> Self {
        let data = std::env::temp_dir().join(format!("custos-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&data).ok();
        let (n_arg, t_arg) = (n.to_string(), t.to_string());
        let (ok, _, err) = custos(
            &data,
            &[
                "up",
                "--init-only",
                "--nodes",
                &n_arg,
                "--threshold",
                &t_arg,
            ],
        );
        assert!(ok, "{err}");
        let cluster: Value =
            serde_json::from_str(&std::fs::read_to_string(data.join("cluster.json")).unwrap())
                .unwrap();
        pin_api(
            cluster["api_url"].as_str().unwrap(),
            cluster["api_fingerprint"].as_str().unwrap(),
        );
        // Test fixture primes (never on the product path) so aux info need not wait for prime generation.
        let primes = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../custos-tss/test-data/primes-5.hex"
        ))
        .unwrap();
        for (i, line) in primes.lines().take(usize::from(n)).enumerate() {
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
        server["tokens"] = serde_json::json!([
            {"chain": "ethereum", "address": USDT, "symbol": "USDT", "decimals": 6},
            {"chain": "solana", "address": USDC, "symbol": "USDC", "decimals": 6}
        ]);
        std::fs::write(data.join("server/server.json"), server.to_string()).unwrap();
        let mut c = Cluster {
            data,
            n,
            server: None,
            nodes: BTreeMap::new(),
            responses: Vec::new(),
        };
        c.start_server(None);
        for i in 0..n {
            c.start_node(i);
        }
        c.wait_connected(&(0..n).collect::<Vec<_>>());
        c
    }

    /// Starts the server; `fault` (`VAR=value`) makes it misbehave (test build only).
    pub(crate) fn start_server(&mut self, fault: Option<&str>) {
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
    pub(crate) fn restart_server(&mut self, fault: Option<&str>) {
        if let Some(mut s) = self.server.take() {
            s.kill().unwrap();
            s.wait().unwrap();
        }
        self.start_server(fault);
        self.wait_connected(&(0..self.n).collect::<Vec<_>>());
    }

    pub(crate) fn node_dir(&self, i: u16) -> PathBuf {
        self.data.join(format!("node-{i}"))
    }

    pub(crate) fn start_node(&mut self, i: u16) {
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

    pub(crate) fn stop_node(&mut self, i: u16) {
        let mut child = self.nodes.remove(&i).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub(crate) fn health(&mut self) -> Option<Value> {
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

    pub(crate) fn wait_connected(&mut self, nodes: &[u16]) {
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

    pub(crate) fn run(&mut self, args: &[&str]) -> Result<Value, String> {
        let (ok, out, err) = custos(&self.data, args);
        self.responses.push(out.clone());
        self.responses.push(err.clone());
        if ok {
            Ok(serde_json::from_str(out.trim()).unwrap())
        } else {
            Err(err)
        }
    }

    /// Node `i`'s journal of jobs, read with `custos node journal`.
    pub(crate) fn journal(&self, i: u16) -> Vec<Value> {
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
            .collect()
    }

    /// ivy signs `message` (hex) at `path` of `wallet` by the wallet
    /// scheme's message convention (EIP-191 for ECDSA wallets).
    pub(crate) fn sign(
        &mut self,
        wallet: &str,
        message: &str,
        signers: Option<&str>,
        path: &str,
    ) -> Result<Value, String> {
        let key = self.key("ivy");
        let scheme = self.run(&["wallet", "show", wallet, "--json"])?["scheme"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
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
        if scheme == "ecdsa-secp256k1" {
            args.extend(["--format", "eip191"]);
        }
        if let Some(s) = signers {
            args.extend(["--signers", s]);
        }
        // The message goes with the record, for check_signature.
        let mut r = self.run(&args)?;
        r["text_hex"] = message.into();
        Ok(r)
    }
}

/// The API certificate each test server presents, by `host:port` (the
/// tests' own HTTPS client pins it as the CLI does).
static PINS: std::sync::Mutex<BTreeMap<String, String>> = std::sync::Mutex::new(BTreeMap::new());

/// Pins the certificate of the API at `url` (`https://host:port`).
pub(crate) fn pin_api(url: &str, fingerprint: &str) {
    let host = url.strip_prefix("https://").unwrap().to_owned();
    PINS.lock().unwrap().insert(host, fingerprint.to_owned());
}

/// An HTTPS client accepting only the pinned certificate of `url`'s host.
fn agent(url: &str) -> ureq::Agent {
    let rest = url.strip_prefix("https://").unwrap();
    let host = rest.split_once('/').map_or(rest, |(h, _)| h);
    let pin = PINS.lock().unwrap()[host].clone();
    let tls = custos_net::api_client_config(pin.parse().unwrap()).unwrap();
    ureq::AgentBuilder::new()
        .tls_config(std::sync::Arc::new(tls))
        .timeout(Duration::from_secs(120))
        .build()
}

/// A GET over loopback, independent of the CLI; `None` while the server is
/// not listening yet.
pub(crate) fn http_get(url: &str) -> Option<String> {
    agent(url).get(url).call().ok()?.into_string().ok()
}

/// A request over loopback: (status, body).
pub(crate) fn http(
    url: &str,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut req = agent(url)
        .request(method, url)
        .set("content-type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// Headers of a call signed by `user` with `key` (what the CLI sends).
pub(crate) fn signed_headers(
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

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `custos` with extra environment; (success, stdout, stderr).
pub(crate) fn custos_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
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

/// Child processes killed when the test ends, also on a failed assertion.
pub(crate) struct Procs(pub(crate) Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) const USER_KEY_PASSPHRASE: &str = "test user key passphrase";

/// The signed transaction of a request the CLI printed (it must be signed).
pub(crate) fn signed(r: Value) -> Value {
    assert_eq!(r["state"], "signed", "{r}");
    let mut s = r["signed"].clone();
    s["chain"] = r["record"]["chain"].clone();
    s
}
