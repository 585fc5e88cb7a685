//! One store suite, run against SQLite and PostgreSQL.
//!
//! PostgreSQL: set `CUSTOS_TEST_POSTGRES_URL` to a role that may create
//! databases (`.ci/postgres.sh` prints one); each run gets a fresh database.
//! Under CI (`CI` set) a missing URL fails the test instead of skipping it.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use custos_server::store::{
    self, CommitteeRecord, NodeRecord, SessionKind, SessionRecord, State, Store, StoreError,
    WalletRecord,
};
use custos_tss::Scheme;

fn node(i: u8) -> NodeRecord {
    NodeRecord {
        id: format!("{i:02x}").repeat(32),
        name: format!("node-{i}"),
        tls_fingerprint: "ab".repeat(32),
        enrolled_at: 100 + i64::from(i),
    }
}

fn committee() -> CommitteeRecord {
    CommitteeRecord {
        id: "c1".into(),
        threshold: 2,
        nodes: (0..3).map(|i| node(i).id).collect(),
        aux_id: None,
        created_at: 200,
    }
}

fn wallet(id: &str, key: &str, at: i64) -> WalletRecord {
    WalletRecord {
        id: id.into(),
        scheme: Scheme::SchnorrBip340,
        committee_id: "c1".into(),
        key_id: key.into(),
        public_key: "02".repeat(16),
        root_key: "03".repeat(33),
        chain_code: Some("cc".repeat(32)),
        blind: true,
        epoch: 3,
        attestations: vec![custos_protocol::attest::Attestation {
            witness_key: [5; 32],
            signature: vec![6; 64],
        }],
        created_at: at,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict { .. }))
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

async fn suite(s: &dyn Store) {
    // Nodes: unique id and name, listed by name.
    for i in [2, 0, 1] {
        s.insert_node(&node(i)).await.unwrap();
    }
    assert!(is_conflict(s.insert_node(&node(1)).await));
    assert!(
        is_conflict(
            s.insert_node(&NodeRecord {
                id: "ff".repeat(32),
                ..node(1)
            })
            .await
        ),
        "duplicate name"
    );
    let names: Vec<_> = s
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["node-0", "node-1", "node-2"]);

    // Committees: aux id set once.
    s.insert_committee(&committee()).await.unwrap();
    assert!(is_conflict(s.insert_committee(&committee()).await));
    assert_eq!(s.committee("c1").await.unwrap().unwrap(), committee());
    assert_eq!(s.committee("nope").await.unwrap(), None);
    s.set_committee_aux("c1", "aux-1").await.unwrap();
    assert!(is_conflict(s.set_committee_aux("c1", "aux-2").await));
    assert!(is_not_found(s.set_committee_aux("nope", "aux-2").await));
    assert_eq!(
        s.committee("c1").await.unwrap().unwrap().aux_id.as_deref(),
        Some("aux-1")
    );

    // Wallets: unique id and key id, committee must exist, listed oldest first.
    s.insert_wallet(&wallet("w2", "k2", 301)).await.unwrap();
    s.insert_wallet(&wallet("w1", "k1", 300)).await.unwrap();
    assert!(
        is_conflict(s.insert_wallet(&wallet("w3", "k1", 302)).await),
        "duplicate key id"
    );
    assert!(is_conflict(
        s.insert_wallet(&WalletRecord {
            committee_id: "nope".into(),
            ..wallet("w4", "k4", 303)
        })
        .await
    ));
    let ids: Vec<_> = s
        .wallets()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(ids, ["w1", "w2"]);
    assert_eq!(
        s.wallet("w1").await.unwrap().unwrap(),
        wallet("w1", "k1", 300)
    );
    assert_eq!(s.wallet("nope").await.unwrap(), None);

    // Sessions: running → done or failed, once.
    let session = SessionRecord {
        id: "s1".into(),
        kind: SessionKind::Sign,
        committee_id: "c1".into(),
        wallet_id: Some("w1".into()),
        parties: vec![0, 2],
        state: State::Running,
        error: None,
        created_at: 400,
        updated_at: 400,
    };
    s.insert_session(&session).await.unwrap();
    assert!(is_conflict(s.insert_session(&session).await));
    assert!(is_conflict(
        s.finish_session("s1", State::Running, None, 401).await
    ));
    s.finish_session("s1", State::Failed, Some("party 1 timed out"), 401)
        .await
        .unwrap();
    assert!(is_conflict(
        s.finish_session("s1", State::Done, None, 402).await
    ));
    assert!(is_not_found(
        s.finish_session("nope", State::Done, None, 402).await
    ));
    let got = s.session("s1").await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.error.as_deref(), got.updated_at, got.parties),
        (State::Failed, Some("party 1 timed out"), 401, vec![0, 2])
    );
}

#[tokio::test]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("custos-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("server.db").display());
    suite(store::connect(&url).await.unwrap().as_ref()).await;
    // Reopening applies no migration twice and keeps the data.
    let again = store::connect(&url).await.unwrap();
    assert_eq!(again.wallets().await.unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sqlite_in_memory_store() {
    suite(store::connect("sqlite::memory:").await.unwrap().as_ref()).await;
}

#[tokio::test]
async fn postgres_store() {
    let Ok(admin_url) = std::env::var("CUSTOS_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the store suite on PostgreSQL: set CUSTOS_TEST_POSTGRES_URL"
        );
        eprintln!(
            "postgres_store: CUSTOS_TEST_POSTGRES_URL not set, skipped (see .ci/postgres.sh)"
        );
        return;
    };
    use sqlx::Executor;
    let db = format!(
        "custos_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => panic!("URL without database: {admin_url}"),
    };
    {
        let store = store::connect(&url).await.unwrap();
        suite(store.as_ref()).await;
        let again = store::connect(&url).await.unwrap();
        assert_eq!(again.wallets().await.unwrap().len(), 2);
    }
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    assert!(matches!(
        store::connect("mysql://x").await,
        Err(StoreError::Url)
    ));
}
