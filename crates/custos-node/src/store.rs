//! The node's own SQLite file: the vault header and sealed entries.
//!
//! Entries are insert-only: a second write of the same (kind, key, epoch) is
//! refused, so nothing stored is ever overwritten. Signed requests and the
//! values of the outpoints they spent are recorded before any signing. The
//! journal lists every job the node ran. Opening checks the
//! passphrase against the header before any entry is read.

use std::str::FromStr;

use rand_core::OsRng;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use zeroize::Zeroizing;

use custos_protocol::authz::StatedOutpoint;

use crate::vault::{EntryBinding, EntryKind, KdfParams, VaultError, VaultHeader, VaultKey};

/// Why the node store failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The vault refused (wrong passphrase, tampered entry, …).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// `create` on a store that already has a vault, or `open` on one without.
    #[error("{0}")]
    State(&'static str),
    /// The entry exists already (entries are never overwritten).
    #[error("vault entry {0} exists already; refusing to overwrite")]
    Exists(String),
    /// The database failed.
    #[error("node database: {0}")]
    Db(#[from] sqlx::Error),
    /// A request states another value for an outpoint than this node
    /// recorded when it first signed for it.
    #[error("outpoint {outpoint} was signed for with value {recorded} sats; this request states {stated}: refusing")]
    OutpointValue {
        /// `txid:vout`.
        outpoint: String,
        /// The value this node recorded.
        recorded: u64,
        /// The value this request states.
        stated: u64,
    },
    /// The transfer request was signed (or attempted) before.
    #[error("request {0} was signed before; refusing to sign it again")]
    RequestSigned(String),
    /// No such entry.
    #[error("{0} not found")]
    NotFound(String),
    /// Migrations failed.
    #[error("node database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An unlocked vault over the node's SQLite file.
pub struct NodeVault {
    pool: SqlitePool,
    key: VaultKey,
    node_id: String,
}

impl std::fmt::Debug for NodeVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeVault")
            .field("node_id", &self.node_id)
            .field("key", &self.key)
            .finish()
    }
}

async fn pool(path: &std::path::Path, migrate: bool) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // A claimed request must be on disk before its partial leaves.
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    if migrate {
        sqlx::migrate!("./migrations").run(&pool).await?;
    }
    Ok(pool)
}

impl NodeVault {
    /// Creates the vault in a new store at `path`, bound to `node_id`.
    pub async fn create(
        path: &std::path::Path,
        passphrase: &[u8],
        params: KdfParams,
        node_id: &str,
    ) -> Result<Self, StoreError> {
        let pool = pool(path, true).await?;
        let (key, header) = VaultKey::create(passphrase, params, &mut OsRng)?;
        sqlx::query("INSERT INTO vault_header (id, header) VALUES (1, $1)")
            .bind(header.to_bytes())
            .execute(&pool)
            .await
            .map_err(|_| StoreError::State("this node store already has a vault"))?;
        Ok(Self {
            pool,
            key,
            node_id: node_id.to_owned(),
        })
    }

