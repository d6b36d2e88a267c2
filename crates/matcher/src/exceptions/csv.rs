//! The Calico image-assurance exceptions CSV.
//!
//! Columns `CVE, Registry, Repository, Tags, Justification, Scope`, in that order when there is
//! no header; with a header (first field `CVE`), columns are found by name and an optional
//! `Expires` column is read too. `Tags` are separated by `;` or `|` (a comma would split the
//! CSV field). `Scope` is `global` (or `any`/`all`), `repository` or `image`, case-insensitive;
//! when empty it follows from the row: tags → image, a repository → repository, else global.
//!
//! Fields follow RFC 4180: double quotes around fields with commas, quotes or line breaks,
//! `""` for a quote inside.

use portcullis_core::{Exception, ExceptionScope, Expiry};

use super::{ExceptionError, Result, validate};

const COLUMNS: [&str; 6] = [
    "cve",
    "registry",
    "repository",
    "tags",
    "justification",
    "scope",
];

/// Parses Calico-style exceptions CSV into validated exceptions.
pub fn exceptions_from_csv(text: &str) -> Result<Vec<Exception>> {
    let records = parse_records(text)?;
    let mut iter = records
        .into_iter()
        .filter(|(_, r)| !(r.len() == 1 && r[0].trim().is_empty()))
        .peekable();
    // Column positions: from the header, or the documented order.
    let mut positions: Vec<Option<usize>> = (0..COLUMNS.len()).map(Some).collect();
    let mut expires_at: Option<usize> = Some(6);
    if let Some((line, header)) = iter.peek()
        && header
            .first()
            .is_some_and(|f| f.trim().eq_ignore_ascii_case("cve"))
    {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        positions = COLUMNS.iter().map(|c| find(c)).collect();
        expires_at = find("expires");
        if let Some(unknown) = header.iter().find(|h| {
            !COLUMNS.contains(&h.trim().to_ascii_lowercase().as_str())
                && !h.trim().eq_ignore_ascii_case("expires")
        }) {
            return Err(ExceptionError::Csv {
                line: *line,
                reason: format!("unknown column '{}'", unknown.trim()),
            });
        }
        iter.next();
    }
    let mut out = Vec::new();
    for (line, rec) in iter {
        let field = |col: Option<usize>| -> Option<String> {
            col.and_then(|i| rec.get(i))
                .filter(|s| !s.trim().is_empty())
                .cloned()
        };
        let id = field(positions[0])
            .map(|s| s.trim().to_string())
            .ok_or_else(|| ExceptionError::Csv {
                line,
                reason: "empty CVE column".into(),
            })?;
        let registry = field(positions[1]);
        let repository = field(positions[2]);
        let tags: Vec<String> = field(positions[3])
            .map(|t| {
                t.split([';', '|'])
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let scope = match field(positions[5]).map(|s| s.trim().to_ascii_lowercase()) {
            None if !tags.is_empty() => ExceptionScope::Image,
            None if repository.is_some() => ExceptionScope::Repository,
            None => ExceptionScope::Any,
            Some(s) => match s.as_str() {
                "global" | "any" | "all" => ExceptionScope::Any,
                "repository" | "repo" => ExceptionScope::Repository,
                "image" => ExceptionScope::Image,
                other => {
                    return Err(ExceptionError::Csv {
                        line,
                        reason: format!(
                            "unknown scope '{other}' (expected global, repository or image)"
                        ),
                    });
                }
            },
        };
        let expires = field(expires_at)
            .map(|x| Expiry::parse(&x))
            .transpose()
            .map_err(|reason| ExceptionError::Invalid {
                origin: "CSV".into(),
                position: format!("line {line}"),
                id: id.clone(),
                reason,
            })?;
        let e = Exception {
            id,
            scope,
            registry,
            repository,
            tags,
            justification: field(positions[4]),
            expires,
            created_by: None,
            created: None,
        };
        validate(&e).map_err(|reason| ExceptionError::Invalid {
            origin: "CSV".into(),
            position: format!("line {line}"),
            id: e.id.clone(),
            reason,
        })?;
        out.push(e);
    }
    Ok(out)
}

/// Writes exceptions as Calico-style CSV with a header. An `Expires` column is added only when
/// some exception expires, so files without expiries stay in Calico's six columns.
pub fn exceptions_to_csv(exceptions: &[Exception]) -> String {
    let with_expiry = exceptions.iter().any(|e| e.expires.is_some());
    let mut out = String::from("CVE,Registry,Repository,Tags,Justification,Scope");
    if with_expiry {
        out.push_str(",Expires");
    }
    out.push_str("\r\n");
    for e in exceptions {
        let scope = match e.scope {
            ExceptionScope::Any => "global",
            ExceptionScope::Repository => "repository",
            ExceptionScope::Image => "image",
        };
        let mut fields = vec![
            e.id.clone(),
            e.registry.clone().unwrap_or_default(),
            e.repository.clone().unwrap_or_default(),
            e.tags.join(";"),
            e.justification.clone().unwrap_or_default(),
            scope.to_string(),
        ];
        if with_expiry {
            fields.push(e.expires.map(|x| x.to_string()).unwrap_or_default());
        }
        let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn quote(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) || f.trim() != f {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// Ends a field: unquoted fields lose surrounding blanks, quoted ones are kept as written.
fn finish(field: &mut String, quoted: bool) -> String {
    let f = std::mem::take(field);
    if quoted { f } else { f.trim().to_string() }
}

/// Splits CSV text into records of fields, each with the 1-based line it starts on.
fn parse_records(text: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut in_quotes = false;
    // Whether the current field was quoted: text after its closing quote is an error.
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !was_quoted => {
                field.clear();
                in_quotes = true;
                was_quoted = true;
            }
            '"' => {
                return Err(ExceptionError::Csv {
                    line,
                    reason: "quote inside an unquoted field".into(),
                });
            }
            ',' => {
                fields.push(finish(&mut field, was_quoted));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(finish(&mut field, was_quoted));
                records.push((start_line, std::mem::take(&mut fields)));
                was_quoted = false;
                line += 1;
                start_line = line;
            }
            c if was_quoted && !c.is_whitespace() => {
                return Err(ExceptionError::Csv {
                    line,
                    reason: "text after a closing quote".into(),
                });
            }
            _ if was_quoted => {}
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(ExceptionError::Csv {
            line: start_line,
            reason: "unterminated quoted field".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() || was_quoted {
        fields.push(finish(&mut field, was_quoted));
        records.push((start_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_quotes_and_newlines() {
        let r = parse_records("a,\"b,c\",\"say \"\"hi\"\"\"\r\nx,\"multi\nline\",\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            (1, vec!["a".to_string(), "b,c".into(), "say \"hi\"".into()])
        );
        assert_eq!(
            r[1],
            (2, vec!["x".to_string(), "multi\nline".into(), "".into()])
        );
    }

    #[test]
    fn malformed_quotes_are_errors_with_lines() {
        let e = parse_records("a,b\nc,\"open\n").unwrap_err();
        assert!(matches!(e, ExceptionError::Csv { line: 2, .. }), "{e}");
        let e = parse_records("a,\"b\"c\n").unwrap_err();
        assert!(matches!(e, ExceptionError::Csv { line: 1, .. }), "{e}");
        let e = parse_records("a,b\"c\n").unwrap_err();
        assert!(matches!(e, ExceptionError::Csv { line: 1, .. }), "{e}");
    }
}
