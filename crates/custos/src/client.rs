//! CLI commands that talk to a running server's REST API.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Where the API is, from `--data-dir` (written by `custos up`) or
/// `CUSTOS_API_URL`.
pub struct Client {
    url: String,
}

impl Client {
    pub fn locate(data_dir: &Path) -> Result<Self> {
        if let Ok(url) = std::env::var("CUSTOS_API_URL") {
            return Ok(Self { url });
        }
        let cluster: Value = serde_json::from_str(
            &std::fs::read_to_string(data_dir.join("cluster.json")).with_context(|| {
                format!(
                    "no cluster in {} (run `custos up` or set CUSTOS_API_URL)",
                    data_dir.display()
                )
            })?,
        )?;
        let url = cluster["api_url"]
            .as_str()
            .context("cluster.json has no api_url")?
            .to_owned();
        Ok(Self { url })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let req = ureq::request(method, &format!("{}{path}", self.url))
            .timeout(std::time::Duration::from_secs(1200));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        self.response(res)
    }

    /// The JSON body, or the server's error message.
    fn response(&self, res: Result<ureq::Response, ureq::Error>) -> Result<Value> {
        match res {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => {
                let msg = r
                    .into_json::<Value>()
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                bail!("server refused ({code}): {msg}")
            }
            Err(e) => bail!("cannot reach the server at {}: {e}", self.url),
        }
    }

    pub fn wallets(&self) -> Result<Value> {
        self.call("GET", "/v1/wallets", None)
    }

    pub fn wallet(&self, id: &str) -> Result<Value> {
        self.call("GET", &format!("/v1/wallets/{id}"), None)
    }

    /// Prints each node's progress in running sessions to stderr, as it
    /// changes, until `stop` is set (the first ECDSA wallet of a committee
    /// waits minutes for aux info).
    pub fn watch_progress(&self, stop: &std::sync::atomic::AtomicBool) {
        use std::collections::BTreeMap;
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(Value::Array(sessions)) = self.call("GET", "/v1/sessions/running", None) {
                for s in &sessions {
                    let kind = s["kind"].as_str().unwrap_or_default();
                    for n in s["nodes"].as_array().into_iter().flatten() {
                        let (Some(name), Some(note)) = (n["name"].as_str(), n["note"].as_str())
                        else {
                            continue;
                        };
                        if shown.get(name).map(String::as_str) != Some(note) {
                            eprintln!("[{kind}] {name}: {note}");
                            shown.insert(name.to_owned(), note.to_owned());
                        }
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    pub fn address(
        &self,
        id: &str,
        index: u32,
        chain: Option<String>,
        network: Option<String>,
    ) -> Result<Value> {
        let mut q = format!("index={index}");
        for (k, v) in [("chain", chain), ("network", network)] {
            if let Some(v) = v {
                if !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    bail!("--{k} {v:?} is not a plain name");
                }
                q.push_str(&format!("&{k}={v}"));
            }
        }
        self.call("GET", &format!("/v1/wallets/{id}/address?{q}"), None)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    /// A call signed with the user's key: method, path, body hash,
    /// timestamp and a fresh nonce (what the server checks and remembers).
    pub fn signed(
        &self,
        key: &crate::userkey::UserKey,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value> {
        use rand::RngCore;
        use sha2::Digest;
        let bytes = serde_json::to_vec(body)?;
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let message = custos_governance::auth::RequestSignature {
            method,
            path,
            body_sha256: sha2::Sha256::digest(&bytes).into(),
            timestamp,
            nonce: &nonce,
        }
        .message();
        let req = ureq::request(method, &format!("{}{path}", self.url))
            .timeout(std::time::Duration::from_secs(1200))
            .set("content-type", "application/json")
            .set("x-custos-user", &key.user)
            .set("x-custos-timestamp", &timestamp.to_string())
            .set("x-custos-nonce", &nonce)
            .set("x-custos-signature", &hex::encode(key.sign(&message)));
        self.response(req.send_bytes(&bytes))
    }

    pub fn health(&self) -> Result<Value> {
        self.call("GET", "/v1/health", None)
    }
}

pub fn default_data_dir() -> PathBuf {
    std::env::var_os("CUSTOS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("custos-data"))
}

pub fn print_wallet(w: &Value, json_out: bool) {
    if json_out {
        println!("{w}");
    } else {
        println!(
            "{}  {:<16} {}",
            w["id"].as_str().unwrap_or("?"),
            w["scheme"].as_str().unwrap_or("?"),
            w["public_key"].as_str().unwrap_or("?")
        );
    }
}
