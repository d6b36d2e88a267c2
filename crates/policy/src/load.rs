//! Reading policies (and exceptions) from YAML or JSON text and from a directory.
//!
//! Every document is checked whole: one that fails is reported and left out, never loaded
//! in part. Documents of other kinds are skipped with a note, so a directory can hold a
//! whole deployment's manifests.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use portcullis_core::Exception;

use crate::crd::{ContainerAdmissionPolicy, ContainerVulnerabilityException, EXCEPTION_KIND, KIND};
use crate::policy::PolicyError;

/// Most documents one file may hold. A cluster's policies exported as one file (10,000 load in
/// well under a second); the limit keeps a runaway generator or a separator storm from holding
/// the webhook's memory.
pub const MAX_DOCUMENTS_PER_FILE: usize = 50_000;

/// Largest policy file read (a 10,000-policy file is about 3 MiB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The YAML parser's limits, scaled to [`MAX_DOCUMENTS_PER_FILE`] documents of a few hundred
/// nodes each (its defaults allow 1,024 documents).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS_PER_FILE,
            max_nodes: MAX_DOCUMENTS_PER_FILE * 200,
            max_events: MAX_DOCUMENTS_PER_FILE * 400,
        },
    }
}

/// A file holding `what`, over [`MAX_DOCUMENTS_PER_FILE`].
fn too_many_documents(what: String) -> PolicyError {
    PolicyError::TooLarge {
        what,
        limit: format!("{MAX_DOCUMENTS_PER_FILE} documents"),
    }
}

/// How many documents the parser had counted when it stopped at the document limit, if that is
/// why it stopped (the parser wraps its errors in ones that carry a snippet of the text).
fn documents_over(mut e: &serde_saphyr::Error) -> Option<usize> {
    use serde_saphyr::Error;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = e {
        e = error;
    }
    match e {
        Error::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Documents { documents },
            ..
        } => Some(*documents),
        _ => None,
    }
}

/// Everything found in some text or a directory.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid policies (each passed [`ContainerAdmissionPolicy::validate`]), in file order.
    pub policies: Vec<ContainerAdmissionPolicy>,
    /// Valid exceptions, with their object names.
    pub exceptions: Vec<(String, Exception)>,
    /// Documents that were left out, and why.
    pub errors: Vec<PolicyError>,
    /// Documents of other kinds that were skipped ([`PolicyError::is_note`] is true).
    pub notes: Vec<PolicyError>,
}

impl Loaded {
    fn merge(&mut self, other: Loaded) {
        self.policies.extend(other.policies);
        self.exceptions.extend(other.exceptions);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
    }

    fn push_policy(
        &mut self,
        p: ContainerAdmissionPolicy,
        seen: &mut BTreeMap<(String, String), String>,
        origin: &str,
    ) {
        let key = (KIND.to_string(), p.metadata.name.clone());
        if let Some(first) = seen.get(&key) {
            let err = PolicyError::Duplicate {
                name: p.metadata.name.clone(),
                first: first.clone(),
            };
            self.errors.push(err.in_document(origin));
            return;
        }
        seen.insert(key, origin.to_string());
        self.policies.push(p);
    }
}

/// Loads every `*.yaml`, `*.yml` and `*.json` file directly in `dir` (sorted by file name),
/// returning the valid policies and everything that went wrong. Notes about skipped
/// documents of other kinds are among the errors, marked by [`PolicyError::is_note`].
pub fn load_dir(dir: &Path) -> (Vec<ContainerAdmissionPolicy>, Vec<PolicyError>) {
    let loaded = load_dir_all(dir);
    let mut errors = loaded.errors;
    errors.extend(loaded.notes);
    (loaded.policies, errors)
}

/// Like [`load_dir`], but keeps exceptions and notes apart.
pub fn load_dir_all(dir: &Path) -> Loaded {
    let mut out = Loaded::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            out.errors.push(PolicyError::Read {
                path: dir.to_path_buf(),
                source,
            });
            return out;
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => {
                let path = e.path();
                let ext = path
                    .extension()
                    .and_then(|x| x.to_str())
                    .map(str::to_ascii_lowercase);
                if matches!(ext.as_deref(), Some("yaml" | "yml" | "json")) && path.is_file() {
                    files.push(path);
                }
            }
            Err(source) => out.errors.push(PolicyError::Read {
                path: dir.to_path_buf(),
                source,
            }),
        }
    }
    files.sort();
    let mut seen = BTreeMap::new();
    for path in files {
        let origin = path.display().to_string();
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                let err = PolicyError::TooLarge {
                    what: format!("{} bytes", m.len()),
                    limit: format!("{MAX_FILE_BYTES} bytes"),
                };
                out.errors.push(err.in_document(&origin));
                continue;
            }
            _ => {}
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let loaded = parse_text_inner(&text, &origin, &mut seen);
                out.merge(loaded);
            }
            Err(source) => out.errors.push(PolicyError::Read { path, source }),
        }
    }
    out
}

