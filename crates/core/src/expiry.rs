//! Times on the wire: RFC 3339 text in files and reports, `OffsetDateTime` in memory, read by one
//! set of rules.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// Writes a time as RFC 3339 (`2026-12-07T05:07:36.5Z`), as every file and report does.
pub fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        // Only a year outside 0..=9999 cannot be written; say it as `time` does.
        .unwrap_or_else(|_| t.to_string())
}

/// Parses an RFC 3339 time. Calico's own example writes a one-digit hour
/// (`2022-01-02T0:00:00Z`), which Go accepts, so that form is accepted too.
pub fn parse_time(t: &str) -> Option<OffsetDateTime> {
    let t = t.trim();
    if let Ok(v) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(v);
    }
    let (date, rest) = t.split_once(['T', 't'])?;
    if rest.as_bytes().get(1) == Some(&b':') {
        return OffsetDateTime::parse(&format!("{date}T0{rest}"), &Rfc3339).ok();
    }
    None
}

/// When an exception stops applying, as its `expires` field says. On the wire it is the text
/// it was read from, normalised: a date stays `YYYY-MM-DD`, a time is written as RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Expiry {
    /// From this moment on.
    At(OffsetDateTime),
    /// After the end of this day (UTC): "expires 2025-06-30" still holds on June 30.
    EndOf(Date),
}

impl Expiry {
    /// Reads an RFC 3339 time (see [`parse_time`]) or a `YYYY-MM-DD` date.
    pub fn parse(s: &str) -> Result<Expiry, String> {
        let s = s.trim();
        if let Some(t) = parse_time(s) {
            return Ok(Expiry::At(t));
        }
        Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Expiry::EndOf)
            .map_err(|_| format!("expiry '{s}' is neither an RFC 3339 time nor a YYYY-MM-DD date"))
    }

    /// True once the expiry has passed at `now`.
    pub fn passed(self, now: OffsetDateTime) -> bool {
        match self {
            Expiry::At(t) => now >= t,
            Expiry::EndOf(d) => now.to_offset(UtcOffset::UTC).date() > d,
        }
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiry::At(t) => f.write_str(&format_time(*t)),
            Expiry::EndOf(d) => write!(
                f,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ),
        }
    }
}

impl TryFrom<String> for Expiry {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Expiry::parse(&s)
    }
}

impl From<Expiry> for String {
    fn from(e: Expiry) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_and_dates() {
        assert!(parse_time("2022-01-02T00:00:00Z").is_some());
        assert_eq!(
            parse_time("2022-01-02T0:00:00Z"),
            parse_time("2022-01-02T00:00:00Z")
        );
        assert!(parse_time("2022-01-02").is_none());
        assert!(parse_time("yesterday").is_none());
        let day = Expiry::parse("2025-06-30").expect("date");
        assert!(!day.passed(datetime!(2025-06-30 23:59 UTC)));
        assert!(day.passed(datetime!(2025-07-01 00:00 UTC)));
        let at = Expiry::parse("2025-06-30T0:00:00Z").expect("Calico's one-digit hour");
        assert!(at.passed(datetime!(2025-06-30 00:00 UTC)));
        assert!(Expiry::parse("soon").unwrap_err().contains("'soon'"));
    }

    #[test]
    fn expiries_on_the_wire() {
        for (written, normalised) in [
            ("2025-06-30", "2025-06-30"),
            ("2025-06-30T00:00:00Z", "2025-06-30T00:00:00Z"),
            ("2025-06-30T0:00:00Z", "2025-06-30T00:00:00Z"),
            ("2025-06-30T10:00:00.5+02:00", "2025-06-30T10:00:00.5+02:00"),
        ] {
            let e: Expiry = serde_json::from_str(&format!("{written:?}")).expect(written);
            assert_eq!(e.to_string(), normalised);
            assert_eq!(
                serde_json::to_string(&e).expect("json"),
                format!("{normalised:?}")
            );
        }
        let err = serde_json::from_str::<Expiry>("\"soon\"").unwrap_err();
        assert!(err.to_string().contains("'soon'"), "{err}");
    }
}
