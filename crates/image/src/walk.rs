//! The one-pass walk over an image's layers.
//!
//! CONTRACT (shared with `portcullis-catalog`, do not change without updating it):
//! `walk(&ResolvedImage, &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>) -> Result<(), WalkError>`
//! emits, for each layer bottom first: `LayerStart`, then that layer's entries in tar order as
//! `Entry` / `Whiteout` / `Opaque`, then `LayerEnd`. Paths are absolute, normalised (`/a/b`,
//! no `.`/`..`, no trailing slash). A whiteout `Whiteout { path }` means `path` and everything
//! under it is deleted as of this layer; `Opaque { dir }` means everything under `dir` that came
//! from earlier layers is deleted. A later `Entry` for a path replaces any earlier one. The
//! callback may read a file's content through `Entry::reader` (bounded by the caller); content
//! not read is skipped by the engine.
//!
//! Further guarantees of this implementation:
//! - The root directory itself (`./` in a tar, the `dir:` root) is not emitted as an entry.
//! - Whiteout marker files (`.wh.*`) are never emitted as entries, only as `Whiteout`/`Opaque`.
//! - Entries whose path (or hardlink target) climbs out of the root with `..` are skipped with
//!   a warning; the walk goes on.
//! - Memory is bounded: a layer is streamed through a small queue of 256 KiB chunks; the
//!   decompression runs on a second thread while the callback runs on the caller's.
//! - A layer whose digest is known is hashed while streamed; a mismatch is an error after the
//!   layer's last entry and before its `LayerEnd`.
//! - Warnings (skipped entries, unreadable files of a `dir:` source) are logged with
//!   returned by [`walk_with_warnings`] (and logged by [`walk`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use portcullis_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::options::Limits;
use crate::{Layer, ResolvedImage, Source, Verify};

/// Size of the chunks the decoder thread hands over, and of the read buffer.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the decoder thread and the walker (bounds memory to ~2 MiB).
const QUEUE: usize = 8;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file; its content can be read from [`Entry::reader`].
    File,
    /// A directory.
    Dir,
    /// A symbolic link with its target exactly as stored (may be relative or absolute).
    Symlink {
        /// Link target as stored in the layer.
        target: String,
    },
    /// A hard link to another path in the image (normalised, absolute).
    Hardlink {
        /// Path of the link target inside the image.
        target: String,
    },
    /// Anything else (devices, fifos): listed for completeness, never read.
    Other,
}

/// One entry of a layer.
pub struct Entry<'a> {
    /// Index of the layer, bottom first (0 for a `dir:` source).
    pub layer_index: usize,
    /// Layer digest (`sha256:...`) as in the manifest; `None` for a `dir:` source.
    pub layer: Option<&'a Digest>,
    /// Absolute normalised path inside the image.
    pub path: &'a str,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes (0 for non-files).
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    /// The file's content, for `EntryKind::File`; reading is optional.
    pub reader: &'a mut dyn Read,
}

/// Events of the walk, in order.
pub enum Event<'a> {
    /// A layer begins.
    LayerStart {
        /// Index, bottom first.
        index: usize,
        /// Digest, when the source has one.
        digest: Option<&'a Digest>,
    },
    /// An entry of the current layer.
    Entry(Entry<'a>),
    /// `path` and everything below it is deleted as of this layer.
    Whiteout {
        /// The deleted path.
        path: &'a str,
    },
    /// Everything below `dir` from earlier layers is deleted.
    Opaque {
        /// The opaque directory.
        dir: &'a str,
    },
    /// The current layer ended.
    LayerEnd {
        /// Index, bottom first.
        index: usize,
    },
}

