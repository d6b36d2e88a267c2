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

use std::io::Read;

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
    pub layer: Option<&'a str>,
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
        digest: Option<&'a str>,
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

/// Errors of the walk. (The image-crate owner extends this.)
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The consumer of the walk failed; the walk stops.
    #[error("{0}")]
    Consumer(String),
}
