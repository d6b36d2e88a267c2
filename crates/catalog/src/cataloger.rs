//! The engine: consumes the image walk's events, reads only the files some extractor wants,
//! keeps results per path with overlay semantics, and produces the inventory at the end.
//!
//! Results are keyed by path, as the final filesystem would show them: a later entry for the
//! same path replaces what an earlier layer's file yielded, a whiteout drops everything at or
//! under its path and an opaque directory drops what earlier layers put under it. Files whose
//! extractor needs the distro (the OS package databases) are kept until [`Cataloger::finish`],
//! because os-release may come later in tar order; everything else, binaries above all, is
//! parsed as soon as it is read and only the packages are kept.

use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use portcullis_core::{Digest, Distro, Location, Package};
use portcullis_image::{Entry, EntryKind, Event, WalkError};

use crate::extractor::{ExtractInput, Extractor, MAGIC_LEN, error_chain};
use crate::os::os_release::{self, DistroFiles};

/// Default largest file read for a path-selected extractor (package databases, archives).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 512 << 20;
/// Default largest executable read for the binary extractors.
pub const DEFAULT_MAX_BINARY_SIZE: u64 = 256 << 20;
/// Release files are a few hundred bytes; anything much larger is not one.
const MAX_DISTRO_FILE_SIZE: u64 = 64 << 10;
/// Smaller files cannot be executables worth inspecting.
const MIN_BINARY_SIZE: u64 = 64;
/// Symlink hops followed when resolving `/etc/os-release`.
const MAX_SYMLINK_HOPS: usize = 8;

/// Drives a set of extractors over one image's walk.
///
/// Feed every walk event to [`on_event`](Cataloger::on_event) (it has the shape the image
/// walk's callback wants), then call [`finish`](Cataloger::finish).
pub struct Cataloger {
    extractors: Vec<Box<dyn Extractor>>,
    max_file_size: u64,
    max_binary_size: u64,
    layer_index: usize,
    files: BTreeMap<String, Slot>,
    warnings: Vec<String>,
}

/// What one path of the final filesystem has yielded so far.
struct Slot {
    layer_index: usize,
    layer: Option<Digest>,
    packages: Vec<Package>,
    /// Kept until `finish`: release files, and files of extractors that need the distro.
    content: Option<Vec<u8>>,
    /// Indices of the extractors to run on `content` at `finish`.
    deferred: Vec<usize>,
    /// For release-file paths that are symlinks (Debian's `/etc/os-release`).
    symlink: Option<String>,
}

impl Default for Cataloger {
    /// Every extractor this crate has, with the default size limits.
    fn default() -> Self {
        Self::new(crate::default_extractors())
    }
}