/// Errors of the walk. Each names the layer (`layer N (sha256:...)` or `dir PATH`).
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The consumer of the walk failed; the walk stops.
    #[error("{0}")]
    Consumer(String),
    /// The consumer could not read a file's content (`at` names the layer and path). Consumers
    /// pass the reader's error on here unchanged: when the layer stream itself failed under the
    /// file, the walk reports that instead, with its real cause.
    #[error("{at}: reading content")]
    ReadContent {
        /// Where: the layer and the path.
        at: String,
        /// The reader's error.
        #[source]
        source: io::Error,
    },
    /// The layer's blob (or the `dir:` root) could not be opened.
    #[error("{layer}: cannot open {path}")]
    Open {
        /// The layer.
        layer: String,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// The layer is truncated or corrupt (bad compression, bad tar, short read).
    #[error("{layer}: truncated or corrupt layer (last entry read: {})", last_path.as_deref().unwrap_or("none"))]
    Corrupt {
        /// The layer.
        layer: String,
        /// The last path read before the failure, raw as stored.
        last_path: Option<String>,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The layer's bytes do not hash to its digest.
    #[error("{layer}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The layer.
        layer: String,
        /// The digest the manifest names.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// The layer's blob is shorter than the manifest says.
    #[error("{layer}: blob is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The layer.
        layer: String,
        /// Declared size.
        expected: u64,
        /// Bytes actually read.
        actual: u64,
    },
    /// The layer has more entries than [`Limits::max_entries_per_layer`].
    #[error("{layer}: more than {limit} entries in one layer (limit; raise it in the walk limits)")]
    TooManyEntries {
        /// The layer.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// The image decompresses to more than [`Limits::max_total_bytes`].
    #[error(
        "{layer}: the image decompresses to more than {limit} bytes{} (limit; a decompression bomb?)",
        at_path(.path)
    )]
    TooLarge {
        /// The layer where the limit was crossed.
        layer: String,
        /// The file being read when it was crossed (`None` before the first entry).
        path: Option<String>,
        /// The limit.
        limit: u64,
    },
}

fn at_path(path: &Option<String>) -> String {
    path.as_ref()
        .map(|p| format!(" while reading `{p}`"))
        .unwrap_or_default()
}

/// Walks every layer of `img` once, bottom first; see the module docs for the event order and
/// guarantees. Warnings are logged with `tracing::warn!` and otherwise dropped; use
/// [`walk_with_warnings`] to get them.
pub fn walk(
    img: &ResolvedImage,
    f: &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
) -> Result<(), WalkError> {
    for w in walk_with_warnings(img, f)? {
        tracing::warn!("{w}");
    }
    Ok(())
}

/// [`walk`], returning the warnings (skipped entries and files, one sentence each naming the
/// layer and path), e.g. for `Inventory::warnings`, for the caller to say once (they are only
/// logged at debug level here).
pub fn walk_with_warnings(
    img: &ResolvedImage,
    f: &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
) -> Result<Vec<String>, WalkError> {
    let mut ctx = Ctx {
        limits: img.limits,
        total: Cell::new(0),
        warnings: Vec::new(),
    };
    for (index, layer) in img.layers.iter().enumerate() {
        f(Event::LayerStart {
            index,
            digest: layer.digest.as_ref(),
        })?;
        match &layer.source {
            Source::Dir(root) => walk_dir(root, f, &mut ctx)?,
            Source::Blob {
                path,
                offset,
                len,
                verify,
            } => {
                let blob = Blob {
                    path,
                    offset: *offset,
                    len: *len,
                    verify,
                };
                walk_blob(index, layer, &blob, f, &mut ctx)?;
            }
        }
        f(Event::LayerEnd { index })?;
    }
    Ok(ctx.warnings)
}

struct Ctx {
    limits: Limits,
    /// Uncompressed bytes read so far, over all layers.
    total: Cell<u64>,
    warnings: Vec<String>,
}

impl Ctx {
    fn warn(&mut self, msg: String) {
        tracing::debug!("{msg}");
        self.warnings.push(msg);
    }
}

fn label(index: usize, layer: &Layer) -> String {
    match (&layer.digest, &layer.source) {
        (Some(d), _) => format!("layer {index} ({d})"),
        (None, Source::Dir(p)) => format!("dir {}", p.display()),
        (None, Source::Blob { path, offset, .. }) => {
            format!("layer {index} ({}@{offset})", path.display())
        }
    }
}