    /// Opens the vault at `path`; a wrong passphrase fails here.
    pub async fn open(
        path: &std::path::Path,
        passphrase: &[u8],
        node_id: &str,
    ) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::State(
                "no node store at this path (run `custos node init`)",
            ));
        }
        // The passphrase is checked before anything (even a schema
        // migration) is written.
        let pool = pool(path, false).await?;
        let row = sqlx::query("SELECT header FROM vault_header WHERE id = 1")
            .fetch_optional(&pool)
            .await
            .map_err(|_| StoreError::State("this node store has no vault"))?;
        let header: Vec<u8> = row
            .ok_or(StoreError::State("this node store has no vault"))?
            .try_get("header")?;
        let key = VaultKey::unlock(passphrase, &VaultHeader::from_bytes(&header)?)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            key,
            node_id: node_id.to_owned(),
        })
    }

    fn binding(&self, kind: EntryKind, key_id: [u8; 32], epoch: u64) -> EntryBinding<'_> {
        EntryBinding {
            node_id: &self.node_id,
            kind,
            key_id,
            epoch,
        }
    }

    /// Seals and stores an entry; refuses to overwrite.
    pub async fn put(
        &self,
        kind: EntryKind,
        key_id: [u8; 32],
        epoch: u64,
        plaintext: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let sealed = self
            .key
            .seal(&self.binding(kind, key_id, epoch), plaintext, &mut OsRng)?;
        let epoch_i = i64::try_from(epoch).map_err(|_| StoreError::State("epoch out of range"))?;
        sqlx::query("INSERT INTO vault_entries (kind, key_id, epoch, sealed, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(kind as u8 as i64)
            .bind(hex::encode(key_id))
            .bind(epoch_i)
            .bind(sealed)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    StoreError::Exists(format!("{kind:?} {}", hex::encode(key_id)))
                }
                _ => StoreError::Db(e),
            })?;
        Ok(())
    }

    /// Opens an entry, if stored.
    pub async fn get(
        &self,
        kind: EntryKind,
        key_id: [u8; 32],
        epoch: u64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let epoch_i = i64::try_from(epoch).map_err(|_| StoreError::State("epoch out of range"))?;
        let row = sqlx::query(
            "SELECT sealed FROM vault_entries WHERE kind = $1 AND key_id = $2 AND epoch = $3",
        )
        .bind(kind as u8 as i64)
        .bind(hex::encode(key_id))
        .bind(epoch_i)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("sealed")?;
        Ok(Some(
            self.key.open(&self.binding(kind, key_id, epoch), &sealed)?,
        ))
    }

    /// Key ids stored for `kind`.
    pub async fn keys(&self, kind: EntryKind) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT key_id FROM vault_entries WHERE kind = $1 ORDER BY created_at")
                .bind(kind as u8 as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get("key_id").map_err(StoreError::Db))
            .collect()
    }

    /// Records that the request `request_id` is being signed, and the
    /// value of every wallet outpoint it states, in one transaction:
    /// refuses a request signed (or attempted) before, so a replayed request
    /// never gets a second signature from this node, and a request stating
    /// another value for an outpoint than this node recorded (a value proven
    /// by the previous transaction replaces one that was only stated).
    pub async fn claim_request(
        &self,
        request_id: [u8; 16],
        request_hash: [u8; 32],
        now: i64,
        key_id: &str,
        outpoints: &[StatedOutpoint],
    ) -> Result<(), StoreError> {
        let id = hex::encode(request_id);
        let mut tx = self.pool.begin().await?;
        for o in outpoints {
            let txid = hex::encode(o.txid);
            let value = i64::try_from(o.value).map_err(|_| StoreError::State("outpoint value"))?;
            let row = sqlx::query(
                "SELECT value, proven FROM outpoint_values WHERE key_id = $1 AND txid = $2 AND vout = $3",
            )
            .bind(key_id)
            .bind(&txid)
            .bind(i64::from(o.vout))
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => {
                    sqlx::query("INSERT INTO outpoint_values (key_id, txid, vout, value, proven, request_id) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(key_id)
                        .bind(&txid)
                        .bind(i64::from(o.vout))
                        .bind(value)
                        .bind(o.proven)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some(row) => {
                    let (recorded, proven): (i64, bool) =
                        (row.try_get("value")?, row.try_get("proven")?);
                    if recorded == value {
                        continue;
                    }
                    if o.proven && !proven {
                        sqlx::query("UPDATE outpoint_values SET value = $1, proven = 1, request_id = $2 WHERE key_id = $3 AND txid = $4 AND vout = $5")
                            .bind(value)
                            .bind(&id)
                            .bind(key_id)
                            .bind(&txid)
                            .bind(i64::from(o.vout))
                            .execute(&mut *tx)
                            .await?;
                        continue;
                    }
                    return Err(StoreError::OutpointValue {
                        outpoint: format!("{txid}:{}", o.vout),
                        recorded: u64::try_from(recorded).unwrap_or_default(),
                        stated: o.value,
                    });
                }
            }
        }
        sqlx::query(
            "INSERT INTO signed_requests (request_id, intent_hash, at) VALUES ($1, $2, $3)",
        )
        .bind(&id)
        .bind(hex::encode(request_hash))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::RequestSigned(id.clone())
            }
            _ => StoreError::Db(e),
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Journals a job before it runs (write-ahead: a job that cannot be
    /// journalled does not run); returns the entry's sequence number.
    pub async fn journal_begin(&self, entry: &JournalEntry) -> Result<i64, StoreError> {
        let row = sqlx::query("INSERT INTO journal (session, kind, key_id, detail, outcome, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq")
            .bind(&entry.session)
            .bind(&entry.kind)
            .bind(&entry.key_id)
            .bind(&entry.detail)
            .bind(&entry.outcome)
            .bind(entry.started_at)
            .bind(entry.ended_at)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Records the result of the job journalled as `seq` (once: only an
    /// entry still marked running is updated).
    pub async fn journal_end(&self, seq: i64, outcome: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE journal SET outcome = $1, ended_at = $2 WHERE seq = $3 AND outcome = $4",
        )
        .bind(outcome)
        .bind(now)
        .bind(seq)
        .bind(JOURNAL_RUNNING)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The journal, oldest first.
    pub async fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        read_journal_from(&self.pool).await
    }

    /// The stored governance chain: genesis, then proposals by height.
    pub async fn governance(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query("SELECT body FROM governance ORDER BY height")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<Vec<u8>, _>("body")?))
            .collect()
    }

    /// Appends a validated step (the genesis at 0); heights are never
    /// rewritten.
    pub async fn put_governance(&self, height: u64, body: &[u8]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO governance (height, body) VALUES ($1, $2)")
            .bind(i64::try_from(height).map_err(|_| StoreError::State("height"))?)
            .bind(body)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    StoreError::Exists(format!("governance height {height}"))
                }
                _ => StoreError::Db(e),
            })?;
        Ok(())
    }

    /// The witness state (postcard), if the node witnessed anything yet.
    pub async fn witness_state(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT body FROM witness_state WHERE id = 0")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("body")).transpose()?)
    }

    /// Stores a new witness state, the checkpoint co-signed `(size, root)`
    /// and its ledger rows in one transaction: `(seq, request_id, record
    /// JSON)`, witnessed at `now`.
    pub async fn put_witness(
        &self,
        state: &[u8],
        checkpoint: (u64, [u8; 32]),
        rows: &[(u64, String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO cosigned (size, root) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING",
        )
        .bind(i64::try_from(checkpoint.0).map_err(|_| StoreError::State("size"))?)
        .bind(checkpoint.1.as_slice())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO witness_state (id, body) VALUES (0, $1) ON CONFLICT (id) DO UPDATE SET body = excluded.body")
            .bind(state)
            .execute(&mut *tx)
            .await?;
        for (seq, request_id, record) in rows {
            sqlx::query("INSERT INTO ledger (seq, request_id, record, witnessed_at) VALUES ($1, $2, $3, $4)")
                .bind(i64::try_from(*seq).map_err(|_| StoreError::State("seq"))?)
                .bind(request_id)
                .bind(record)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The root of the checkpoint of `size` this node co-signed, if it did.
    pub async fn cosigned_root(&self, size: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let row = sqlx::query("SELECT root FROM cosigned WHERE size = $1")
            .bind(i64::try_from(size).map_err(|_| StoreError::State("size"))?)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let root: Vec<u8> = r.try_get("root")?;
            root.try_into().map_err(|_| StoreError::State("root"))
        })
        .transpose()
    }

    /// The ledger: `(seq, record JSON, witnessed_at)`, oldest first.
    pub async fn ledger(&self) -> Result<Vec<(u64, String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT seq, record, witnessed_at FROM ledger ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq")?;
                Ok((
                    u64::try_from(seq).unwrap_or_default(),
                    r.try_get("record")?,
                    r.try_get("witnessed_at")?,
                ))
            })
            .collect()
    }
}

