//! The Cataloger over synthetic walks: overlay semantics, distro detection, limits and
//! failure isolation.

use std::io::{Cursor, Read};
use std::sync::LazyLock;

use portcullis_catalog::lang::{NpmPackageJson, PythonDistInfo};
use portcullis_catalog::os::Dpkg;
use portcullis_catalog::{Cataloger, ExtractInput, Extractor};
use portcullis_core::{Digest, Location, Package};
use portcullis_image::{Entry, EntryKind, Event, WalkError};
use portcullis_test_support::build::digest;

/// The three layers' digests.
static LAYERS: LazyLock<[Digest; 3]> = LazyLock::new(|| [digest(0), digest(1), digest(2)]);

/// A warning about the first layer, as the cataloger words it.
fn in_layer0(rest: &str) -> String {
    format!("layer {}: {rest}", LAYERS[0])
}
const STATUS: &str = "/var/lib/dpkg/status";
const ACL: &[u8] =
    b"Package: acl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.3.1-3\n";
const ATTR: &[u8] =
    b"Package: attr\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.5.1-4\n";
const DJANGO: &str = "/usr/lib/python3/dist-packages/Django-3.2.dist-info/METADATA";
const DJANGO_META: &[u8] = b"Metadata-Version: 2.1\nName: Django\nVersion: 3.2\n";

/// Feeds a walk: layers of events, as the image crate would emit them.
struct Walk {
    c: Cataloger,
    layer: usize,
}

impl Walk {
    fn new(c: Cataloger) -> Self {
        Walk { c, layer: 0 }
    }

    fn layer(&mut self, index: usize) -> &mut Self {
        if index > 0 {
            self.c
                .on_event(Event::LayerEnd { index: index - 1 })
                .unwrap();
        }
        self.layer = index;
        self.c
            .on_event(Event::LayerStart {
                index,
                digest: Some(&LAYERS[index]),
            })
            .unwrap();
        self
    }

    fn entry(
        &mut self,
        path: &str,
        kind: EntryKind,
        content: &[u8],
        mode: u32,
    ) -> Result<(), WalkError> {
        let mut r = Cursor::new(content.to_vec());
        self.c.on_event(Event::Entry(Entry {
            layer_index: self.layer,
            layer: Some(&LAYERS[self.layer]),
            path,
            kind,
            size: content.len() as u64,
            mode,
            reader: &mut r,
        }))
    }

    fn file(&mut self, path: &str, content: &[u8]) -> &mut Self {
        self.entry(path, EntryKind::File, content, 0o644).unwrap();
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(
            path,
            EntryKind::Symlink {
                target: target.into(),
            },
            b"",
            0o777,
        )
        .unwrap();
        self
    }

    fn whiteout(&mut self, path: &str) -> &mut Self {
        self.c.on_event(Event::Whiteout { path }).unwrap();
        self
    }

    fn opaque(&mut self, dir: &str) -> &mut Self {
        self.c.on_event(Event::Opaque { dir }).unwrap();
        self
    }

    fn finish(self) -> (Option<portcullis_core::Distro>, Vec<Package>, Vec<String>) {
        self.c.finish()
    }
}

fn nv(pkgs: &[Package]) -> Vec<String> {
    pkgs.iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

#[test]
fn later_layer_replaces_a_file() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(STATUS, ACL);
    w.layer(1).file(STATUS, ATTR);
    let (_, pkgs, warnings) = w.finish();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(nv(&pkgs), ["attr 1:2.5.1-4"]);
    assert_eq!(
        pkgs[0].locations,
        vec![Location {
            layer: Some(LAYERS[1].clone()),
            path: STATUS.into()
        }]
    );
}

#[test]
fn replacing_with_a_non_package_file_drops_results() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(DJANGO, DJANGO_META);
    w.layer(1).symlink(DJANGO, "/elsewhere");
    let (_, pkgs, _) = w.finish();
    assert!(pkgs.is_empty());
}

