//! Reading feeds into normalised advisories.
//!
//! A *source* is one path given to import: a file, a directory (walked recursively) or a
//! zip archive. Each candidate file is classified by name (`.json`, `.yaml`/`.yml`, `.zip`,
//! a Debian tracker `list`) and then by content, unless a format is forced.
//!
//! Errors come in two weights. A file that holds one record (an OSV or npm file) is a
//! record: if it is bad, it is skipped with a warning naming the file and the record. A
//! file that holds many records (a zip archive, an Alpine secdb file, a tracker list or
//! JSON export, an NVD collection) is a container: if it cannot be read or parsed at all,
//! the whole import fails, because importing the rest would silently drop a feed.

mod alpine;
mod debian;
mod lenient;
mod npm;
mod nvd;
mod osv;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_core::{Advisory, SeverityScore};

use crate::SourceFormat;

/// A boxed error from a third-party library, kept out of the public API.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors that abort an import before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A source path, directory or file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A zip archive is damaged or truncated (its directory or an entry cannot be read).
    #[error("{label}: damaged zip archive")]
    Zip {
        /// The archive, and the entry when one failed.
        label: String,
        /// The zip library's error.
        #[source]
        source: BoxError,
    },
    /// A file that holds many records could not be parsed at all.
    #[error("{label}: {why}")]
    Container {
        /// The file (with line where known).
        label: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// CVSS vectors NVD states for one CVE.
pub(crate) type NvdRecord = (String, Vec<SeverityScore>);

/// What one file (or a whole source) yielded.
#[derive(Default)]
pub(crate) struct Out {
    pub(crate) advisories: Vec<Advisory>,
    pub(crate) nvd: Vec<NvdRecord>,
    /// NVD records read, with or without metrics.
    pub(crate) nvd_records: usize,
    pub(crate) warnings: Vec<String>,
    pub(crate) formats: BTreeSet<SourceFormat>,
    /// Node.js core advisories of the npm WG repository: there is no ecosystem for the
    /// Node.js runtime, so they are counted and reported once rather than per file.
    pub(crate) node_core_skipped: usize,
}

impl Out {
    pub(crate) fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    fn append(&mut self, other: Out) {
        self.advisories.extend(other.advisories);
        self.nvd.extend(other.nvd);
        self.nvd_records += other.nvd_records;
        self.warnings.extend(other.warnings);
        self.formats.extend(other.formats);
        self.node_core_skipped += other.node_core_skipped;
    }

    /// Records this source contributes, as reported and stored in `sources`.
    pub(crate) fn records(&self) -> usize {
        self.advisories.len() + self.nvd_records
    }
}

/// How a file is read, decided from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Candidate {
    Json,
    Yaml,
    /// A plain-text tracker list (`data/DSA/list`, `data/CVE/list`).
    Text,
    Zip,
}

/// Entries of a zip archive parsed per batch: bounds memory for archives of 100k+ records.
const ZIP_BATCH: usize = 4096;

/// Reads one source into advisories. Hard errors leave nothing behind; see the module doc.
pub(crate) fn load_source(path: &Path, forced: Option<SourceFormat>) -> Result<Out> {
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, &mut files)?;
    } else {
        // A file named explicitly is read whatever its name; text is sniffed.
        files.push((
            path.to_path_buf(),
            classify(path).unwrap_or(Candidate::Text),
        ));
    }
    // Files met in a directory walk that are no advisory format (a tracker's config.json,
    // an OpenVEX document) are skipped quietly; a file named explicitly gets a warning.
    let explicit = !meta.is_dir();
    let mut out = Out::default();
    let (zips, plain): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|(_, c)| *c == Candidate::Zip);
    for result in par_map(&plain, |(p, c)| parse_file(p, *c, forced, explicit)) {
        out.append(result?);
    }
    for (zip, _) in &zips {
        load_zip(zip, forced, &mut out)?;
    }
    finish(path, out)
}

