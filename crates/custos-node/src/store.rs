//! The node's own SQLite file: the vault header and sealed entries.
//!
//! Entries are insert-only: a second write of the same (kind, key, epoch) is
//! refused, so nothing stored is ever overwritten. Opening checks the
//! passphrase against the header before any entry is read.

use std::str::FromStr;

use rand_core::OsRng;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use zeroize::Zeroizing;

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

async fn pool(path: &std::path::Path) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
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
        let pool = pool(path).await?;
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
        let pool = pool(path).await?;
        let row = sqlx::query("SELECT header FROM vault_header WHERE id = 1")
            .fetch_optional(&pool)
            .await?;
        let header: Vec<u8> = row
            .ok_or(StoreError::State("this node store has no vault"))?
            .try_get("header")?;
        let key = VaultKey::unlock(passphrase, &VaultHeader::from_bytes(&header)?)?;
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
}