#[test]
fn whiteout_removes_files_at_and_under_the_path() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(DJANGO, DJANGO_META).file(
        "/app/node_modules/a/package.json",
        br#"{"name":"a","version":"1.0.0"}"#,
    );
    w.layer(1)
        .whiteout("/usr/lib/python3/dist-packages/Django-3.2.dist-info")
        .whiteout("/app/node_modules/a/package.json");
    let (_, pkgs, _) = w.finish();
    assert!(pkgs.is_empty(), "{:?}", nv(&pkgs));
}

#[test]
fn whiteout_does_not_hit_siblings_with_a_common_prefix() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(
        "/app/node_modules/ab/package.json",
        br#"{"name":"ab","version":"1.0.0"}"#,
    );
    w.layer(1).whiteout("/app/node_modules/a");
    let (_, pkgs, _) = w.finish();
    assert_eq!(nv(&pkgs), ["ab 1.0.0"]);
}

#[test]
fn opaque_dir_removes_only_earlier_layers() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(
        "/app/node_modules/a/package.json",
        br#"{"name":"a","version":"1.0.0"}"#,
    );
    // The opaque marker comes after the layer's own entries in tar order; they must survive.
    w.layer(1)
        .file(
            "/app/node_modules/b/package.json",
            br#"{"name":"b","version":"2.0.0"}"#,
        )
        .opaque("/app/node_modules");
    let (_, pkgs, _) = w.finish();
    assert_eq!(nv(&pkgs), ["b 2.0.0"]);
}

#[test]
fn whiteout_in_the_same_layer_keeps_that_layers_file() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).file(STATUS, ACL).whiteout(STATUS);
    let (_, pkgs, _) = w.finish();
    assert_eq!(nv(&pkgs), ["acl 2.3.1-3"]);
}

#[test]
fn malformed_file_is_a_warning_and_the_rest_continues() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0)
        .file(STATUS, b"asdf\n\nyolo\n")
        .file(DJANGO, DJANGO_META);
    let (_, pkgs, warnings) = w.finish();
    assert_eq!(nv(&pkgs), ["django 3.2"]);
    assert_eq!(
        warnings,
        [in_layer0(
            "os/dpkg: /var/lib/dpkg/status:1: expected 'Key: value', found \"asdf\""
        )]
    );
}

struct Panicky;

impl Extractor for Panicky {
    fn name(&self) -> &'static str {
        "test/panicky"
    }
    fn version(&self) -> u32 {
        1
    }
    fn required(&self, path: &str) -> bool {
        path.ends_with(".boom")
    }
    fn extract(&self, _input: &ExtractInput<'_>) -> portcullis_catalog::Result<Vec<Package>> {
        panic!("kaboom")
    }
}

#[test]
fn a_panicking_extractor_is_isolated_and_named() {
    let mut w = Walk::new(Cataloger::new(vec![
        Box::new(Panicky),
        Box::new(PythonDistInfo),
    ]));
    w.layer(0).file("/x.boom", b"1").file(DJANGO, DJANGO_META);
    let (_, pkgs, warnings) = w.finish();
    assert_eq!(nv(&pkgs), ["django 3.2"]);
    assert_eq!(
        warnings,
        [in_layer0(
            "test/panicky: /x.boom: extractor panicked: kaboom"
        )]
    );
}

