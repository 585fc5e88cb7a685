//! Whether this build plays a lying server (feature `fault-injection`, for
//! the cluster test only): the server then skips some of its own checks,
//! leaving them to the nodes. Always off in product builds.

/// The authorisation fault of a test build; always `None` in product builds.
pub(crate) fn fault() -> Option<String> {
    #[cfg(feature = "fault-injection")]
    {
        crate::fault::auth_fault()
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
