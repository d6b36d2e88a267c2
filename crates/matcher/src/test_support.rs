//! Finding the third-party test data (never copied into the repository).

use std::path::PathBuf;

/// The test data folder `sub` under `PORTCULLIS_TESTDATA` (default: `../shared/testdata` next to
/// the workspace). `None` with a printed reason when it is missing, except under `CI=true`,
/// where missing data fails the test.
pub(crate) fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PORTCULLIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata"
            ))
        });
    let dir = root.join(sub);
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "test data {} is missing (CI=true)",
        dir.display()
    );
    eprintln!("skipping: test data {} is missing", dir.display());
    None
}