/// Parses YAML (one or more documents separated by `---`) or JSON text. `origin` names the
/// text in messages (a file name). A `kind: List` document (as `kubectl get -o yaml`
/// prints) is read item by item. Documents are numbered from 1, counting non-empty ones.
pub fn parse_text(text: &str, origin: &str) -> Loaded {
    parse_text_inner(text, origin, &mut BTreeMap::new())
}

fn parse_text_inner(
    text: &str,
    origin: &str,
    seen: &mut BTreeMap<(String, String), String>,
) -> Loaded {
    let mut out = Loaded::default();
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            Err(e) => {
                out.errors.push(
                    PolicyError::Syntax {
                        message: format!("invalid JSON: {e}"),
                    }
                    .in_document(origin),
                );
                return out;
            }
        }
    } else {
        match serde_saphyr::from_multiple_with_options::<Value>(text, yaml_options()) {
            Ok(docs) => docs,
            Err(e) => {
                let err = match documents_over(&e) {
                    Some(n) => too_many_documents(format!("{n} or more documents")),
                    None => PolicyError::Syntax {
                        message: format!("invalid YAML: {e}"),
                    },
                };
                out.errors.push(err.in_document(origin));
                return out;
            }
        }
    };
    // The YAML parser stops at the limit itself; a JSON array is counted here.
    if docs.len() > MAX_DOCUMENTS_PER_FILE {
        let err = too_many_documents(format!("{} documents", docs.len()));
        out.errors.push(err.in_document(origin));
        return out;
    }
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let doc_origin = if many {
            format!("{origin} document {}", i + 1)
        } else {
            origin.to_string()
        };
        load_value(doc, &doc_origin, &mut out, seen);
    }
    out
}

fn load_value(
    doc: Value,
    origin: &str,
    out: &mut Loaded,
    seen: &mut BTreeMap<(String, String), String>,
) {
    if doc.is_null() {
        return;
    }
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind == "List" || (kind.ends_with("List") && doc.get("items").is_some_and(Value::is_array)) {
        if let Some(Value::Array(items)) = doc.get("items") {
            for (i, item) in items.iter().enumerate() {
                load_value(item.clone(), &format!("{origin} items[{i}]"), out, seen);
            }
        }
        return;
    }
    if kind == KIND {
        match policy_from_value(&doc) {
            Ok(p) => out.push_policy(p, seen, origin),
            Err(e) => out.errors.push(e.in_document(origin)),
        }
    } else if kind == EXCEPTION_KIND {
        match exception_from_value(&doc) {
            Ok((name, e)) => {
                let key = (EXCEPTION_KIND.to_string(), name.clone());
                if let Some(first) = seen.get(&key) {
                    out.errors.push(
                        PolicyError::Duplicate {
                            name,
                            first: first.clone(),
                        }
                        .in_document(origin),
                    );
                } else {
                    seen.insert(key, origin.to_string());
                    out.exceptions.push((name, e));
                }
            }
            Err(e) => out.errors.push(e.in_document(origin)),
        }
    } else {
        out.notes
            .push(PolicyError::IgnoredKind { kind }.in_document(origin));
    }
}

/// Reads one `ContainerAdmissionPolicy` object's shape without checking its values: for
/// callers that complete it first (keys named as Secrets) and check it after.
pub fn policy_shape_from_value(doc: &Value) -> Result<ContainerAdmissionPolicy, PolicyError> {
    typed(doc, KIND)
}

/// Reads one `ContainerAdmissionPolicy` object (as the Kubernetes API returns it, or as
/// parsed from a file) and checks it. Shape errors carry the path of the offending field.
pub fn policy_from_value(doc: &Value) -> Result<ContainerAdmissionPolicy, PolicyError> {
    let policy: ContainerAdmissionPolicy = typed(doc, KIND)?;
    policy.validate()?;
    Ok(policy)
}

/// Reads one `ContainerVulnerabilityException` object, returning its name and the exception.
pub fn exception_from_value(doc: &Value) -> Result<(String, Exception), PolicyError> {
    let e: ContainerVulnerabilityException = typed(doc, EXCEPTION_KIND)?;
    let name = e.metadata.name.clone();
    let shape = |path: &str, message: &str| PolicyError::Shape {
        kind: EXCEPTION_KIND.to_string(),
        name: Some(name.clone()),
        path: path.to_string(),
        message: message.to_string(),
    };
    if name.trim().is_empty() {
        return Err(shape("metadata.name", "must not be empty"));
    }
    if e.spec.id.trim().is_empty() {
        return Err(shape("spec.id", "must not be empty"));
    }
    let exception = Exception::try_from(e.spec).map_err(|exp| {
        shape(
            "spec.expires",
            &format!("invalid RFC 3339 date or time {exp:?}"),
        )
    })?;
    Ok((name, exception))
}

fn typed<T: DeserializeOwned>(doc: &Value, kind: &str) -> Result<T, PolicyError> {
    serde_path_to_error::deserialize::<_, T>(doc).map_err(|e| {
        let path = e.path().to_string();
        PolicyError::Shape {
            kind: kind.to_string(),
            name: doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string),
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}