/// What one feed file named `name` holds, parsed from memory as an import would read it (the
/// name decides JSON, YAML or a tracker list, as in a directory): its record count and
/// warnings. Nothing is stored. The parsers' fuzz target reads feeds through this.
pub fn parse_file_bytes(name: &str, bytes: &[u8]) -> Result<(usize, Vec<String>)> {
    let path = Path::new(name);
    let Some(cand) = classify(path).filter(|c| *c != Candidate::Zip) else {
        return Err(Error::Container {
            label: name.to_string(),
            why: "not a feed file name (.json, .yaml, .yml or list)".into(),
        });
    };
    let mut out = Out::default();
    parse_bytes(name, path, cand, bytes, None, true, &mut out)?;
    let out = finish(path, out)?;
    Ok((out.records(), out.warnings))
}

/// Merges records that share an id and adds the source-level warnings.
fn finish(path: &Path, mut out: Out) -> Result<Out> {
    out.advisories = merge_duplicates(std::mem::take(&mut out.advisories), &mut out.warnings);
    if out.node_core_skipped > 0 {
        out.warn(format!(
            "{}: {} Node.js core advisories skipped (no ecosystem for the Node.js runtime)",
            path.display(),
            out.node_core_skipped
        ));
    }
    if out.records() == 0 {
        out.warn(format!("{}: no advisories found", path.display()));
    }
    Ok(out)
}

/// Lists candidate files under `dir`, sorted so imports are reproducible. Hidden entries
/// (`.git`, `.id-allocator`) are skipped.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, Candidate)>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = e.file_type().map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        if ft.is_dir() {
            walk(&p, files)?;
        } else if let Some(c) = classify(&p) {
            files.push((p, c));
        }
    }
    Ok(())
}

fn classify(p: &Path) -> Option<Candidate> {
    let name = p.file_name()?.to_str()?;
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => Some(Candidate::Json),
        Some("yaml" | "yml") => Some(Candidate::Yaml),
        Some("zip") => Some(Candidate::Zip),
        _ if name == "list" => Some(Candidate::Text),
        _ => None,
    }
}

fn parse_file(
    path: &Path,
    cand: Candidate,
    forced: Option<SourceFormat>,
    explicit: bool,
) -> Result<Out> {
    let bytes = fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let label = path.display().to_string();
    let mut out = Out::default();
    parse_bytes(&label, path, cand, &bytes, forced, explicit, &mut out)?;
    Ok(out)
}

/// Parses one file's content. `path` helps formats that take context from it (the Alpine
/// branch when a secdb file does not state it).
fn parse_bytes(
    label: &str,
    path: &Path,
    cand: Candidate,
    bytes: &[u8],
    forced: Option<SourceFormat>,
    explicit: bool,
    out: &mut Out,
) -> Result<()> {
    match cand {
        Candidate::Json => parse_json(label, path, bytes, forced, explicit, out),
        Candidate::Yaml => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                out.warn(format!("{label}: skipped: not UTF-8 text"));
                return Ok(());
            };
            let alpine = match forced {
                Some(f) => f == SourceFormat::AlpineSecdb,
                None => text.contains("secfixes:") || text.contains("distroversion:"),
            };
            if alpine {
                return alpine::from_yaml(label, path, text, out);
            }
            if let Some(f) = forced.filter(|f| *f != SourceFormat::Osv) {
                out.warn(format!("{label}: skipped: YAML is not read as {f}"));
                return Ok(());
            }
            out.formats.insert(SourceFormat::Osv);
            match serde_saphyr::from_str::<osv::RawOsv>(text) {
                Ok(raw) => osv::convert(raw, label, out),
                Err(e) => {
                    let id = serde_saphyr::from_str::<osv::RawId>(text)
                        .ok()
                        .and_then(|r| r.id)
                        .or_else(|| id_hint(text));
                    out.warn(record_warning(label, id.as_deref(), &e.to_string()));
                }
            }
            Ok(())
        }
        Candidate::Text => {
            let text = String::from_utf8_lossy(bytes);
            match (debian::sniff(&text), forced) {
                (Some(kind), None | Some(SourceFormat::DebianTracker)) => {
                    out.formats.insert(SourceFormat::DebianTracker);
                    debian::from_list(label, kind, &text, out);
                    Ok(())
                }
                (None, Some(SourceFormat::DebianTracker)) => Err(Error::Container {
                    label: label.to_string(),
                    why: "not a Debian security tracker list (no `[date] DSA-…` or `CVE-…` entry)"
                        .into(),
                }),
                // Other text files (the tracker's CPE list) are not advisories.
                _ => Ok(()),
            }
        }
        Candidate::Zip => Err(Error::Container {
            label: label.to_string(),
            why: "zip archives nested in zip archives are not read".into(),
        }),
    }
}

