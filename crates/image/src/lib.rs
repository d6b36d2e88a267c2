//! Image sources (registry, OCI layout, docker archive, dir) and the one-pass layer walk.
//!
//! Every way an image can live ends in the same thing: a [`ResolvedImage`], an ordered list of
//! layers that [`walk`] reads once, bottom to top, applying whiteouts, handing each entry to one
//! callback. Consumers never traverse a filesystem themselves.

mod walk;

pub use walk::{Entry, EntryKind, Event, WalkError};