impl std::fmt::Debug for Cataloger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cataloger")
            .field(
                "extractors",
                &self.extractors.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("max_file_size", &self.max_file_size)
            .field("max_binary_size", &self.max_binary_size)
            .field("paths", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl Cataloger {
    /// A cataloger running exactly these extractors.
    pub fn new(extractors: Vec<Box<dyn Extractor>>) -> Self {
        Self {
            extractors,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_binary_size: DEFAULT_MAX_BINARY_SIZE,
            layer_index: 0,
            files: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Files selected by path and larger than this are skipped with a warning.
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Executables larger than this are skipped (with a warning) by the binary extractors.
    pub fn with_max_binary_size(mut self, bytes: u64) -> Self {
        self.max_binary_size = bytes;
        self
    }

    /// `(name, version)` of every extractor, for cache keys: a cached result is only valid
    /// for the same set.
    pub fn extractor_versions(&self) -> Vec<(&'static str, u32)> {
        self.extractors
            .iter()
            .map(|e| (e.name(), e.version()))
            .collect()
    }

    /// Handles one event of the walk. Only fails when a file's content cannot be read, which
    /// means the layer stream itself is broken; extractor failures become warnings.
    pub fn on_event(&mut self, ev: Event<'_>) -> Result<(), WalkError> {
        match ev {
            Event::LayerStart { index, .. } => self.layer_index = index,
            Event::LayerEnd { .. } => {}
            Event::Whiteout { path } => self.drop_from_earlier_layers(path, true),
            Event::Opaque { dir } => self.drop_from_earlier_layers(dir, false),
            Event::Entry(entry) => self.entry(entry)?,
        }
        Ok(())
    }

    /// Runs the extractors that waited for the distro and returns the distro, the packages
    /// (identical packages found in several files merged into one with every location;
    /// sorted by ecosystem, name, version, first location) and the warnings, each naming
    /// the layer and path it concerns.
    pub fn finish(self) -> (Option<Distro>, Vec<Package>, Vec<String>) {
        let Cataloger {
            extractors,
            files,
            mut warnings,
            ..
        } = self;
        let distro = detect_distro(&files);
        for p in os_release::OS_RELEASE_PATHS {
            if let Some(slot) = files.get(p)
                && let Some(target) = &slot.symlink
                && resolve(&files, p).is_none()
            {
                warnings.push(format!(
                    "{}{p}: symlink to `{target}` does not lead to a file inside the image \
                     (dangling, a loop, or more than {MAX_SYMLINK_HOPS} hops); not used",
                    layer_prefix(slot.layer.as_ref()),
                ));
            }
        }
        let mut packages = Vec::new();
        for (path, slot) in files {
            packages.extend(slot.packages);
            let Some(content) = slot.content.as_deref() else {
                continue;
            };
            for &i in &slot.deferred {
                let input = ExtractInput {
                    path: &path,
                    layer: slot.layer.as_ref(),
                    content,
                    distro: distro.as_ref(),
                };
                match run(extractors[i].as_ref(), &input) {
                    Ok(found) => packages.extend(found),
                    Err(msg) => {
                        warnings.push(warning(slot.layer.as_ref(), extractors[i].name(), &msg))
                    }
                }
            }
        }
        (distro, merge_and_sort(packages), warnings)
    }

    fn entry(&mut self, entry: Entry<'_>) -> Result<(), WalkError> {
        self.layer_index = entry.layer_index;
        // Whatever an earlier layer had at this path is gone, whatever replaces it.
        self.files.remove(entry.path);
        match &entry.kind {
            EntryKind::Symlink { target } if os_release::is_distro_file(entry.path) => {
                let slot = Slot {
                    symlink: Some(target.clone()),
                    ..Slot::new(entry.layer_index, entry.layer)
                };
                self.files.insert(entry.path.to_owned(), slot);
                Ok(())
            }
            EntryKind::File => self.file(entry),
            // Hard links carry no content of their own; their target is read where it lies.
            _ => Ok(()),
        }
    }

    fn file(&mut self, entry: Entry<'_>) -> Result<(), WalkError> {
        let Entry {
            layer_index,
            layer,
            path,
            size,
            reader,
            ..
        } = entry;
        let at = At { layer, path };
        let mut wanted: Vec<usize> = self
            .extractors
            .iter()
            .enumerate()
            .filter(|(_, e)| e.required(path))
            .map(|(i, _)| i)
            .collect();
        let distro_file = os_release::is_distro_file(path);

        let content = if !wanted.is_empty() || distro_file {
            let limit = if wanted.is_empty() {
                MAX_DISTRO_FILE_SIZE
            } else {
                self.max_file_size
            };
            if size > limit {
                self.skip(at, size, limit);
                return Ok(());
            }
            let Some(content) = read_bounded(reader, Vec::new(), size, limit, at)? else {
                self.skip(at, size, limit);
                return Ok(());
            };
            content
        } else {
            if size < MIN_BINARY_SIZE {
                return Ok(());
            }
            let mut head = Vec::with_capacity(MAGIC_LEN);
            reader
                .take(MAGIC_LEN as u64)
                .read_to_end(&mut head)
                .map_err(|e| read_error(at, e))?;
            if !self.extractors.iter().any(|e| e.required_by_magic(&head)) {
                return Ok(());
            }
            if size > self.max_binary_size {
                self.skip(at, size, self.max_binary_size);
                return Ok(());
            }
            let Some(content) = read_bounded(reader, head, size, self.max_binary_size, at)? else {
                self.skip(at, size, self.max_binary_size);
                return Ok(());
            };
            content
        };
        let head = &content[..content.len().min(MAGIC_LEN)];
        for (i, e) in self.extractors.iter().enumerate() {
            if !wanted.contains(&i) && e.required_by_magic(head) {
                wanted.push(i);
            }
        }

        let mut slot = Slot::new(layer_index, layer);
        let (deferred, now): (Vec<usize>, Vec<usize>) = wanted
            .into_iter()
            .partition(|&i| self.extractors[i].needs_distro());
        for i in now {
            let ex = self.extractors[i].as_ref();
            let input = ExtractInput {
                path,
                layer,
                content: &content,
                distro: None,
            };
            match run(ex, &input) {
                Ok(found) => slot.packages.extend(found),
                Err(msg) => self.warnings.push(warning(layer, ex.name(), &msg)),
            }
        }
        if !deferred.is_empty() || distro_file {
            slot.deferred = deferred;
            slot.content = Some(content);
        }
        if !slot.packages.is_empty() || slot.content.is_some() {
            self.files.insert(path.to_owned(), slot);
        }
        Ok(())
    }

    fn skip(&mut self, at: At<'_>, size: u64, limit: u64) {
        self.warnings.push(format!(
            "{}{}: skipped: {size} bytes exceeds the {limit} byte limit",
            layer_prefix(at.layer),
            at.path,
        ));
    }

    /// Whiteouts and opaque directories only hide what lower layers wrote (OCI image spec,
    /// "Whiteouts"); the same layer's own entries stay, whatever their tar order.
    fn drop_from_earlier_layers(&mut self, path: &str, including_self: bool) {
        let current = self.layer_index;
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        let mut doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, s)| s.layer_index < current)
            .map(|(k, _)| k.clone())
            .collect();
        if including_self
            && self
                .files
                .get(path)
                .is_some_and(|s| s.layer_index < current)
        {
            doomed.push(path.to_owned());
        }
        for k in doomed {
            self.files.remove(&k);
        }
    }
}

impl Slot {
    fn new(layer_index: usize, layer: Option<&Digest>) -> Self {
        Slot {
            layer_index,
            layer: layer.cloned(),
            packages: Vec::new(),
            content: None,
            deferred: Vec::new(),
            symlink: None,
        }
    }
}

/// Reads the rest of a file after `prefix`, refusing to hold more than `limit` bytes even if
/// the declared size lied. `None` means the limit was hit.
fn read_bounded(
    reader: &mut dyn Read,
    mut buf: Vec<u8>,
    declared: u64,
    limit: u64,
    at: At<'_>,
) -> Result<Option<Vec<u8>>, WalkError> {
    let already = buf.len() as u64;
    buf.reserve(declared.min(limit).saturating_sub(already) as usize);
    reader
        .take((limit + 1).saturating_sub(already))
        .read_to_end(&mut buf)
        .map_err(|e| read_error(at, e))?;
    Ok((buf.len() as u64 <= limit).then_some(buf))
}

/// Which file, for messages.
#[derive(Clone, Copy)]
struct At<'a> {
    layer: Option<&'a Digest>,
    path: &'a str,
}

/// The reader's error goes on unchanged: the walk tells a layer that failed under the file
/// (its real cause) from a file that could not be read.
fn read_error(at: At<'_>, e: std::io::Error) -> WalkError {
    WalkError::ReadContent {
        at: format!("{}{}", layer_prefix(at.layer), at.path),
        source: e,
    }
}

fn layer_prefix(layer: Option<&Digest>) -> String {
    layer.map(|l| format!("layer {l}: ")).unwrap_or_default()
}

fn warning(layer: Option<&Digest>, extractor: &str, msg: &str) -> String {
    format!("{}{extractor}: {msg}", layer_prefix(layer))
}

/// Runs one extractor, turning its error or panic into a message (the path is in it).
fn run(ex: &dyn Extractor, input: &ExtractInput<'_>) -> Result<Vec<Package>, String> {
    match catch_unwind(AssertUnwindSafe(|| ex.extract(input))) {
        Ok(Ok(mut pkgs)) => {
            for p in &mut pkgs {
                // The engine, not each extractor, vouches for the evidence.
                p.found_by = ex.name().to_owned();
                if p.locations.is_empty() {
                    p.locations.push(input.location());
                }
            }
            Ok(pkgs)
        }
        Ok(Err(e)) => Err(error_chain(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(format!("{}: extractor panicked: {what}", input.path))
        }
    }
}

/// Finds the release files in the final view, following `/etc/os-release`'s symlink.
fn detect_distro(files: &BTreeMap<String, Slot>) -> Option<Distro> {
    let content = |p: &str| files.get(p).and_then(|s| s.content.as_deref());
    let os_release = os_release::OS_RELEASE_PATHS
        .iter()
        .find_map(|p| resolve(files, p));
    os_release::detect(&DistroFiles {
        os_release,
        debian_version: content("/etc/debian_version"),
        alpine_release: content("/etc/alpine-release"),
        redhat_release: content("/etc/redhat-release"),
    })
}

/// Follows symlinks through the image's own files only: absolute targets start at the image
/// root, `..` stops at it, and the hop limit ends loops. The host filesystem is never looked at.
fn resolve<'a>(files: &'a BTreeMap<String, Slot>, path: &str) -> Option<&'a [u8]> {
    let mut cur = path.to_owned();
    for _ in 0..MAX_SYMLINK_HOPS {
        let slot = files.get(&cur)?;
        if let Some(c) = slot.content.as_deref() {
            return Some(c);
        }
        let target = slot.symlink.as_deref()?;
        let parent = cur.rsplit_once('/').map_or("", |(p, _)| p);
        cur = normalize(&if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("{parent}/{target}")
        });
    }
    None
}

/// Resolves `.` and `..` in an absolute path (`..` at the root stays at the root).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Merges packages that differ only in where they were found, then sorts.
fn merge_and_sort(packages: Vec<Package>) -> Vec<Package> {
    let mut merged: BTreeMap<Package, Vec<Location>> = BTreeMap::new();
    for mut p in packages {
        let locs = std::mem::take(&mut p.locations);
        merged.entry(p).or_default().extend(locs);
    }
    let mut out: Vec<Package> = merged
        .into_iter()
        .map(|(mut p, mut locs)| {
            locs.sort();
            locs.dedup();
            p.locations = locs;
            p
        })
        .collect();
    out.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, a.locations.first())
            .cmp(&(b.ecosystem, &b.name, &b.version, b.locations.first()))
            .then_with(|| a.cmp(b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_relative_symlink_targets() {
        assert_eq!(
            normalize("/etc/../usr/lib/os-release"),
            "/usr/lib/os-release"
        );
        assert_eq!(normalize("/../../x"), "/x");
        assert_eq!(normalize("/a/./b/"), "/a/b");
    }
}