/// What a JSON document looks like, from its top-level keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonKind {
    Osv,
    Npm,
    Nvd,
    Alpine,
    DebianJson,
    NodeCore,
    /// The npm WG's `index.json`: the same advisories again, keyed by number.
    Index,
    /// CISA's Known Exploited Vulnerabilities catalog: no advisories (no packages or ranges),
    /// only CVE ids known to be exploited. Not read yet, and said so.
    Kev,
    Unknown,
}

fn detect_json(v: &serde_json::Value) -> JsonKind {
    let Some(o) = v.as_object() else {
        return JsonKind::Unknown;
    };
    let has = |k: &str| o.contains_key(k);
    if has("module_name") {
        JsonKind::Npm
    } else if has("catalogVersion") && has("vulnerabilities") {
        JsonKind::Kev
    } else if o.get("vulnerabilities").is_some_and(|v| v.is_array())
        || has("CVE_Items")
        || (has("sourceIdentifier") || has("metrics"))
            && o.get("id")
                .and_then(|i| i.as_str())
                .is_some_and(|i| i.starts_with("CVE-"))
    {
        JsonKind::Nvd
    } else if has("packages") && (has("distroversion") || has("reponame")) {
        JsonKind::Alpine
    } else if has("id")
        && (has("affected") || has("modified") || has("schema_version") || has("aliases"))
    {
        JsonKind::Osv
    } else if has("vulnerable") && has("cve") {
        JsonKind::NodeCore
    } else if let Some(first) = o.values().next().and_then(|v| v.as_object()) {
        let inner_first = first.values().next().and_then(|v| v.as_object());
        if inner_first.is_some_and(|c| c.contains_key("releases")) {
            JsonKind::DebianJson
        } else if first.contains_key("module_name") || first.contains_key("cve") {
            JsonKind::Index
        } else {
            JsonKind::Unknown
        }
    } else {
        JsonKind::Unknown
    }
}

