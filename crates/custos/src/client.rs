//! CLI commands that talk to a running server's REST API.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::json::Field;

/// Where the API is and which certificate it must present, from
/// `--data-dir` (cluster.json, written by `custos up`) or `CUSTOS_API_URL`
/// with `CUSTOS_API_FINGERPRINT`, and who reads through it.
pub struct Client {
    url: String,
    data_dir: PathBuf,
    /// HTTPS, accepting only the pinned certificate.
    agent: ureq::Agent,
    /// Resolved at the first read, so commands that never read unlock no key.
    reader: std::sync::OnceLock<std::result::Result<Reader, String>>,
}

/// Reads need a user (the server answers no anonymous `GET`).
enum Reader {
    /// A session opened with `custos login` (a signed call plus a TOTP code).
    Session(String),
    /// Each read signed with this key (the demo admin of `custos up`).
    Key(Box<crate::userkey::UserKey>),
}

/// Where `custos login` keeps its session token (owner-only file).
pub const SESSION_FILE: &str = "session.json";

/// Saves a session from `/v1/login` for later reads (readable by its owner
/// only: the token is a bearer credential). Returns the file's path.
pub fn save_session(data_dir: &Path, session: &Value) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let saved = serde_json::json!({
        "user": session.at("user"),
        "token": session.at("token").as_str().context("the server returned no session token")?,
        "expires_at": session.at("expires_at"),
    });
    let path = data_dir.join(SESSION_FILE);
    std::fs::create_dir_all(data_dir)?;
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(saved.to_string().as_bytes())?;
    Ok(path)
}

/// The token of the unexpired session saved in `data_dir`, if any.
fn saved_session(data_dir: &Path) -> Option<String> {
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join(SESSION_FILE)).ok()?).ok()?;
    let now = custos_net::clock::unix_now();
    if saved.at("expires_at").as_i64()? <= now {
        return None;
    }
    saved.at("token").as_str().map(str::to_owned)
}

impl Client {
    pub fn locate(data_dir: &Path) -> Result<Self> {
        if let Ok(url) = std::env::var("CUSTOS_API_URL") {
            let pin = std::env::var("CUSTOS_API_FINGERPRINT").context(
                "CUSTOS_API_URL needs CUSTOS_API_FINGERPRINT: the SHA-256 (hex) of the server's \
                 TLS certificate, as its operator published it",
            )?;
            return Self::new(url, &pin, data_dir);
        }
        let cluster: Value = serde_json::from_str(
            &std::fs::read_to_string(data_dir.join("cluster.json")).with_context(|| {
                format!(
                    "no cluster in {} (run `custos up` or set CUSTOS_API_URL)",
                    data_dir.display()
                )
            })?,
        )?;
        let url = cluster
            .at("api_url")
            .as_str()
            .context("cluster.json has no api_url")?
            .to_owned();
        let pin = cluster
            .at("api_fingerprint")
            .as_str()
            .context("cluster.json has no api_fingerprint")?
            .to_owned();
        Self::new(url, &pin, data_dir)
    }

