//! The wall clock, for what people read and what outlives the process: checkpoint times, crash
//! times, report stamps. The engine's own timing never uses it (see `probe::clock`).

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `HH:MM:SS UTC` of a wall-clock time, for notices.
pub fn text(wall_time_s: u64) -> String {
    let s = wall_time_s % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_reads_as_hours_minutes_and_seconds_utc() {
        assert_eq!(super::text(1_700_000_000), "22:13:20 UTC");
        assert_eq!(super::text(0), "00:00:00 UTC");
    }
}