/// `./a//b/../c/` → `/a/c`; `None` if `..` climbs above the root.
pub(crate) fn normalize(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::with_capacity(16);
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Some("/".to_owned());
    }
    let mut out = String::with_capacity(raw.len() + 1);
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    Some(out)
}

/// Splits a normalised path into `(parent, name)`; the parent of `/x` is `/`.
fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

// ---------------------------------------------------------------------------------------------
// Tar layers

struct Blob<'a> {
    path: &'a Path,
    offset: u64,
    len: u64,
    verify: &'a Verify,
}

/// What the decoder thread saw, for verification once the stream is done.
struct Produced {
    stored_bytes: u64,
    stored_digest: Option<String>,
    uncompressed_digest: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
    None,
}

fn sniff(head: &[u8]) -> Result<Compression, &'static str> {
    match head {
        [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err("xz"),
        [b'B', b'Z', b'h', ..] => Err("bzip2"),
        _ => Ok(Compression::None),
    }
}

/// Counts and (optionally) hashes what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

fn read_fully(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decoder thread: reads the stored blob, hashes it, decompresses, and sends chunks of the
/// tar stream. Returns `None` when the walker hung up or an error was sent to it.
fn produce(
    raw: impl Read,
    verify: &Verify,
    tx: SyncSender<io::Result<Vec<u8>>>,
    recycle: Receiver<Vec<u8>>,
) -> Option<Produced> {
    let mut stored = Hashing {
        inner: raw,
        hasher: matches!(verify, Verify::Stored(_)).then(Sha256::new),
        count: 0,
    };
    let mut uncompressed = matches!(verify, Verify::Uncompressed(_)).then(Sha256::new);
    let result = (|| -> io::Result<bool> {
        let mut head = [0u8; 6];
        let n = read_fully(&mut stored, &mut head)?;
        let compression = sniff(&head[..n]).map_err(|what| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} compression is not supported"),
            )
        })?;
        let src = BufReader::with_capacity(
            CHUNK,
            io::Cursor::new(head[..n].to_vec()).chain(&mut stored),
        );
        let mut dec: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(src)),
            Compression::Zstd => Box::new(zstd::Decoder::with_buffer(src)?),
            Compression::None => Box::new(src),
        };
        loop {
            let mut buf = recycle.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let n = read_fully(&mut *dec, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if let Some(h) = &mut uncompressed {
                h.update(&buf);
            }
            if tx.send(Ok(buf)).is_err() {
                return Ok(false);
            }
        }
        drop(dec);
        // Whatever follows the compressed stream still belongs to the blob's digest.
        io::copy(&mut stored, &mut io::sink())?;
        Ok(true)
    })();
    match result {
        Ok(true) => Some(Produced {
            stored_bytes: stored.count,
            stored_digest: stored
                .hasher
                .map(|h| format!("sha256:{}", hex::encode(h.finalize()))),
            uncompressed_digest: uncompressed
                .map(|h| format!("sha256:{}", hex::encode(h.finalize()))),
        }),
        Ok(false) => None,
        Err(e) => {
            let _ = tx.send(Err(e));
            None
        }
    }
}

/// Why reading a layer's stream failed, carried as the payload of the `io::Error` the walker's
/// readers return. It survives the tar reader and the consumer (which passes read errors on in
/// [`WalkError::ReadContent`]), so each failure is classified once, in [`classify`], by what
/// actually went wrong rather than by where the error surfaced.
#[derive(Debug, thiserror::Error)]
enum LayerFault {
    /// More than [`Limits::max_total_bytes`] decompressed.
    #[error("uncompressed size limit exceeded")]
    TooLarge,
    /// The stored stream does not decode (bad compression, short blob).
    #[error(transparent)]
    Decode(io::Error),
    /// The tar stream ends inside a file's content while the stream itself decoded cleanly.
    #[error("{0}")]
    ShortEntry(String),
}

