//! Extractors: one per package format, fed by the image walk.
//!
//! The engine walks; extractors only choose and parse. [`Cataloger`] consumes the events of
//! `portcullis_image::walk` (one pass over the layers, bottom first), asks each
//! [`Extractor`] whether it wants a path, reads only those files, and keeps the results
//! with overlay semantics (later layers replace, whiteouts delete). At the end it tells the
//! distro from os-release and hands back the inventory:
//!
//! ```ignore
//! # fn demo(img: &portcullis_image::ResolvedImage) -> Result<(), portcullis_image::WalkError> {
//! let mut cataloger = portcullis_catalog::Cataloger::default();
//! portcullis_image::walk(img, &mut |ev| cataloger.on_event(ev))?;
//! let (distro, packages, warnings) = cataloger.finish();
//! # Ok(()) }
//! ```
//!
//! Extractor failures never stop a scan: a malformed file (or a panicking extractor) becomes
//! a warning naming the layer, the extractor and the file, and everything else is still
//! reported.

mod cataloger;
mod extractor;
pub mod lang;
pub mod os;
mod util;

pub use cataloger::{Cataloger, DEFAULT_MAX_BINARY_SIZE, DEFAULT_MAX_FILE_SIZE};
pub use extractor::{ExtractError, ExtractInput, Extractor, MAGIC_LEN, Result};

/// Every extractor of this crate, OS databases first.
pub fn default_extractors() -> Vec<Box<dyn Extractor>> {
    vec![
        Box::new(os::Dpkg),
        Box::new(os::Apk),
        Box::new(os::Rpm),
        Box::new(lang::PythonDistInfo),
        Box::new(lang::NpmPackageJson),
        Box::new(lang::NpmPackageLock),
        Box::new(lang::YarnLock),
        Box::new(lang::PnpmLock),
        Box::new(lang::GoBinary),
        Box::new(lang::CargoLock),
        Box::new(lang::CargoAuditable),
        Box::new(lang::JavaArchive),
        Box::new(lang::Gemspec),
        Box::new(lang::GemfileLock),
        Box::new(lang::ComposerLock),
        Box::new(lang::ComposerInstalled),
        Box::new(lang::DotnetDepsJson),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn extractor_names_are_unique() {
        let all = super::default_extractors();
        let names: BTreeSet<&str> = all.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), all.len());
    }
}