#[test]
fn distro_from_symlinked_os_release_reaches_dpkg() {
    let mut w = Walk::new(Cataloger::default());
    // Debian's layout: /etc/os-release -> ../usr/lib/os-release. The status file comes first
    // in tar order, so dpkg must wait for the distro.
    w.layer(0)
        .file(STATUS, ACL)
        .symlink("/etc/os-release", "../usr/lib/os-release")
        .file("/etc/debian_version", b"12.15\n")
        .file(
            "/usr/lib/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        );
    let (distro, pkgs, _) = w.finish();
    let distro = distro.unwrap();
    assert_eq!(
        (distro.id.as_str(), distro.version_id.as_deref()),
        ("debian", Some("12"))
    );
    assert_eq!(
        distro.codename.as_deref(),
        Some("bookworm"),
        "derived from the release number"
    );
    assert_eq!(
        pkgs[0].purl,
        "pkg:deb/debian/acl@2.3.1-3?arch=amd64&distro=debian-12"
    );
}

#[test]
fn symlink_loops_and_links_out_of_the_root_stay_inside_the_image() {
    // A loop between the two os-release paths: no distro, a warning naming the layer and
    // path, and the other packages are still found.
    let mut w = Walk::new(Cataloger::default());
    w.layer(0)
        .file(DJANGO, b"Name: x\nVersion: 1\n")
        .symlink("/etc/os-release", "/usr/lib/os-release")
        .symlink("/usr/lib/os-release", "../../etc/os-release");
    let (distro, pkgs, warnings) = w.finish();
    assert!(distro.is_none(), "{distro:?}");
    assert_eq!(nv(&pkgs), ["x 1"]);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&in_layer0(
            "/etc/os-release: symlink to `/usr/lib/os-release`"
        )) && warnings[0].contains("a loop"),
        "{warnings:?}"
    );

    // Links that climb out of the root, absolute or relative, resolve inside the image (as in
    // a chroot): the image's own /usr/lib/os-release, never the host's files.
    for target in [
        "/../../../../usr/lib/os-release",
        "../../../../../../usr/lib/os-release",
    ] {
        let mut w = Walk::new(Cataloger::default());
        w.layer(0)
            .symlink("/etc/os-release", target)
            .file("/usr/lib/os-release", b"ID=wolfi\nVERSION_ID=20230201\n");
        let (distro, _, warnings) = w.finish();
        assert_eq!(distro.map(|d| d.id), Some("wolfi".to_owned()), "{target}");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    // A link to a file the image does not have: the host's /etc/hostname exists, but it is
    // not the image's, so there is no distro and the dangling link is reported.
    let mut w = Walk::new(Cataloger::default());
    w.layer(0).symlink("/etc/os-release", "/etc/hostname");
    let (distro, _, warnings) = w.finish();
    assert!(distro.is_none());
    assert!(warnings[0].contains("dangling"), "{warnings:?}");
}

#[test]
fn etc_os_release_wins_and_whiteouts_apply_to_it() {
    let mut w = Walk::new(Cataloger::default());
    w.layer(0)
        .file("/etc/os-release", b"ID=alpine\nVERSION_ID=3.18.0\n")
        .file("/usr/lib/os-release", b"ID=debian\n");
    let mut w2 = Walk::new(Cataloger::default());
    w2.layer(0)
        .file("/etc/os-release", b"ID=alpine\nVERSION_ID=3.18.0\n")
        .file("/usr/lib/os-release", b"ID=debian\n");
    w2.layer(1).whiteout("/etc/os-release");
    assert_eq!(w.finish().0.unwrap().id, "alpine");
    assert_eq!(w2.finish().0.unwrap().id, "debian");
}

#[test]
fn oversized_files_are_skipped_with_a_warning() {
    let mut w = Walk::new(Cataloger::default().with_max_file_size(30));
    w.layer(0)
        .file(STATUS, ACL)
        .file(DJANGO, b"Name: x\nVersion: 1\n");
    let (_, pkgs, warnings) = w.finish();
    assert_eq!(nv(&pkgs), ["x 1"]);
    assert_eq!(
        warnings,
        [format!(
            "layer {}: {STATUS}: skipped: {} bytes exceeds the 30 byte limit",
            LAYERS[0],
            ACL.len()
        )]
    );
}

/// Wants ELF files by magic; records nothing but proves what it was given.
struct ElfCounter;