impl LayerFault {
    fn into_io(self, kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, self)
    }

    /// The fault an `io::Error` carries, if it is one of ours.
    fn take(e: io::Error) -> Result<LayerFault, io::Error> {
        if !e.get_ref().is_some_and(|inner| inner.is::<LayerFault>()) {
            return Err(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<LayerFault>()) {
            Some(Ok(fault)) => Ok(*fault),
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(io::Error::from(kind)),
        }
    }
}

/// The walker's end of the queue: a `Read` over the decoded chunks.
struct ChunkReader<'a> {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    total: &'a Cell<u64>,
    limit: u64,
    over_limit: bool,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.over_limit {
                return Err(LayerFault::TooLarge.into_io(io::ErrorKind::Other));
            }
            if self.pos < self.cur.len() {
                let n = out.len().min(self.cur.len() - self.pos);
                out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(buf)) => {
                    let total = self.total.get() + buf.len() as u64;
                    self.total.set(total);
                    self.over_limit = total > self.limit;
                    let old = std::mem::replace(&mut self.cur, buf);
                    let _ = self.recycle.send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    let kind = e.kind();
                    return Err(LayerFault::Decode(e).into_io(kind));
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
    }
}

/// The fault a failed walk's error carries, wherever it surfaced (the tar reader, or a
/// consumer reading a file's content); the failure itself when it carries none.
fn carried_fault(failure: TarFailure) -> Result<LayerFault, TarFailure> {
    match failure {
        TarFailure::Io(e) => LayerFault::take(e).map_err(TarFailure::Io),
        TarFailure::Walk(WalkError::ReadContent { at, source }) => LayerFault::take(source)
            .map_err(|source| TarFailure::Walk(WalkError::ReadContent { at, source })),
        other => Err(other),
    }
}

/// Classifies a failed layer walk once, by its [`carried_fault`]. `Ok` is a warning: the tar
/// archive ends early although its stream decoded cleanly, so what was read is real and the
/// walk goes on to verify the rest of the blob; the entries after it are missing.
fn classify(
    carried: Result<LayerFault, TarFailure>,
    label: &str,
    last_path: &Option<String>,
    limit: u64,
) -> Result<String, WalkError> {
    let short = |why: &dyn std::fmt::Display| {
        format!(
            "{label}: tar archive ends early after `{}` ({why}); entries after it are missing",
            last_path.as_deref().unwrap_or("-")
        )
    };
    match carried {
        Ok(LayerFault::TooLarge) => Err(WalkError::TooLarge {
            layer: label.to_owned(),
            path: last_path.clone(),
            limit,
        }),
        Ok(LayerFault::Decode(source)) => Err(WalkError::Corrupt {
            layer: label.to_owned(),
            last_path: last_path.clone(),
            source,
        }),
        Ok(LayerFault::ShortEntry(why)) => Ok(short(&why)),
        // A tar-level error in a cleanly decoded stream: the archive itself is short or bad.
        Err(TarFailure::Io(tar_err)) => Ok(short(&tar_err)),
        Err(TarFailure::Walk(e)) => Err(e),
    }
}

