//! The SQL behind [`Store`], instantiated once per engine by `store_impl!`.

use std::str::FromStr;

use async_trait::async_trait;
use custos_tss::Scheme;
use sqlx::Row;

use super::{
    CommitteeRecord, NodeRecord, SessionKind, SessionRecord, State, Store, StoreError, WalletRecord,
};

/// Maps unique and foreign-key violations to `Conflict`.
fn conflict(what: &'static str, id: &str, err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict {
                what,
                id: id.to_owned(),
                reason: "already exists",
            };
        }
        if db.is_foreign_key_violation() {
            return StoreError::Conflict {
                what,
                id: id.to_owned(),
                reason: "refers to a record that does not exist",
            };
        }
    }
    StoreError::Backend(err)
}

fn json<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

macro_rules! store_impl {
    ($name:ident, $db:ty, $migrations:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: sqlx::Pool<$db>,
        }

        impl $name {
            /// Wraps an open pool and applies pending migrations.
            pub async fn from_pool(pool: sqlx::Pool<$db>) -> Result<Self, StoreError> {
                sqlx::migrate!($migrations).run(&pool).await?;
                Ok(Self { pool })
            }

            fn wallet_row(row: &<$db as sqlx::Database>::Row) -> Result<WalletRecord, StoreError> {
                let scheme: String = row.try_get("scheme")?;
                let attestations: String = row.try_get("attestations")?;
                Ok(WalletRecord {
                    id: row.try_get("id")?,
                    scheme: Scheme::from_str(&scheme)
                        .map_err(|_| StoreError::Corrupt { what: "wallet scheme", detail: scheme.clone() })?,
                    committee_id: row.try_get("committee_id")?,
                    key_id: row.try_get("key_id")?,
                    public_key: row.try_get("public_key")?,
                    root_key: row.try_get("root_key")?,
                    chain_code: row.try_get("chain_code")?,
                    blind: row.try_get::<i64, _>("blind")? != 0,
                    epoch: u32::try_from(row.try_get::<i64, _>("epoch")?)
                        .map_err(|_| StoreError::Corrupt { what: "wallet epoch", detail: String::new() })?,
                    attestations: serde_json::from_str(&attestations)
                        .map_err(|e| StoreError::Corrupt { what: "wallet attestations", detail: e.to_string() })?,
                    created_at: row.try_get("created_at")?,
                })
            }

            /// `Conflict` if the row exists (in another state), else `NotFound`.
            async fn missing_or_conflict(&self, table: &'static str, id: &str, reason: &'static str) -> StoreError {
                let sql = format!("SELECT 1 AS one FROM {table} WHERE id = $1");
                match sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await {
                    Ok(Some(_)) => StoreError::Conflict { what: table, id: id.to_owned(), reason },
                    Ok(None) => StoreError::NotFound { what: table, id: id.to_owned() },
                    Err(e) => StoreError::Backend(e),
                }
            }
        }

        #[async_trait]
        impl Store for $name {
            async fn insert_node(&self, n: &NodeRecord) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO nodes (id, name, tls_fingerprint, enrolled_at) VALUES ($1, $2, $3, $4)")
                    .bind(&n.id)
                    .bind(&n.name)
                    .bind(&n.tls_fingerprint)
                    .bind(n.enrolled_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| conflict("node", &n.id, e))?;
                Ok(())
            }

            async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
                let rows = sqlx::query("SELECT id, name, tls_fingerprint, enrolled_at FROM nodes ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(NodeRecord {
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            tls_fingerprint: r.try_get("tls_fingerprint")?,
                            enrolled_at: r.try_get("enrolled_at")?,
                        })
                    })
                    .collect()
            }

            async fn insert_committee(&self, c: &CommitteeRecord) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO committees (id, threshold, nodes, aux_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&c.id)
                    .bind(i32::from(c.threshold))
                    .bind(to_json(&c.nodes))
                    .bind(&c.aux_id)
                    .bind(c.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| conflict("committee", &c.id, e))?;
                Ok(())
            }

            async fn committee(&self, id: &str) -> Result<Option<CommitteeRecord>, StoreError> {
                let row = sqlx::query("SELECT id, threshold, nodes, aux_id, created_at FROM committees WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let threshold: i32 = r.try_get("threshold")?;
                let nodes: String = r.try_get("nodes")?;
                Ok(Some(CommitteeRecord {
                    id: r.try_get("id")?,
                    threshold: u16::try_from(threshold)
                        .map_err(|_| StoreError::Corrupt { what: "committee threshold", detail: threshold.to_string() })?,
                    nodes: json("committee nodes", &nodes)?,
                    aux_id: r.try_get("aux_id")?,
                    created_at: r.try_get("created_at")?,
                }))
            }

            async fn set_committee_aux(&self, id: &str, aux_id: &str) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE committees SET aux_id = $1 WHERE id = $2 AND aux_id IS NULL")
                    .bind(aux_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(self.missing_or_conflict("committees", id, "aux info already set").await)
                }
            }

            async fn insert_wallet(&self, w: &WalletRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO wallets (id, scheme, committee_id, key_id, public_key, root_key, chain_code, \
                     blind, epoch, attestations, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&w.id)
                .bind(w.scheme.as_str())
                .bind(&w.committee_id)
                .bind(&w.key_id)
                .bind(&w.public_key)
                .bind(&w.root_key)
                .bind(&w.chain_code)
                .bind(i64::from(w.blind))
                .bind(i64::from(w.epoch))
                .bind(serde_json::to_string(&w.attestations).unwrap_or_else(|_| "[]".into()))
                .bind(w.created_at)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict("wallet", &w.id, e))?;
                Ok(())
            }

            async fn wallet(&self, id: &str) -> Result<Option<WalletRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM wallets WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::wallet_row).transpose()
            }

            async fn wallets(&self) -> Result<Vec<WalletRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM wallets ORDER BY created_at, id").fetch_all(&self.pool).await?;
                rows.iter().map(Self::wallet_row).collect()
            }

            async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (id, kind, committee_id, wallet_id, parties, state, error, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&s.id)
                .bind(s.kind.as_str())
                .bind(&s.committee_id)
                .bind(&s.wallet_id)
                .bind(to_json(&s.parties))
                .bind(s.state.as_str())
                .bind(&s.error)
                .bind(s.created_at)
                .bind(s.updated_at)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict("session", &s.id, e))?;
                Ok(())
            }

            async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                let Some(r) = row else { return Ok(None) };
                let (kind, state, parties): (String, String, String) =
                    (r.try_get("kind")?, r.try_get("state")?, r.try_get("parties")?);
                Ok(Some(SessionRecord {
                    id: r.try_get("id")?,
                    kind: SessionKind::parse(&kind)?,
                    committee_id: r.try_get("committee_id")?,
                    wallet_id: r.try_get("wallet_id")?,
                    parties: json("session parties", &parties)?,
                    state: State::parse(&state)?,
                    error: r.try_get("error")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                }))
            }

            async fn finish_session(&self, id: &str, state: State, error: Option<&str>, now: i64) -> Result<(), StoreError> {
                if state == State::Running {
                    return Err(StoreError::Conflict { what: "sessions", id: id.to_owned(), reason: "cannot finish as running" });
                }
                let done = sqlx::query(
                    "UPDATE sessions SET state = $1, error = $2, updated_at = $3 WHERE id = $4 AND state = 'running'",
                )
                .bind(state.as_str())
                .bind(error)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(self.missing_or_conflict("sessions", id, "not running").await)
                }
            }

            async fn audit_append(&self, seq: u64, body: &[u8]) -> Result<(), StoreError> {
                let seq_i = i64::try_from(seq).map_err(|_| StoreError::Corrupt { what: "audit seq", detail: seq.to_string() })?;
                sqlx::query("INSERT INTO audit_entries (seq, body) VALUES ($1, $2)")
                    .bind(seq_i)
                    .bind(body)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| conflict("audit entry", &seq.to_string(), e))?;
                Ok(())
            }

            async fn audit_entries(&self, from: u64, limit: u64) -> Result<Vec<Vec<u8>>, StoreError> {
                let rows = sqlx::query("SELECT body FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2")
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("body")?)).collect()
            }

            async fn doc_insert(&self, kind: &str, id: &str, body: &[u8], now: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO documents (kind, id, body, updated_at) VALUES ($1, $2, $3, $4)")
                    .bind(kind)
                    .bind(id)
                    .bind(body)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| conflict("document", &format!("{kind}/{id}"), e))?;
                Ok(())
            }

            async fn doc_replace(&self, kind: &str, id: &str, old: &[u8], body: &[u8], now: i64) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE documents SET body = $1, updated_at = $2 WHERE kind = $3 AND id = $4 AND body = $5")
                    .bind(body)
                    .bind(now)
                    .bind(kind)
                    .bind(id)
                    .bind(old)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict { what: "document", id: format!("{kind}/{id}"), reason: "changed concurrently" });
                }
                Ok(())
            }

            async fn doc_get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
                let row = sqlx::query("SELECT body FROM documents WHERE kind = $1 AND id = $2")
                    .bind(kind)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get("body")).transpose()?)
            }

            async fn doc_list(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                let rows = sqlx::query("SELECT id, body FROM documents WHERE kind = $1 ORDER BY id")
                    .bind(kind)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("body")?))).collect()
            }

            async fn doc_prune(&self, kind: &str, before: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM documents WHERE kind = $1 AND updated_at < $2")
                    .bind(kind)
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

store_impl!(
    SqliteStore,
    sqlx::Sqlite,
    "./migrations/sqlite",
    "The embedded default: one SQLite file (WAL mode)."
);
store_impl!(
    PostgresStore,
    sqlx::Postgres,
    "./migrations/postgres",
    "PostgreSQL, for deployments beyond one machine."
);

impl SqliteStore {
    /// Opens (creating if missing) the SQLite database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal);
        // An in-memory database exists per connection: keep exactly one.
        let max = if url.contains(":memory:") { 1 } else { 4 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }
}

impl PostgresStore {
    /// Connects to the PostgreSQL database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }
}