impl Extractor for ElfCounter {
    fn name(&self) -> &'static str {
        "test/elf"
    }
    fn version(&self) -> u32 {
        7
    }
    fn required(&self, _path: &str) -> bool {
        false
    }
    fn required_by_magic(&self, head: &[u8]) -> bool {
        head.starts_with(b"\x7fELF")
    }
    fn extract(&self, input: &ExtractInput<'_>) -> portcullis_catalog::Result<Vec<Package>> {
        Ok(vec![Package {
            module: None,
            name: input.path.to_owned(),
            version: input.content.len().to_string(),
            ecosystem: portcullis_core::Ecosystem::Go,
            purl: String::new(),
            source: None,
            found_by: "whatever".into(),
            locations: Vec::new(),
            arch: None,
            licenses: Vec::new(),
        }])
    }
}

#[test]
fn binaries_are_chosen_by_magic_and_read_whole() {
    let mut elf = b"\x7fELF".to_vec();
    elf.resize(5000, 7);
    let mut w = Walk::new(Cataloger::new(vec![Box::new(ElfCounter)]).with_max_binary_size(4096));
    let mut small = b"\x7fELF".to_vec();
    small.resize(100, 1);
    let mut text = b"#!/bin/sh\n".to_vec();
    text.resize(200, b' ');
    w.layer(0)
        .file("/usr/bin/big", &elf)
        .file("/usr/bin/small", &small)
        .file("/usr/bin/script", &text)
        .file("/tiny", b"\x7fELF");
    let (_, pkgs, warnings) = w.finish();
    // The whole file (head included) reached the extractor; the engine set the evidence.
    assert_eq!(nv(&pkgs), ["/usr/bin/small 100"]);
    assert_eq!(pkgs[0].found_by, "test/elf");
    assert_eq!(
        pkgs[0].locations,
        vec![Location {
            layer: Some(LAYERS[0].clone()),
            path: "/usr/bin/small".into()
        }]
    );
    assert_eq!(
        warnings,
        [in_layer0(
            "/usr/bin/big: skipped: 5000 bytes exceeds the 4096 byte limit"
        )]
    );
}

#[test]
fn identical_packages_merge_and_output_is_sorted() {
    let mut w = Walk::new(Cataloger::new(vec![
        Box::new(NpmPackageJson),
        Box::new(Dpkg),
    ]));
    w.layer(0)
        .file(
            "/b/node_modules/z/package.json",
            br#"{"name":"z","version":"1.0.0"}"#,
        )
        .file(
            "/a/node_modules/z/package.json",
            br#"{"name":"z","version":"1.0.0"}"#,
        )
        .file(
            "/a/node_modules/y/package.json",
            br#"{"name":"y","version":"1.0.0"}"#,
        )
        .file(STATUS, ACL);
    let (_, pkgs, _) = w.finish();
    assert_eq!(
        nv(&pkgs),
        ["acl 2.3.1-3", "y 1.0.0", "z 1.0.0"],
        "debian sorts before npm"
    );
    let paths: Vec<&str> = pkgs[2].locations.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/a/node_modules/z/package.json",
            "/b/node_modules/z/package.json"
        ]
    );
}

struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("corrupt gzip stream"))
    }
}

#[test]
fn a_broken_stream_stops_the_walk() {
    let mut c = Cataloger::default();
    let mut r = FailingReader;
    let err = c
        .on_event(Event::Entry(Entry {
            layer_index: 0,
            layer: Some(&LAYERS[0]),
            path: STATUS,
            kind: EntryKind::File,
            size: 100,
            mode: 0o644,
            reader: &mut r,
        }))
        .unwrap_err();
    let chain = portcullis_core::ErrorChain(&err).to_string();
    assert!(
        chain.contains("/var/lib/dpkg/status: reading content: corrupt gzip stream"),
        "{chain}"
    );
    // The reader's error goes on unchanged, for the walk to classify.
    assert!(
        matches!(&err, portcullis_image::WalkError::ReadContent { source, .. } if source.to_string() == "corrupt gzip stream"),
        "{err:?}"
    );
}

#[test]
fn extractor_versions_for_cache_keys() {
    let c = Cataloger::new(vec![Box::new(ElfCounter), Box::new(Dpkg)]);
    assert_eq!(c.extractor_versions(), [("test/elf", 7), ("os/dpkg", 1)]);
}