fn walk_blob(
    index: usize,
    layer: &Layer,
    blob: &Blob<'_>,
    f: &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
    ctx: &mut Ctx,
) -> Result<(), WalkError> {
    let label = label(index, layer);
    let open_err = |source| WalkError::Open {
        layer: label.clone(),
        path: blob.path.to_owned(),
        source,
    };
    let mut file = File::open(blob.path).map_err(open_err)?;
    if blob.offset > 0 {
        file.seek(SeekFrom::Start(blob.offset)).map_err(open_err)?;
    }
    let raw = file.take(blob.len);
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let (recycle_tx, recycle_rx) = mpsc::channel();
    let limit = ctx.limits.max_total_bytes;
    let verify = blob.verify;
    let mut tar = TarWalk {
        index,
        digest: layer.digest.as_ref(),
        label: &label,
        limits: ctx.limits,
        f,
        warnings: Vec::new(),
        last_path: None,
    };

    let (walked, produced) = std::thread::scope(|s| {
        let producer = s.spawn(move || produce(raw, verify, tx, recycle_rx));
        let mut reader = ChunkReader {
            rx,
            recycle: recycle_tx,
            cur: Vec::new(),
            pos: 0,
            done: false,
            total: &ctx.total,
            limit,
            over_limit: false,
        };
        let walked = match tar.read(&mut reader) {
            Ok(()) => Ok(None),
            Err(e) => classify(carried_fault(e), &label, &tar.last_path, limit).map(Some),
        }
        .and_then(|short| {
            // Read to the end so the decoder sees (and hashes) the whole blob. The tar is
            // done: what fails now is the stream under it.
            match io::copy(&mut reader, &mut io::sink()) {
                Ok(_) => Ok(short),
                Err(e) => match LayerFault::take(e) {
                    Ok(fault) => classify(Ok(fault), &label, &tar.last_path, limit).map(|_| short),
                    Err(source) => Err(WalkError::Corrupt {
                        layer: label.clone(),
                        last_path: tar.last_path.clone(),
                        source,
                    }),
                },
            }
        });
        // Hang up before joining, so a decoder blocked on a full queue stops.
        drop(reader);
        (walked, producer.join())
    });
    let TarWalk {
        warnings,
        last_path,
        ..
    } = tar;
    for w in warnings {
        ctx.warn(w);
    }
    if let Some(w) = walked? {
        ctx.warn(w);
    }
    let produced = match produced {
        Ok(Some(p)) => p,
        // The decoder only stops without a result after an error it sent, which the reader
        // turned into `Corrupt` above; a panic lands here.
        _ => {
            return Err(WalkError::Corrupt {
                layer: label,
                last_path,
                source: io::Error::other("layer decoder thread failed"),
            });
        }
    };
    if produced.stored_bytes != blob.len {
        return Err(WalkError::SizeMismatch {
            layer: label,
            expected: blob.len,
            actual: produced.stored_bytes,
        });
    }
    let (expected, actual) = match blob.verify {
        Verify::None => return Ok(()),
        Verify::Stored(d) => (d, produced.stored_digest),
        Verify::Uncompressed(d) => (d, produced.uncompressed_digest),
    };
    match actual {
        Some(a) if a == expected.as_str() => Ok(()),
        a => Err(WalkError::DigestMismatch {
            layer: label,
            expected: expected.to_string(),
            actual: a.unwrap_or_default(),
        }),
    }
}

/// A file's content that ends early is an error, not a short file: the tar crate's entry
/// reader reports a layer cut inside a file as a clean end.
struct Exact<'a, R> {
    inner: R,
    path: &'a str,
    size: u64,
    remaining: u64,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            let msg = format!(
                "layer ends inside `{}` ({} of {} bytes)",
                self.path,
                self.size - self.remaining,
                self.size
            );
            return Err(LayerFault::ShortEntry(msg).into_io(io::ErrorKind::UnexpectedEof));
        }
        self.remaining = self.remaining.saturating_sub(n as u64);
        Ok(n)
    }
}

enum TarFailure {
    /// The consumer or a limit stopped the walk.
    Walk(WalkError),
    /// Reading the stream failed.
    Io(io::Error),
}

/// One tar layer being walked: what the events need, and what the walk leaves behind.
struct TarWalk<'a, 'f> {
    index: usize,
    digest: Option<&'a Digest>,
    label: &'a str,
    limits: Limits,
    f: &'f mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
    /// Entries skipped, one sentence each.
    warnings: Vec<String>,
    /// The last path read, raw as stored: where a failure happened.
    last_path: Option<String>,
}

