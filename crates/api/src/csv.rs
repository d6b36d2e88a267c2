//! CSV exports, safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@` (or a
//! tab or carriage return) is prefixed with `'`, so it is never read as a formula.

use std::fmt::Write as _;

use crate::routes::ImageRow;

/// One cell: neutralised, then quoted when it holds a separator, quote or line break.
pub(crate) fn cell(value: &str) -> String {
    let v = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    let _ = writeln!(out, "{}", line.join(","));
}

/// The images list as CSV, one row per image.
pub(crate) fn images(rows: &[ImageRow]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "registry",
            "repository",
            "digest",
            "tags",
            "status",
            "sources",
            "first_seen",
            "last_seen",
        ],
    );
    for r in rows {
        row(
            &mut out,
            &[
                &r.registry,
                &r.repository,
                &r.digest,
                &r.tags.join(" "),
                r.status.as_deref().unwrap_or(""),
                &r.sources.join(" "),
                &r.first_seen,
                &r.last_seen,
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_separators_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("1.2-3"), "1.2-3", "only the first character counts");
    }
}
