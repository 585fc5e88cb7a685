//! The vault on disk: reload with the passphrase; a wrong passphrase or a
//! flipped byte anywhere in the file is a clear error, and the file is left
//! untouched.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use custos_node::store::{NodeVault, StoreError};
use custos_node::vault::{EntryKind, KdfParams, VaultError};
use custos_protocol::authz::StatedOutpoint;

const FAST: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    passes: 1,
    lanes: 1,
};
const PASS: &[u8] = b"node operator passphrase";
const SECRET: &[u8] = b"pretend this is a key share of 32+ bytes";

/// A fresh directory for one test, removed when the test ends.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn temp(name: &str) -> (TempDir, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("custos-node-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("node.db");
    (TempDir(dir), db)
}

async fn checkpoint(path: &std::path::Path) {
    // Fold the WAL into the main file so the test can edit bytes on disk.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn reload_wrong_passphrase_and_no_overwrite() {
    let (_dir, path) = temp("reload");
    {
        let vault = NodeVault::create(&path, PASS, FAST, "node-a")
            .await
            .unwrap();
        vault
            .put(EntryKind::KeyShare, [1; 32], 0, SECRET, 10)
            .await
            .unwrap();
        assert!(matches!(
            vault
                .put(EntryKind::KeyShare, [1; 32], 0, b"other", 11)
                .await,
            Err(StoreError::Exists(_))
        ));
    }
    assert!(matches!(
        NodeVault::create(&path, PASS, FAST, "node-a").await,
        Err(StoreError::State(_))
    ));
    let vault = NodeVault::open(&path, PASS, "node-a").await.unwrap();
    assert_eq!(
        vault
            .get(EntryKind::KeyShare, [1; 32], 0)
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        SECRET
    );
    assert_eq!(
        vault.get(EntryKind::KeyShare, [2; 32], 0).await.unwrap(),
        None
    );
    assert!(matches!(
        NodeVault::open(&path, b"not the passphrase!", "node-a").await,
        Err(StoreError::Vault(VaultError::WrongPassphrase))
    ));
    // Bound to the node: another node id cannot open the entries.
    let other = NodeVault::open(&path, PASS, "node-b").await.unwrap();
    assert!(matches!(
        other.get(EntryKind::KeyShare, [1; 32], 0).await,
        Err(StoreError::Vault(VaultError::EntryTampered(_)))
    ));
}

#[tokio::test]
async fn secrets_never_reach_the_file_in_clear() {
    let (_dir, path) = temp("clear");
    let vault = NodeVault::create(&path, PASS, FAST, "node-a")
        .await
        .unwrap();
    vault
        .put(EntryKind::KeyShare, [1; 32], 0, SECRET, 10)
        .await
        .unwrap();
    drop(vault);
    checkpoint(&path).await;
    for entry in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET));
    }
}

#[tokio::test]
async fn flipped_byte_in_a_sealed_entry_is_refused_and_file_untouched() {
    let (_dir, path) = temp("flip");
    let vault = NodeVault::create(&path, PASS, FAST, "node-a")
        .await
        .unwrap();
    vault
        .put(EntryKind::KeyShare, [1; 32], 0, SECRET, 10)
        .await
        .unwrap();
    drop(vault);
    checkpoint(&path).await;
    // Flip one byte of the sealed blob in place, in the database file.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM vault_entries")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut file = std::fs::read(&path).unwrap();
    let at = file
        .windows(sealed.len())
        .position(|w| w == sealed.as_slice())
        .expect("sealed blob in file");
    file[at + sealed.len() - 5] ^= 0x20;
    std::fs::write(&path, &file).unwrap();
    let before = std::fs::read(&path).unwrap();

    let vault = NodeVault::open(&path, PASS, "node-a").await.unwrap();
    let err = vault
        .get(EntryKind::KeyShare, [1; 32], 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Vault(VaultError::EntryTampered(_))),
        "{err}"
    );
    assert!(err.to_string().contains("fails authentication"));
    drop(vault);
    checkpoint(&path).await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a refused entry must leave the file as it was"
    );
}

fn outpoint(vout: u32, value: u64, proven: bool) -> StatedOutpoint {
    StatedOutpoint {
        txid: [5; 32],
        vout,
        value,
        proven,
    }
}

#[tokio::test]
async fn an_outpoint_is_signed_for_under_one_value_also_after_restart() {
    let (_dir, path) = temp("outpoints");
    {
        let vault = NodeVault::create(&path, PASS, FAST, "node-a")
            .await
            .unwrap();
        // First request states 1000 sats for 5..:0 and 2000 for 5..:1.
        vault
            .claim_request(
                [1; 16],
                [1; 32],
                1,
                "k1",
                &[outpoint(0, 1000, false), outpoint(1, 2000, false)],
            )
            .await
            .unwrap();
        // A second request with the same value for 5..:0 is fine.
        vault
            .claim_request([2; 16], [2; 32], 2, "k1", &[outpoint(0, 1000, false)])
            .await
            .unwrap();
        // One stating another value is refused, and claims nothing: its id
        // stays free and 5..:2 unrecorded.
        let err = vault
            .claim_request(
                [3; 16],
                [3; 32],
                3,
                "k1",
                &[outpoint(2, 7, false), outpoint(1, 1999, false)],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::OutpointValue {
                    recorded: 2000,
                    stated: 1999,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("05050505"), "{err}");
        vault
            .claim_request([3; 16], [3; 32], 4, "k1", &[outpoint(2, 8, false)])
            .await
            .unwrap();
        // The same request id again: refused.
        assert!(matches!(
            vault.claim_request([3; 16], [3; 32], 5, "k1", &[]).await,
            Err(StoreError::RequestSigned(_))
        ));
    }
    let vault = NodeVault::open(&path, PASS, "node-a").await.unwrap();
    assert!(matches!(
        vault
            .claim_request([4; 16], [4; 32], 6, "k1", &[outpoint(0, 999, false)])
            .await,
        Err(StoreError::OutpointValue { recorded: 1000, .. })
    ));
    // Another key's outpoint of the same txid:vout is another record.
    vault
        .claim_request([7; 16], [7; 32], 7, "k2", &[outpoint(0, 5, false)])
        .await
        .unwrap();
    // A value proven by the previous transaction replaces a stated one;
    // after that only the proven value is accepted.
    vault
        .claim_request([5; 16], [5; 32], 7, "k1", &[outpoint(0, 1500, true)])
        .await
        .unwrap();
    assert!(matches!(
        vault
            .claim_request([6; 16], [6; 32], 8, "k1", &[outpoint(0, 1000, false)])
            .await,
        Err(StoreError::OutpointValue { recorded: 1500, .. })
    ));
}