impl TarWalk<'_, '_> {
    fn read(&mut self, reader: &mut dyn Read) -> Result<(), TarFailure> {
        let (index, digest, label, limits) = (self.index, self.digest, self.label, self.limits);
        let f = &mut *self.f;
        let warnings = &mut self.warnings;
        let last_path = &mut self.last_path;
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(TarFailure::Io)?;
        let mut count: u64 = 0;
        let mut empty = io::empty();
        for entry in entries {
            let mut entry = entry.map_err(TarFailure::Io)?;
            count += 1;
            if count > limits.max_entries_per_layer {
                return Err(TarFailure::Walk(WalkError::TooManyEntries {
                    layer: label.to_owned(),
                    limit: limits.max_entries_per_layer,
                }));
            }
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = normalize(&raw) else {
                warnings.push(format!(
                    "{label}: skipped `{raw}`: path escapes the image root"
                ));
                *last_path = Some(raw);
                continue;
            };
            *last_path = Some(raw);
            if path == "/" {
                continue;
            }
            let header = entry.header();
            let et = header.entry_type();
            if et.is_pax_global_extensions()
                || et.is_pax_local_extensions()
                || et.is_gnu_longname()
                || et.is_gnu_longlink()
            {
                continue;
            }
            let (parent, name) = split_parent(&path);
            if let Some(hidden) = name.strip_prefix(".wh.") {
                if hidden == ".wh..opq" {
                    f(Event::Opaque { dir: parent }).map_err(TarFailure::Walk)?;
                } else if hidden.is_empty() || hidden.starts_with(".wh.") {
                    // AUFS bookkeeping (`.wh..wh.plnk` ...), not a deletion.
                } else {
                    let target = join(parent, hidden);
                    f(Event::Whiteout { path: &target }).map_err(TarFailure::Walk)?;
                }
                continue;
            }
            let mode = header.mode().unwrap_or(0) & 0o7777;
            let kind = match et {
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => EntryKind::Symlink {
                    target: entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default(),
                },
                tar::EntryType::Link => {
                    let raw_target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned());
                    match raw_target
                        .as_deref()
                        .and_then(normalize)
                        .filter(|t| t != "/")
                    {
                        Some(target) => EntryKind::Hardlink { target },
                        None => {
                            warnings.push(format!(
                            "{label}: skipped hardlink `{path}` -> `{}`: target escapes the image root",
                            raw_target.unwrap_or_default()
                        ));
                            continue;
                        }
                    }
                }
                _ => EntryKind::Other,
            };
            let size = if kind == EntryKind::File {
                entry.size()
            } else {
                0
            };
            let mut exact = Exact {
                inner: &mut entry,
                path: &path,
                size,
                remaining: size,
            };
            let reader: &mut dyn Read = if kind == EntryKind::File {
                &mut exact
            } else {
                &mut empty
            };
            f(Event::Entry(Entry {
                layer_index: index,
                layer: digest,
                path: &path,
                kind,
                size,
                mode,
                reader,
            }))
            .map_err(TarFailure::Walk)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Root filesystem directories

/// Walks `root` depth first in byte order of names, never following symlinks. A file seen
/// again through another hard link is a `Hardlink` to the first path, as in a tar layer.
fn walk_dir(
    root: &Path,
    f: &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
    ctx: &mut Ctx,
) -> Result<(), WalkError> {
    let label = format!("dir {}", root.display());
    let children = std::fs::read_dir(root).map_err(|source| WalkError::Open {
        layer: label.clone(),
        path: root.to_owned(),
        source,
    })?;
    let mut stack: Vec<(PathBuf, String)> = Vec::new();
    push_children(children, root, "/", &label, &mut stack, ctx);
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    let mut count: u64 = 0;
    while let Some((fs_path, path)) = stack.pop() {
        count += 1;
        if count > ctx.limits.max_entries_per_layer {
            return Err(WalkError::TooManyEntries {
                layer: label,
                limit: ctx.limits.max_entries_per_layer,
            });
        }
        let meta = match std::fs::symlink_metadata(&fs_path) {
            Ok(m) => m,
            Err(e) => {
                ctx.warn(format!("{label}: skipped `{path}`: {e}"));
                continue;
            }
        };
        let ft = meta.file_type();
        let mode = file_mode(&meta);
        if ft.is_symlink() {
            let target = match std::fs::read_link(&fs_path) {
                Ok(t) => t.to_string_lossy().into_owned(),
                Err(e) => {
                    ctx.warn(format!("{label}: skipped symlink `{path}`: {e}"));
                    continue;
                }
            };
            let kind = EntryKind::Symlink { target };
            emit(f, &path, kind, 0, mode, &mut io::empty())?;
        } else if ft.is_dir() {
            emit(f, &path, EntryKind::Dir, 0, mode, &mut io::empty())?;
            match std::fs::read_dir(&fs_path) {
                Ok(children) => push_children(children, &fs_path, &path, &label, &mut stack, ctx),
                Err(e) => ctx.warn(format!("{label}: cannot list `{path}`: {e}")),
            }
        } else if ft.is_file() {
            if let Some(key) = hardlink_key(&meta) {
                if let Some(first) = inodes.get(&key) {
                    let kind = EntryKind::Hardlink {
                        target: first.clone(),
                    };
                    emit(f, &path, kind, 0, mode, &mut io::empty())?;
                    continue;
                }
                inodes.insert(key, path.clone());
            }
            let file = match File::open(&fs_path) {
                Ok(file) => file,
                Err(e) => {
                    ctx.warn(format!("{label}: skipped unreadable file `{path}`: {e}"));
                    continue;
                }
            };
            let size = meta.len();
            let mut reader = Hashing {
                inner: BufReader::with_capacity(64 << 10, file.take(size)),
                hasher: None,
                count: 0,
            };
            emit(f, &path, EntryKind::File, size, mode, &mut reader)?;
            let total = ctx.total.get() + reader.count;
            ctx.total.set(total);
            if total > ctx.limits.max_total_bytes {
                return Err(WalkError::TooLarge {
                    layer: label,
                    path: Some(path),
                    limit: ctx.limits.max_total_bytes,
                });
            }
        } else {
            emit(f, &path, EntryKind::Other, 0, mode, &mut io::empty())?;
        }
    }
    Ok(())
}

fn emit(
    f: &mut dyn FnMut(Event<'_>) -> Result<(), WalkError>,
    path: &str,
    kind: EntryKind,
    size: u64,
    mode: u32,
    reader: &mut dyn Read,
) -> Result<(), WalkError> {
    f(Event::Entry(Entry {
        layer_index: 0,
        layer: None,
        path,
        kind,
        size,
        mode,
        reader,
    }))
}

/// Pushes the children of a directory in reverse name order, so they pop in order.
fn push_children(
    children: std::fs::ReadDir,
    fs_dir: &Path,
    dir: &str,
    label: &str,
    stack: &mut Vec<(PathBuf, String)>,
    ctx: &mut Ctx,
) {
    let mut names = Vec::new();
    for child in children {
        match child {
            Ok(c) => names.push(c.file_name()),
            Err(e) => ctx.warn(format!("{label}: cannot list `{dir}`: {e}")),
        }
    }
    names.sort();
    for name in names.into_iter().rev() {
        let path = join(dir, &name.to_string_lossy());
        stack.push((fs_dir.join(&name), path));
    }
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

#[cfg(unix)]
fn hardlink_key(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn hardlink_key(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_paths() {
        assert_eq!(normalize("./usr/bin/").as_deref(), Some("/usr/bin"));
        assert_eq!(normalize("/etc//passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(normalize("a/./b/../c").as_deref(), Some("/a/c"));
        assert_eq!(normalize("./").as_deref(), Some("/"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("a/../../etc"), None);
        assert_eq!(split_parent("/a/b"), ("/a", "b"));
        assert_eq!(split_parent("/a"), ("/", "a"));
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }

    #[test]
    fn sniff_magic() {
        assert!(sniff(&[0x1f, 0x8b, 8, 0]) == Ok(Compression::Gzip));
        assert!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]) == Ok(Compression::Zstd));
        assert!(sniff(b"usr/\0\0") == Ok(Compression::None));
        assert!(sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0]) == Err("xz"));
        assert!(sniff(b"") == Ok(Compression::None));
    }
}