/// Outcome of a journal entry whose job has not finished (or never did:
/// the node stopped mid-job).
pub const JOURNAL_RUNNING: &str = "\"running\"";

/// Reads the journal of the node store at `path` without the passphrase
/// (it holds nothing secret).
pub async fn read_journal(path: &std::path::Path) -> Result<Vec<JournalEntry>, StoreError> {
    if !path.exists() {
        return Err(StoreError::State("no node store at this path"));
    }
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))?.read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let entries = read_journal_from(&pool).await;
    pool.close().await;
    entries
}

async fn read_journal_from(pool: &SqlitePool) -> Result<Vec<JournalEntry>, StoreError> {
    let rows = sqlx::query("SELECT session, kind, key_id, detail, outcome, started_at, ended_at FROM journal ORDER BY seq")
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(JournalEntry {
                session: r.try_get("session")?,
                kind: r.try_get("kind")?,
                key_id: r.try_get("key_id")?,
                detail: r.try_get("detail")?,
                outcome: r.try_get("outcome")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
            })
        })
        .collect()
}

/// One job this node took part in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalEntry {
    /// Session id (hex).
    pub session: String,
    /// Job kind.
    pub kind: String,
    /// Key id (hex), when the job used or made a key.
    pub key_id: Option<String>,
    /// Parameters (JSON).
    pub detail: String,
    /// What the node reported (JSON).
    pub outcome: String,
    /// Start, Unix seconds.
    pub started_at: i64,
    /// End, Unix seconds.
    pub ended_at: i64,
}
