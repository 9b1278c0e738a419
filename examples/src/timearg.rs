//! Time arguments of the tools: RFC 3339 (`2024-01-14T00:00:00Z`) or Unix seconds with an
//! optional fraction (`1705190400.5`), as promtool and the Prometheus API accept.

/// Milliseconds since the epoch, or a message saying what was expected.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        if ms.is_finite() && ms.abs() < 9.0e18 {
            return Ok(ms as i64);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor Unix seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        assert_eq!(parse_time("1705190400.5"), Ok(1_705_190_400_500));
        assert_eq!(parse_time("2024-01-14T00:00:00Z"), Ok(1_705_190_400_000));
        assert!(parse_time("yesterday").is_err());
    }
}
