//! Who may call the API right now: the nonces of recent signed calls (each
//! accepted once), the live login sessions (looked up by token hash, so the
//! server keeps no usable token), and the key that seals users' TOTP
//! secrets in the store. Held by the API, not by the governance state.

use std::collections::HashMap;

use custos_governance::auth::NonceCache;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// The store's document kind for remembered API nonces.
pub(crate) const NONCE_KIND: &str = "api-nonce";

/// How long a session lasts.
pub const SESSION_SECS: i64 = 8 * 3600;

/// The API's access state.
pub struct Access {
    /// Request nonces seen recently (also remembered in the store, so a
    /// restart does not reopen the window for a replay).
    pub(crate) nonces: std::sync::Mutex<NonceCache>,
    /// When remembered nonces were last pruned from the store.
    pub(crate) pruned: std::sync::atomic::AtomicI64,
    /// Live sessions: token hash → (user, expiry in Unix seconds).
    sessions: Mutex<HashMap<[u8; 32], (String, i64)>>,
    /// Seals users' TOTP secrets in the store (see `totp_seal`).
    pub(crate) totp_key: Zeroizing<[u8; 32]>,
}

impl Access {
    /// Access state whose TOTP sealing key derives from the audit key's seed.
    pub fn new(audit_seed: &[u8; 32]) -> Self {
        Self {
            nonces: std::sync::Mutex::new(NonceCache::default()),
            pruned: std::sync::atomic::AtomicI64::new(0),
            sessions: Mutex::default(),
            totp_key: crate::totp_seal::key_from(audit_seed),
        }
    }

    /// Opens a session for `user` until `expires_at`.
    pub(crate) async fn open(&self, token_hash: [u8; 32], user: String, expires_at: i64) {
        self.sessions
            .lock()
            .await
            .insert(token_hash, (user, expires_at));
    }

    /// The user and expiry of the live session, dropping expired ones.
    pub(crate) async fn session(&self, token_hash: &[u8; 32], now: i64) -> Option<(String, i64)> {
        let mut sessions = self.sessions.lock().await;
        sessions.retain(|_, (_, exp)| *exp > now);
        sessions.get(token_hash).cloned()
    }

    /// Ends a session.
    pub(crate) async fn close(&self, token_hash: &[u8; 32]) {
        self.sessions.lock().await.remove(token_hash);
    }
}
