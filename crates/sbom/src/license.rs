//! Sorting declared licenses into SPDX identifiers, SPDX expressions and free text.
//!
//! Packages declare licenses in whatever words their metadata uses ("MIT", "GPL-2+",
//! "BSD License", "MIT OR Apache-2.0"). Both SBOM formats reject a string passed off as an
//! SPDX identifier or expression when it is not one, so each string is classified first and
//! free text goes where free text is allowed (CycloneDX `license.name`, SPDX `LicenseRef-`).
//! The identifier list is the commonly used subset of the SPDX license list: an identifier
//! missing from it is still kept, only as free text, which is never invalid.

/// SPDX license identifiers that are recognised as such (current, non-deprecated ones).
const LICENSE_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "APSL-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "Beerware",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-2-Clause-Patent",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSD-4-Clause",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "FTL",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "ICU",
    "IJG",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libtiff",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "MS-PL",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Sleepycat",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// SPDX license exceptions recognised after `WITH`.
const EXCEPTION_IDS: &[&str] = &[
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "LLVM-exception",
    "OpenJDK-assembly-exception-1.0",
    "openvpn-openssl-exception",
];

/// What a declared license string is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum License {
    /// A single known SPDX license identifier, spelled canonically.
    Id(String),
    /// A valid SPDX expression of known identifiers with AND / OR / WITH or `LicenseRef-`s.
    Expression(String),
    /// Anything else: kept as free text.
    Text(String),
}

/// Classifies one declared license string.
pub(crate) fn classify(s: &str) -> License {
    let s = s.trim();
    if let Some(id) = known_id(s) {
        return License::Id(id.to_string());
    }
    match canonical_expression(s) {
        Some(expr) => License::Expression(expr),
        None => License::Text(s.to_string()),
    }
}

/// The canonical spelling of a known identifier; SPDX ids match case-insensitively.
fn known_id(s: &str) -> Option<&'static str> {
    LICENSE_IDS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(s))
}

fn known_exception(s: &str) -> Option<&'static str> {
    EXCEPTION_IDS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(s))
}