fn parse_json(
    label: &str,
    path: &Path,
    bytes: &[u8],
    forced: Option<SourceFormat>,
    explicit: bool,
    out: &mut Out,
) -> Result<()> {
    if forced == Some(SourceFormat::Osv) {
        // The common case for big OSV archives: one pass, with line numbers in errors.
        out.formats.insert(SourceFormat::Osv);
        match serde_json::from_slice::<osv::RawOsv>(bytes) {
            Ok(raw) => osv::convert(raw, label, out),
            Err(e) => {
                let id = serde_json::from_slice::<osv::RawId>(bytes)
                    .ok()
                    .and_then(|r| r.id)
                    .or_else(|| id_hint(&String::from_utf8_lossy(bytes)));
                let why = if e.is_data() {
                    e.to_string()
                } else {
                    format!("invalid JSON: {e}")
                };
                out.warn(record_warning(label, id.as_deref(), &why));
            }
        }
        return Ok(());
    }
    if forced == Some(SourceFormat::Nvd) || (forced.is_none() && nvd_feed_header(bytes)) {
        // Feeds are hundreds of MB: read record by record, never as one tree.
        out.formats.insert(SourceFormat::Nvd);
        return nvd::read_json(label, serde_json::Deserializer::from_slice(bytes), out);
    }
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let why = format!("invalid JSON: {e}");
            out.warn(record_warning(
                label,
                id_hint(&String::from_utf8_lossy(bytes)).as_deref(),
                &why,
            ));
            return Ok(());
        }
    };
    let kind = match forced {
        Some(SourceFormat::Osv) => JsonKind::Osv,
        Some(SourceFormat::NpmWg) => JsonKind::Npm,
        Some(SourceFormat::Nvd) => JsonKind::Nvd,
        Some(SourceFormat::AlpineSecdb) => JsonKind::Alpine,
        Some(SourceFormat::DebianTracker) => JsonKind::DebianJson,
        None => detect_json(&value),
    };
    match kind {
        JsonKind::Osv => {
            out.formats.insert(SourceFormat::Osv);
            let id = value.get("id").and_then(|i| i.as_str()).map(str::to_string);
            match serde_json::from_value::<osv::RawOsv>(value) {
                Ok(raw) => osv::convert(raw, label, out),
                Err(e) => out.warn(record_warning(label, id.as_deref(), &e.to_string())),
            }
        }
        JsonKind::Npm => {
            out.formats.insert(SourceFormat::NpmWg);
            npm::convert(label, value, out);
        }
        JsonKind::Nvd => {
            out.formats.insert(SourceFormat::Nvd);
            nvd::read(label, value, out)?;
        }
        JsonKind::Alpine => {
            out.formats.insert(SourceFormat::AlpineSecdb);
            alpine::from_json(label, path, value, out)?;
        }
        JsonKind::DebianJson => {
            out.formats.insert(SourceFormat::DebianTracker);
            debian::from_tracker_json(label, value, out)?;
        }
        JsonKind::NodeCore => out.node_core_skipped += 1,
        JsonKind::Index => {}
        JsonKind::Kev => out.warn(format!(
            "{label}: skipped: a CISA Known Exploited Vulnerabilities catalog ({} entries) has no \
             advisories to match; it is not read",
            value
                .get("vulnerabilities")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len)
        )),
        JsonKind::Unknown if explicit => out.warn(format!(
            "{label}: skipped: not a recognised advisory format"
        )),
        JsonKind::Unknown => tracing::debug!("{label}: skipped: not a recognised advisory format"),
    }
    Ok(())
}

/// Whether a JSON text opens like an NVD feed (`"format": "NVD_CVE"` in the API 2.0 header,
/// `CVE_Items` in 1.1): such a file is streamed rather than parsed whole for detection.
fn nvd_feed_header(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    has(b"\"NVD_CVE\"") || has(b"\"CVE_Items\"")
}

/// The record id of a file too broken to parse, found by its text: a top-level `id:` line
/// (YAML) or the first `"id": "..."` (JSON). Only used to name the record in a warning.
fn id_hint(text: &str) -> Option<String> {
    let yaml = text
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string());
    let json = || {
        let rest = &text[text.find("\"id\"")? + 4..];
        let rest = rest
            .trim_start()
            .strip_prefix(':')?
            .trim_start()
            .strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    yaml.or_else(json)
        .filter(|id| !id.is_empty() && id.len() < 100)
}

/// `file: ID: record skipped: why`, or without the id when even that could not be read.
fn record_warning(label: &str, id: Option<&str>, why: &str) -> String {
    let why = why.lines().next().unwrap_or(why);
    match id {
        Some(id) => format!("{label}: {id}: record skipped: {why}"),
        None => format!("{label}: record skipped: {why}"),
    }
}

