//! The Cataloger plugged into the real image walk over a small root filesystem directory.

use std::path::Path;

use portcullis_catalog::Cataloger;
use portcullis_image::{Options, ResolvedImage, walk};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[test]
fn walks_a_directory_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "usr/lib/os-release",
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    );
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    write(
        root,
        "var/lib/dpkg/status",
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n",
    );
    write(
        root,
        "usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA",
        "Name: Jinja2\nVersion: 2.10\n",
    );
    write(
        root,
        "app/node_modules/lodash/package.json",
        r#"{"name":"lodash","version":"4.17.4"}"#,
    );
    write(
        root,
        "app/node_modules/lodash/lib/package.json",
        r#"{"name":"inner","version":"0.0.0"}"#,
    );

    let img = ResolvedImage::from_dir(root, &Options::default()).unwrap();
    let mut c = Cataloger::default();
    walk(&img, &mut |ev| c.on_event(ev)).unwrap();
    let (distro, pkgs, warnings) = c.finish();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(distro.unwrap().codename.as_deref(), Some("bookworm"));
    let got: Vec<String> = pkgs
        .iter()
        .map(|p| format!("{} {} {}", p.found_by, p.name, p.version))
        .collect();
    assert_eq!(
        got,
        [
            "os/dpkg libc6 2.36-9+deb12u4",
            "python/dist-info jinja2 2.10",
            "javascript/package-json lodash 4.17.4",
        ]
    );
    assert_eq!(
        pkgs[0].purl,
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    );
    assert_eq!(pkgs[0].locations[0].layer, None);
    assert_eq!(pkgs[0].locations[0].path, "/var/lib/dpkg/status");
}
