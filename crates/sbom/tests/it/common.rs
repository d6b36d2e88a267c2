//! A realistic inventory and the helpers the other modules share.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use portcullis_core::{Distro, Ecosystem, ImageInfo, Inventory, Location, Package, SourcePackage};
use portcullis_sbom::EncodeOptions;

pub(crate) const LAYER_1: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub(crate) const LAYER_2: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn loc(layer: &str, path: &str) -> Location {
    Location {
        layer: Some(layer.parse().expect("digest")),
        path: path.to_string(),
    }
}

fn pkg(
    name: &str,
    version: &str,
    ecosystem: Ecosystem,
    purl: &str,
    found_by: &str,
    locations: Vec<Location>,
) -> Package {
    Package {
        module: None,
        name: name.into(),
        version: version.into(),
        ecosystem,
        purl: purl.into(),
        source: None,
        found_by: found_by.into(),
        locations,
        arch: None,
        licenses: Vec::new(),
    }
}

/// A Debian image with OS packages (one with a source package and an epoch, one found
/// twice), and PyPI, scoped npm, Maven and Go packages, with licenses of every kind.
pub(crate) fn realistic_inventory() -> Inventory {
    let mut libc = pkg(
        "libc6",
        "2.36-9+deb12u4",
        Ecosystem::Debian,
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        "os/dpkg",
        vec![loc(LAYER_1, "/var/lib/dpkg/status")],
    );
    libc.source = Some(SourcePackage {
        name: "glibc".into(),
        version: "2.36-9+deb12u4".into(),
    });
    libc.arch = Some("amd64".into());
    libc.licenses = vec!["LGPL-2.1-or-later".into(), "GPL-2+".into()];

    let mut login = pkg(
        "login",
        "1:4.13+dfsg1-1",
        Ecosystem::Debian,
        "pkg:deb/debian/login@1:4.13%2Bdfsg1-1?arch=amd64&distro=debian-12",
        "os/dpkg",
        vec![loc(LAYER_1, "/var/lib/dpkg/status")],
    );
    login.source = Some(SourcePackage {
        name: "shadow".into(),
        version: "1:4.13+dfsg1-1".into(),
    });
    login.arch = Some("amd64".into());

    let mut requests = pkg(
        "requests",
        "2.19.0",
        Ecosystem::PyPI,
        "pkg:pypi/requests@2.19.0",
        "lang/python",
        vec![loc(
            LAYER_2,
            "/usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
        )],
    );
    requests.licenses = vec!["Apache 2.0".into()];
    // The same distribution installed twice: two packages, one purl.
    let requests_venv = pkg(
        "requests",
        "2.19.0",
        Ecosystem::PyPI,
        "pkg:pypi/requests@2.19.0",
        "lang/python",
        vec![loc(
            LAYER_2,
            "/opt/venv/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA",
        )],
    );

    let mut babel = pkg(
        "@babel/core",
        "7.22.5",
        Ecosystem::Npm,
        "pkg:npm/%40babel/core@7.22.5",
        "lang/npm",
        vec![loc(LAYER_2, "/app/node_modules/@babel/core/package.json")],
    );
    babel.licenses = vec!["MIT".into()];

    let mut log4j = pkg(
        "org.apache.logging.log4j:log4j-core",
        "2.14.1",
        Ecosystem::Maven,
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        "lang/java",
        vec![loc(LAYER_2, "/app/lib/log4j-core-2.14.1.jar")],
    );
    log4j.licenses = vec!["Apache-2.0".into()];

    let mut websocket = pkg(
        "github.com/gorilla/websocket",
        "v1.5.0",
        Ecosystem::Go,
        "pkg:golang/github.com/gorilla/websocket@v1.5.0",
        "lang/gobinary",
        vec![loc(LAYER_2, "/usr/local/bin/server")],
    );
    websocket.licenses = vec!["BSD-2-Clause OR MIT".into(), "ISC".into()];

    Inventory {
        image: ImageInfo {
            reference: "registry.local:5000/acceptance/debian:bookworm".into(),
            digest: Some(
                "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    .parse()
                    .expect("digest"),
            ),
            config_digest: Some(
                "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
                    .parse()
                    .expect("digest"),
            ),
            os: Some(Distro {
                id: "debian".into(),
                version_id: Some("12".into()),
                codename: Some("bookworm".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            }),
            platform: Some("linux/amd64".into()),
            layers: vec![
                LAYER_1.parse().expect("digest"),
                LAYER_2.parse().expect("digest"),
            ],
            config: None,
        },
        // Deliberately unsorted: encoders sort.
        packages: vec![
            websocket,
            requests_venv,
            libc,
            babel,
            requests,
            log4j,
            login,
        ],
        warnings: Vec::new(),
    }
}

pub(crate) fn fixed_options() -> EncodeOptions {
    EncodeOptions {
        tool_version: "0.1.0".into(),
        timestamp: Some(time::macros::datetime!(2024-01-02 03:04:05 UTC)),
        serial: Some("urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79".into()),
    }
}

/// The identity of each package, what both formats must carry.
pub(crate) fn identities(inv: &Inventory) -> BTreeSet<(String, String, Ecosystem, String)> {
    inv.packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.ecosystem,
                p.purl.clone(),
            )
        })
        .collect()
}

pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs a command, returning None if the program is not installed.
pub(crate) fn run(cmd: &mut Command) -> Option<std::process::Output> {
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running {cmd:?}: {e}"),
    }
}
