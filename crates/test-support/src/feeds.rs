//! Advisory feeds served locally for `serve`'s DB updates, from the test data: what tests and
//! benchmarks change under a running service to see it follow.

/// Two advisory feeds served locally: the Debian DSA list from the start, and the PyPA
/// advisories (as OSV's `all.zip`) once [`Feeds::add_pypi`] puts them in the sources file that
/// `--db-config` names.
pub struct Feeds {
    _server: crate::http::HttpServer,
    sources: std::path::PathBuf,
    debian: String,
    base: String,
}

impl Feeds {
    /// The feeds from test data `td`, served from a mirror under `dir`.
    pub fn new(td: &std::path::Path, dir: &std::path::Path) -> Feeds {
        let mirror = dir.join("mirror");
        std::fs::create_dir_all(mirror.join("debian")).expect("mkdir");
        std::fs::copy(
            td.join("advisories/debian-security-tracker/data/DSA/list"),
            mirror.join("debian/DSA-list"),
        )
        .expect("copy DSA list");
        let zipped = std::process::Command::new("python3")
            .args([
                "-c",
                "import os, sys, zipfile\nz = zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED)\nfor root, _, files in os.walk(sys.argv[1]):\n    for f in files: z.write(os.path.join(root, f), f)",
            ])
            .arg(td.join("advisories/pypi/vulns"))
            .arg(mirror.join("pypi-all.zip"))
            .status()
            .expect("python3");
        assert!(zipped.success());
        let server = crate::http::HttpServer::files(&mirror);
        let base = server.base_url();
        let sources = dir.join("sources.yaml");
        let debian = format!(
            "sources:\n- {{name: debian-dsa, url: '{base}/debian/DSA-list', format: debian-tracker}}\n"
        );
        std::fs::write(&sources, &debian).expect("write sources");
        Feeds {
            _server: server,
            sources,
            debian,
            base,
        }
    }

    /// The sources file (`--db-config`, `db update --config`).
    pub fn sources(&self) -> &std::path::Path {
        &self.sources
    }

    /// `serve` flags that update from these feeds every `interval`.
    pub fn args(&self, interval: &str) -> [std::ffi::OsString; 4] {
        [
            "--db-config".into(),
            self.sources.clone().into(),
            "--db-update-interval".into(),
            interval.into(),
        ]
    }

    /// Adds the PyPA advisories to the sources file.
    pub fn add_pypi(&self) {
        std::fs::write(
            &self.sources,
            format!(
                "{}- {{name: osv-pypi, url: '{}/pypi-all.zip', format: osv}}\n",
                self.debian, self.base
            ),
        )
        .expect("write sources");
    }
}
