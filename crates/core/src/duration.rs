//! Durations as people write them in flags, tokens and alert rules (`30s`, `10m`, `6h`, `1d`).

use std::time::Duration;

/// A duration as `NUMBER UNIT` with unit `s`, `m`, `h` or `d` (`3s`, `10m`, `6h`, `1d`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid duration '{s}': expected a number and s, m, h or d"))?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("invalid duration '{s}': the unit is s, m, h or d")),
    };
    if seconds == 0 {
        return Err(format!("invalid duration '{s}': must be positive"));
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration as [`parse_duration`] reads it (`90s`, `10m`, `6h`, `1d`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    [(86_400, "d"), (3_600, "h"), (60, "m")]
        .iter()
        .find(|(unit, _)| s >= *unit && s.is_multiple_of(*unit))
        .map_or_else(
            || format!("{s}s"),
            |(unit, name)| format!("{}{name}", s / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_a_unit() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "3", "s", "0s", "-1h", "1.5h", "3 weeks"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}
