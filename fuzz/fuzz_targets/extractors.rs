//! Package databases, lockfiles and binaries: every extractor that takes a file (by its path,
//! or by its first bytes as binaries are) reads any content to packages or a clean error. The
//! first byte picks the path, so each extractor sees its own kind of file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_catalog::{ExtractInput, MAGIC_LEN, default_extractors};
use portcullis_core::Distro;

const PATHS: &[&str] = &[
    "/var/lib/dpkg/status",
    "/var/lib/dpkg/status.d/base",
    "/lib/apk/db/installed",
    "/var/lib/rpm/Packages",
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
    "/usr/lib/python3/dist-packages/x-1.0.egg-info/PKG-INFO",
    "/srv/app/node_modules/x/package.json",
    "/srv/app/package-lock.json",
    "/srv/app/yarn.lock",
    "/srv/app/pnpm-lock.yaml",
    "/usr/local/bin/app",
    "/srv/app/Cargo.lock",
    "/srv/app/lib/x-1.0.jar",
    "/usr/share/gems/specifications/x-1.0.gemspec",
    "/srv/app/Gemfile.lock",
    "/srv/app/composer.lock",
    "/srv/app/vendor/composer/installed.json",
    "/srv/app/x.deps.json",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let path = PATHS[pick as usize % PATHS.len()];
    let distro = Distro {
        id: "debian".into(),
        version_id: Some("12".into()),
        codename: Some("bookworm".into()),
        ..Distro::default()
    };
    let head = &content[..content.len().min(MAGIC_LEN)];
    for e in default_extractors() {
        if !(e.required(path) || e.required_by_magic(head)) {
            continue;
        }
        let input = ExtractInput {
            path,
            layer: None,
            content,
            distro: Some(&distro),
        };
        if let Ok(packages) = e.extract(&input) {
            for p in packages {
                assert!(!p.name.is_empty(), "{}: a package without a name", e.name());
            }
        }
    }
});