    fn new(url: String, pin: &str, data_dir: &Path) -> Result<Self> {
        if !url.starts_with("https://") {
            bail!("the API URL {url} is not https:// (the API speaks only TLS)");
        }
        let pin: custos_net::Fingerprint = pin
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("API fingerprint: {e}"))?;
        let tls = custos_net::api_client_config(pin)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(std::sync::Arc::new(tls))
            .build();
        Ok(Self {
            url,
            data_dir: data_dir.to_owned(),
            agent,
            reader: std::sync::OnceLock::new(),
        })
    }

    /// The data directory (where the pinned genesis is).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Reads signed with `key` (a command run as a user reads as them).
    pub fn read_as(self, key: &crate::userkey::UserKey) -> Self {
        let _ = self.reader.set(Ok(Reader::Key(Box::new(key.clone()))));
        self
    }

    /// The saved session, else the demo admin's key.
    fn reader(&self) -> Result<&Reader> {
        let found = self.reader.get_or_init(|| {
            if let Some(token) = saved_session(&self.data_dir) {
                return Ok(Reader::Session(token));
            }
            crate::userkey::locate(None, &self.data_dir)
                .map(|k| Reader::Key(Box::new(k)))
                .map_err(|e| {
                    format!(
                        "reads need a user: log in first (custos login --key FILE --code CODE); \
                         no demo admin key to read with: {e:#}"
                    )
                })
        });
        found.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// A read as the session's or the default key's user.
    fn read(&self, path: &str) -> Result<Value> {
        match self.reader()? {
            Reader::Session(token) => self.response(
                self.agent
                    .get(&format!("{}{path}", self.url))
                    .timeout(std::time::Duration::from_secs(60))
                    .set("x-custos-session", token)
                    .call(),
            ),
            Reader::Key(key) => self.signed_bytes(key, "GET", path, b""),
        }
    }

    /// The JSON body, or the server's error message.
    fn response(&self, res: Result<ureq::Response, ureq::Error>) -> Result<Value> {
        match res {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => {
                let msg = r
                    .into_json::<Value>()
                    .ok()
                    .and_then(|v| v.at("error").as_str().map(str::to_owned))
                    .unwrap_or_default();
                bail!("server refused ({code}): {msg}")
            }
            Err(e) => bail!("cannot reach the server at {}: {e}", self.url),
        }
    }

    pub fn wallets(&self) -> Result<Value> {
        self.read("/v1/wallets")
    }

    pub fn wallet(&self, id: &str) -> Result<Value> {
        self.read(&format!("/v1/wallets/{id}"))
    }

    /// Prints each node's progress in running sessions to stderr, as it
    /// changes, until `stop` is set (the first ECDSA wallet of a committee
    /// waits minutes for aux info).
    pub fn watch_progress(&self, stop: &std::sync::atomic::AtomicBool) {
        use std::collections::BTreeMap;
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(Value::Array(sessions)) = self.read("/v1/sessions/running") {
                for s in &sessions {
                    let kind = s.at("kind").as_str().unwrap_or_default();
                    for n in s.at("nodes").as_array().into_iter().flatten() {
                        let (Some(name), Some(note)) =
                            (n.at("name").as_str(), n.at("note").as_str())
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

    /// A read as the saved session's user, else the demo admin.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.read(path)
    }

    /// A read signed with `key` (commands that act as a user read as them).
    pub fn get_as(&self, key: &crate::userkey::UserKey, path: &str) -> Result<Value> {
        self.signed_bytes(key, "GET", path, b"")
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
        self.signed_bytes(key, method, path, &serde_json::to_vec(body)?)
    }

    fn signed_bytes(
        &self,
        key: &crate::userkey::UserKey,
        method: &str,
        path: &str,
        bytes: &[u8],
    ) -> Result<Value> {
        use rand::RngCore;
        use sha2::Digest;
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let timestamp = custos_net::clock::unix_now();
        let message = custos_governance::auth::RequestSignature {
            method,
            path,
            body_sha256: sha2::Sha256::digest(bytes).into(),
            timestamp,
            nonce: &nonce,
        }
        .message();
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.url))
            .timeout(std::time::Duration::from_secs(1200))
            .set("content-type", "application/json")
            .set("x-custos-user", &key.user)
            .set("x-custos-timestamp", &timestamp.to_string())
            .set("x-custos-nonce", &nonce)
            .set("x-custos-signature", &hex::encode(key.sign(&message)));
        self.response(req.send_bytes(bytes))
    }

    /// Ends the saved session at the server and deletes its file.
    pub fn logout(&self) -> Result<()> {
        let path = self.data_dir.join(SESSION_FILE);
        let Some(token) = saved_session(&self.data_dir) else {
            std::fs::remove_file(&path).ok();
            bail!("no live session saved in {}", self.data_dir.display());
        };
        let res = self
            .agent
            .delete(&format!("{}/v1/session", self.url))
            .timeout(std::time::Duration::from_secs(60))
            .set("x-custos-session", &token)
            .call();
        std::fs::remove_file(&path)?;
        match res {
            Ok(_) => Ok(()),
            Err(e) => self.response(Err(e)).map(drop),
        }
    }

    /// Public: which nodes are connected.
    pub fn health(&self) -> Result<Value> {
        self.response(
            self.agent
                .get(&format!("{}/v1/health", self.url))
                .timeout(std::time::Duration::from_secs(60))
                .call(),
        )
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
            w.at("id").as_str().unwrap_or("?"),
            w.at("scheme").as_str().unwrap_or("?"),
            w.at("public_key").as_str().unwrap_or("?")
        );
    }
}
