//! # custos-server
//!
//! The coordinator: REST API, DKG and signing workflow, relay of sealed
//! node-to-node frames, and the store (SQLite by default, PostgreSQL for
//! larger deployments). It is trusted with nothing secret: shares live only
//! in nodes, node traffic is sealed end to end, and nodes pin the committee.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
#![warn(missing_docs)]

pub mod api;
mod api_authz;
pub mod api_chains;
mod api_read;
mod api_session;
pub mod approvals;
pub mod authority;
pub mod config;
pub mod daemon;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod hub;
pub mod store;
pub mod totp_seal;
pub mod transfers;
pub mod workflow;

/// The authorisation fault of a test build (the server then skips some of
/// its own checks, leaving them to the nodes). Always `None` in product
/// builds.
pub(crate) fn fault() -> Option<String> {
    #[cfg(feature = "fault-injection")]
    {
        fault::auth_fault()
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

/// Whether any authorisation fault is active.
pub(crate) fn fault_active() -> bool {
    fault().is_some()
}

/// Whether the active fault is `name`.
pub(crate) fn fault_is(name: &str) -> bool {
    fault().as_deref() == Some(name)
}