/// Reads an OSV-style zip archive (`ECOSYSTEM/all.zip`): every `.json`/`.yaml` entry is a
/// record. Any entry that cannot be read (truncation, CRC mismatch) fails the import.
fn load_zip(path: &Path, forced: Option<SourceFormat>, out: &mut Out) -> Result<()> {
    let file = fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let label = path.display().to_string();
    let zip_err = |label: String| {
        move |e: zip::result::ZipError| Error::Zip {
            label,
            source: Box::new(e),
        }
    };
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err(label.clone()))?;
    let mut batch: Vec<(String, Candidate, Vec<u8>)> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err(label.clone()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let cand = match classify(Path::new(&name)) {
            Some(c @ (Candidate::Json | Candidate::Yaml)) => c,
            _ => continue,
        };
        let entry_label = format!("{label}!{name}");
        if cand == Candidate::Json
            && (forced == Some(SourceFormat::Nvd)
                || name
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with("nvdcve-")))
        {
            // An NVD feed is one entry of hundreds of MB: streamed, never held whole.
            out.formats.insert(SourceFormat::Nvd);
            let reader = std::io::BufReader::new(&mut entry);
            nvd::read_json(
                &entry_label,
                serde_json::Deserializer::from_reader(reader),
                out,
            )?;
            continue;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
        entry.read_to_end(&mut bytes).map_err(|e| Error::Zip {
            label: entry_label.clone(),
            source: Box::new(e),
        })?;
        batch.push((entry_label, cand, bytes));
        if batch.len() >= ZIP_BATCH {
            parse_batch(path, std::mem::take(&mut batch), forced, out)?;
        }
    }
    parse_batch(path, batch, forced, out)
}

fn parse_batch(
    path: &Path,
    batch: Vec<(String, Candidate, Vec<u8>)>,
    forced: Option<SourceFormat>,
    out: &mut Out,
) -> Result<()> {
    let results = par_map(&batch, |(label, cand, bytes)| {
        let mut o = Out::default();
        parse_bytes(label, path, *cand, bytes, forced, true, &mut o).map(|()| o)
    });
    for r in results {
        out.append(r?);
    }
    Ok(())
}

/// Maps `f` over `items` on all cores, keeping the order of `items` in the result.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(done) => {
                    for (i, r) in done {
                        slots[i] = Some(r);
                    }
                }
                // A panic here is a bug in a parser, not bad input: surface it unchanged.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    slots.into_iter().flatten().collect()
}

/// Records sharing an id within one source: distro feeds (Alpine, Debian) state one
/// vulnerability in many files, so their entries are merged; for OSV a duplicate is a
/// copy, and the later-modified one is kept.
fn merge_duplicates(advisories: Vec<Advisory>, warnings: &mut Vec<String>) -> Vec<Advisory> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(advisories.len());
    let mut merged: Vec<Advisory> = Vec::with_capacity(advisories.len());
    for a in advisories {
        let Some(&i) = index.get(&a.id) else {
            index.insert(a.id.clone(), merged.len());
            merged.push(a);
            continue;
        };
        let prev = &mut merged[i];
        if a.source == osv::FEED || prev.source == osv::FEED || a.source == npm::FEED {
            warnings.push(format!(
                "duplicate advisory {} in one source: kept the later modified",
                a.id
            ));
            if a.modified > prev.modified {
                *prev = a;
            }
            continue;
        }
        for alias in a.aliases {
            if !prev.aliases.contains(&alias) {
                prev.aliases.push(alias);
            }
        }
        for s in a.severity {
            if !prev.severity.contains(&s) {
                prev.severity.push(s);
            }
        }
        for af in a.affected {
            if !prev.affected.contains(&af) {
                prev.affected.push(af);
            }
        }
        if prev.summary.is_none() {
            prev.summary = a.summary;
        }
        if a.modified > prev.modified {
            prev.modified = a.modified;
        }
    }
    merged
}

/// A one-line summary from free text, for feeds that have only `details`.
pub(crate) fn summary_from_details(details: &str) -> Option<String> {
    const MAX: usize = 200;
    let line = details.lines().map(str::trim).find(|l| !l.is_empty())?;
    if line.len() <= MAX {
        return Some(line.to_string());
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}…", &line[..end]))
}