/// True for `LicenseRef-[idstring]` as SPDX defines it.
pub(crate) fn is_license_ref(s: &str) -> bool {
    s.strip_prefix("LicenseRef-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

fn tokenize(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !word.is_empty() {
                out.push(Token::Word(std::mem::take(&mut word)));
            }
            match c {
                '(' => out.push(Token::Open),
                ')' => out.push(Token::Close),
                _ => {}
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(Token::Word(word));
    }
    out
}

/// Checks `s` against the SPDX expression grammar (only known identifiers, `LicenseRef-`s,
/// `+`, `WITH` known exceptions, `AND`, `OR`, parentheses) and returns it with canonical
/// spellings, or `None` when it is not a valid expression.
fn canonical_expression(s: &str) -> Option<String> {
    let tokens = tokenize(s);
    let mut pos = 0;
    let out = parse_or(&tokens, &mut pos)?;
    (pos == tokens.len()).then_some(out)
}

fn parse_or(t: &[Token], pos: &mut usize) -> Option<String> {
    let mut out = parse_and(t, pos)?;
    while matches!(t.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("OR")) {
        *pos += 1;
        out = format!("{out} OR {}", parse_and(t, pos)?);
    }
    Some(out)
}

fn parse_and(t: &[Token], pos: &mut usize) -> Option<String> {
    let mut out = parse_with(t, pos)?;
    while matches!(t.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("AND")) {
        *pos += 1;
        out = format!("{out} AND {}", parse_with(t, pos)?);
    }
    Some(out)
}

fn parse_with(t: &[Token], pos: &mut usize) -> Option<String> {
    let out = parse_atom(t, pos)?;
    if matches!(t.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("WITH")) {
        *pos += 1;
        let Some(Token::Word(exc)) = t.get(*pos) else {
            return None;
        };
        *pos += 1;
        return Some(format!("{out} WITH {}", known_exception(exc)?));
    }
    Some(out)
}

fn parse_atom(t: &[Token], pos: &mut usize) -> Option<String> {
    match t.get(*pos)? {
        Token::Open => {
            *pos += 1;
            let inner = parse_or(t, pos)?;
            if t.get(*pos) != Some(&Token::Close) {
                return None;
            }
            *pos += 1;
            Some(format!("({inner})"))
        }
        Token::Close => None,
        Token::Word(w) => {
            *pos += 1;
            if is_license_ref(w) {
                return Some(w.clone());
            }
            let (base, plus) = match w.strip_suffix('+') {
                Some(b) => (b, "+"),
                None => (w.as_str(), ""),
            };
            known_id(base).map(|id| format!("{id}{plus}"))
        }
    }
}

/// Splits an SPDX expression at its top-level `AND`s, the inverse of joining several
/// declared licenses with `AND` when encoding; an operand wrapped in parentheses loses them.
pub(crate) fn split_top_level_and(expr: &str) -> Vec<String> {
    let tokens = tokenize(expr);
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let mut depth = 0usize;
    for tok in tokens {
        match tok {
            Token::Open => {
                depth += 1;
                if let Some(last) = parts.last_mut() {
                    last.push("(".into());
                }
            }
            Token::Close => {
                depth = depth.saturating_sub(1);
                if let Some(last) = parts.last_mut() {
                    last.push(")".into());
                }
            }
            Token::Word(w) if depth == 0 && w.eq_ignore_ascii_case("AND") => parts.push(Vec::new()),
            Token::Word(w) => {
                if let Some(last) = parts.last_mut() {
                    last.push(w);
                }
            }
        }
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut s = p.join(" ").replace("( ", "(").replace(" )", ")");
            if s.starts_with('(') && s.ends_with(')') && balanced_inner(&s[1..s.len() - 1]) {
                s = s[1..s.len() - 1].to_string();
            }
            s
        })
        .collect()
}

/// True if the parentheses in `s` never close more than they open, so stripping an outer
/// pair around it keeps the meaning (`(A) OR (B)` must keep its outer pair).
fn balanced_inner(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_ids_case_insensitively() {
        assert_eq!(classify("mit"), License::Id("MIT".into()));
        assert_eq!(classify(" Apache-2.0 "), License::Id("Apache-2.0".into()));
    }

    #[test]
    fn classifies_expressions() {
        assert_eq!(
            classify("MIT OR Apache-2.0"),
            License::Expression("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            classify("(mit or apache-2.0) and Unicode-DFS-2016"),
            License::Expression("(MIT OR Apache-2.0) AND Unicode-DFS-2016".into())
        );
        assert_eq!(
            classify("GPL-2.0-or-later WITH Classpath-exception-2.0"),
            License::Expression("GPL-2.0-or-later WITH Classpath-exception-2.0".into())
        );
        assert_eq!(
            classify("LicenseRef-foo AND MIT"),
            License::Expression("LicenseRef-foo AND MIT".into())
        );
    }

    #[test]
    fn free_text_stays_text() {
        for s in [
            "GPL-2+",
            "BSD License",
            "MIT OR",
            "(MIT",
            "MIT WITH Nonsense-exception",
            "Public Domain",
            "",
        ] {
            assert_eq!(classify(s), License::Text(s.trim().into()), "{s:?}");
        }
    }

    #[test]
    fn splits_at_top_level_and() {
        assert_eq!(
            split_top_level_and("MIT AND (BSD-3-Clause OR ISC)"),
            vec!["MIT", "BSD-3-Clause OR ISC"]
        );
        assert_eq!(
            split_top_level_and("(MIT) OR (ISC)"),
            vec!["(MIT) OR (ISC)"]
        );
        assert_eq!(split_top_level_and("MIT"), vec!["MIT"]);
    }

    #[test]
    fn license_refs() {
        assert!(is_license_ref("LicenseRef-GPL-2-"));
        assert!(!is_license_ref("LicenseRef-"));
        assert!(!is_license_ref("LicenseRef-a b"));
    }
}
