//! The one reading of the operating system's clock that the daemons and the
//! CLI share. The pure cores never call it: they take the time as an
//! argument, and their callers pass [`unix_now`].

/// Seconds since the Unix epoch (0 if the clock reads before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
