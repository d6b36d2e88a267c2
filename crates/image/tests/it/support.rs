//! Builders for layers, OCI layouts and docker archives, and a reference overlay applier.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use portcullis_core::Digest;
use portcullis_image::{EntryKind, Event, ResolvedImage, WalkError, walk_with_warnings};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// One tar member of a test layer.
#[derive(Clone, Debug)]
pub(crate) enum E {
    File(&'static str, Vec<u8>),
    Dir(&'static str),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    Fifo(&'static str),
}

pub(crate) fn file(path: &'static str, content: &str) -> E {
    E::File(path, content.as_bytes().to_vec())
}

/// Writes `name` into the header raw, so that names the `tar` crate refuses (`../x`) can be
/// stored as a hostile producer would.
fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(1_700_000_000);
    let bytes = name.as_bytes();
    let dst = &mut h.as_old_mut().name;
    assert!(bytes.len() < dst.len(), "raw names must be short");
    dst[..bytes.len()].copy_from_slice(bytes);
    h.set_cksum();
    h
}

/// An uncompressed tar of `entries`, in order. Names may be anything (`./x`, `../x`, long).
pub(crate) fn tar_layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(p, data) if p.contains("..") => {
                let h = raw_header(p, tar::EntryType::Regular, data.len() as u64);
                b.append(&h, data.as_slice()).expect("append");
            }
            E::File(p, data) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, p, data.as_slice()).expect("append");
            }
            E::Dir(p) => {
                let h = raw_header(p, tar::EntryType::Directory, 0);
                b.append(&h, std::io::empty()).expect("append");
            }
            E::Symlink(p, t) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("append");
            }
            E::Hardlink(p, t) if t.contains("..") => {
                let mut h = raw_header(p, tar::EntryType::Link, 0);
                h.set_link_name_literal(t).expect("link name");
                h.set_cksum();
                b.append(&h, std::io::empty()).expect("append");
            }
            E::Hardlink(p, t) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("append");
            }
            E::Fifo(p) => {
                let h = raw_header(p, tar::EntryType::Fifo, 0);
                b.append(&h, std::io::empty()).expect("append");
            }
        }
    }
    b.into_inner().expect("finish")
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).expect("zstd")
}

pub(crate) fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// [`digest`] typed, for comparing with what the image crate reports.
pub(crate) fn typed(d: &str) -> Digest {
    Digest::parse(d).expect("digest")
}

pub(crate) const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub(crate) const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A stored layer: media type and the bytes as stored (compressed or not).
#[derive(Clone)]
pub(crate) struct StoredLayer {
    pub(crate) media_type: String,
    pub(crate) bytes: Vec<u8>,
    /// Digest of the uncompressed tar (the config's diff_id).
    pub(crate) diff_id: String,
    pub(crate) uncompressed: Vec<u8>,
}

pub(crate) fn stored(media_type: &str, uncompressed: Vec<u8>) -> StoredLayer {
    let bytes = match media_type {
        GZIP => gzip(&uncompressed),
        ZSTD => zstd(&uncompressed),
        _ => uncompressed.clone(),
    };
    StoredLayer {
        media_type: media_type.into(),
        bytes,
        diff_id: digest(&uncompressed),
        uncompressed,
    }
}

/// An image: config and manifest bytes for its layers.
pub(crate) struct Built {
    pub(crate) config: Vec<u8>,
    pub(crate) manifest: Vec<u8>,
    pub(crate) layers: Vec<StoredLayer>,
}

pub(crate) fn build_image(layers: Vec<StoredLayer>, arch: &str) -> Built {
    let config = serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": digest(&l.bytes), "size": l.bytes.len()})).collect::<Vec<_>>(),
    }))
    .expect("json");
    Built {
        config,
        manifest,
        layers,
    }
}

pub(crate) fn write_blob(dir: &Path, data: &[u8]) -> String {
    let d = digest(data);
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::write(blobs.join(&d["sha256:".len()..]), data).expect("write blob");
    d
}

/// Writes an OCI layout holding `images` (tag, image) to `dir`.
pub(crate) fn write_layout(dir: &Path, images: &[(&str, &Built)]) {
    let mut entries = Vec::new();
    for (tag, img) in images {
        write_blob(dir, &img.config);
        for l in &img.layers {
            write_blob(dir, &l.bytes);
        }
        let d = write_blob(dir, &img.manifest);
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d,
            "size": img.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let index = json!({"schemaVersion": 2, "manifests": entries});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
}

fn append_member(b: &mut tar::Builder<std::fs::File>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, data).expect("append member");
}

/// A legacy `docker save` archive: `manifest.json`, `<hex>.json`, `<n>/layer.tar` (uncompressed),
/// with the last layer stored twice through a symlink like docker does for shared layers.
pub(crate) fn write_docker_archive(path: &Path, img: &Built) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    let config_name = format!("{}.json", &digest(&img.config)["sha256:".len()..]);
    append_member(&mut b, &config_name, &img.config);
    let mut names = Vec::new();
    for (i, l) in img.layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        if i + 1 == img.layers.len() && i > 0 {
            // Link to an identical copy stored under another name.
            append_member(&mut b, "shared/layer.tar", &l.uncompressed);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &name, "../shared/layer.tar")
                .expect("symlink");
        } else {
            append_member(&mut b, &name, &l.uncompressed);
        }
        names.push(name);
    }
    let manifest =
        json!([{"Config": config_name, "RepoTags": ["test/image:latest"], "Layers": names}]);
    append_member(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    b.into_inner().expect("finish").flush().expect("flush");
}

/// A docker 25+ style archive: an OCI layout (compressed blobs) plus `manifest.json`.
pub(crate) fn write_oci_archive(path: &Path, img: &Built) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_layout(dir.path(), &[("latest", img)]);
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    b.append_dir_all(".", dir.path()).expect("append layout");
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", &digest(&img.config)["sha256:".len()..]),
        "RepoTags": ["test/image:latest"],
        "Layers": img.layers.iter().map(|l| format!("blobs/sha256/{}", &digest(&l.bytes)["sha256:".len()..])).collect::<Vec<_>>(),
    }]);
    append_member(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    b.into_inner().expect("finish").flush().expect("flush");
}

/// Unpacks the layers into `root` as a container runtime would (whiteouts applied), to make
/// the `dir:` form of the same image.
pub(crate) fn unpack_rootfs(root: &Path, layers: &[StoredLayer]) {
    for l in layers {
        let mut a = tar::Archive::new(l.uncompressed.as_slice());
        for entry in a.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").into_owned();
            let link = entry
                .link_name()
                .expect("link")
                .map(|l| l.to_string_lossy().into_owned());
            // Hostile entries are the walk's business; a runtime refuses them.
            let is_hardlink = entry.header().entry_type() == tar::EntryType::Link;
            let climbs = |p: &str| {
                Path::new(p)
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            };
            if climbs(&path.to_string_lossy()) || (is_hardlink && link.is_some_and(|l| climbs(&l)))
            {
                continue;
            }
            if entry.header().entry_type() == tar::EntryType::Fifo {
                let status = std::process::Command::new("mkfifo")
                    .arg(root.join(&path))
                    .status()
                    .expect("mkfifo");
                assert!(status.success(), "mkfifo {}", path.display());
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = root.join(path.parent().unwrap_or(Path::new("")));
            if name == ".wh..wh..opq" {
                for c in std::fs::read_dir(&parent).expect("read_dir") {
                    let c = c.expect("child").path();
                    if c.is_dir() && !c.is_symlink() {
                        std::fs::remove_dir_all(&c).expect("rm");
                    } else {
                        std::fs::remove_file(&c).expect("rm");
                    }
                }
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                let victim = parent.join(hidden);
                if victim.is_dir() && !victim.is_symlink() {
                    std::fs::remove_dir_all(&victim).expect("rm");
                } else {
                    let _ = std::fs::remove_file(&victim);
                }
            } else {
                entry.unpack_in(root).expect("unpack");
            }
        }
    }
}

/// What a walk produced, in a comparable form.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub(crate) events: Vec<String>,
    pub(crate) warnings: Vec<String>,
    /// Final filesystem view: path → (kind, layer index that last wrote it).
    pub(crate) view: BTreeMap<String, (String, usize)>,
    /// Contents read from files (every file is read fully).
    pub(crate) contents: BTreeMap<String, Vec<u8>>,
}

pub(crate) fn kind_str(k: &EntryKind) -> String {
    match k {
        EntryKind::File => "file".into(),
        EntryKind::Dir => "dir".into(),
        EntryKind::Symlink { target } => format!("symlink->{target}"),
        EntryKind::Hardlink { target } => format!("hardlink->{target}"),
        EntryKind::Other => "other".into(),
    }
}

fn under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        path != "/"
    } else {
        path.starts_with(dir) && path[dir.len()..].starts_with('/')
    }
}

/// Walks `img`, reading every file fully, applying whiteouts and opaque dirs to a view.
pub(crate) fn walk_all(img: &ResolvedImage) -> Result<Walked, WalkError> {
    let mut w = Walked::default();
    let mut layer = 0;
    let warnings = walk_with_warnings(img, &mut |ev| {
        match ev {
            Event::LayerStart { index, digest } => {
                layer = index;
                w.events.push(format!(
                    "start {index} {}",
                    digest.map_or("-", |d| d.as_str())
                ));
            }
            Event::LayerEnd { index } => w.events.push(format!("end {index}")),
            Event::Whiteout { path } => {
                w.events.push(format!("whiteout {path}"));
                w.view.retain(|p, _| p != path && !under(p, path));
            }
            Event::Opaque { dir } => {
                w.events.push(format!("opaque {dir}"));
                w.view.retain(|p, (_, l)| !(under(p, dir) && *l < layer));
            }
            Event::Entry(e) => {
                assert_eq!(e.layer_index, layer);
                let kind = kind_str(&e.kind);
                w.events.push(format!("{} {kind} {}", e.path, e.size));
                if e.kind == EntryKind::File {
                    let mut buf = Vec::new();
                    e.reader
                        .read_to_end(&mut buf)
                        .map_err(|err| WalkError::ReadContent {
                            at: e.path.to_owned(),
                            source: err,
                        })?;
                    assert_eq!(buf.len() as u64, e.size, "{}", e.path);
                    w.contents.insert(e.path.to_owned(), buf);
                }
                w.view.insert(e.path.to_owned(), (kind, layer));
            }
        }
        Ok(())
    })?;
    w.warnings = warnings;
    Ok(w)
}

/// The final view as (path, kind), without which layer wrote it.
pub(crate) fn final_kinds(w: &Walked) -> BTreeMap<String, String> {
    w.view
        .iter()
        .map(|(p, (k, _))| (p.clone(), k.clone()))
        .collect()
}

/// A fresh set of options with a private cache directory.
pub(crate) fn opts(cache: &Path) -> portcullis_image::Options {
    portcullis_image::Options {
        cache_dir: cache.to_owned(),
        ..portcullis_image::Options::default()
    }
}

/// The two layers most tests use: a base, and a top layer with whiteouts, an opaque dir,
/// hardlinks, symlinks, and hostile entries.
pub(crate) fn sample_layers(media_type: &str) -> Vec<StoredLayer> {
    let base = tar_layer(&[
        E::Dir("./"),
        E::Dir("./etc/"),
        file("./etc/os-release", "ID=debian\nVERSION_ID=12\n"),
        file("./etc/gone", "deleted later"),
        E::Dir("./etc/gonedir/"),
        file("./etc/gonedir/inner", "deleted with its dir"),
        E::Dir("./opt/"),
        E::Dir("./opt/app/"),
        file("./opt/app/old", "replaced by opaque"),
        E::Dir("./usr/"),
        E::Dir("./usr/bin/"),
        file("./usr/bin/tool", "#!/bin/sh\necho tool\n"),
        E::Hardlink("./usr/bin/tool-link", "./usr/bin/tool"),
        E::Symlink("./usr/bin/abs", "/usr/bin/tool"),
        E::Symlink("./usr/bin/rel", "../../etc/os-release"),
        E::Fifo("./usr/fifo"),
    ]);
    let top = tar_layer(&[
        E::Dir("./"),
        E::Dir("./etc/"),
        file("./etc/.wh.gone", ""),
        file("./etc/.wh.gonedir", ""),
        E::Dir("./opt/app/"),
        file("./opt/app/.wh..wh..opq", ""),
        file("./opt/app/new", "after opaque"),
        file("../escape", "must be skipped"),
        E::Hardlink("./usr/bin/evil-link", "../../../etc/shadow"),
        file("./etc/os-release", "ID=debian\nVERSION_ID=12.1\n"),
        file("./usr/.wh..wh.plnk", ""),
    ]);
    vec![stored(media_type, base), stored(media_type, top)]
}

/// The final (path, kind) view `sample_layers` must produce.
pub(crate) fn sample_final_view() -> BTreeMap<String, String> {
    [
        ("/etc", "dir"),
        ("/etc/os-release", "file"),
        ("/opt", "dir"),
        ("/opt/app", "dir"),
        ("/opt/app/new", "file"),
        ("/usr", "dir"),
        ("/usr/bin", "dir"),
        ("/usr/bin/tool", "file"),
        ("/usr/bin/tool-link", "hardlink->/usr/bin/tool"),
        ("/usr/bin/abs", "symlink->/usr/bin/tool"),
        ("/usr/bin/rel", "symlink->../../etc/os-release"),
        ("/usr/fifo", "other"),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_owned(), k.to_owned()))
    .collect()
}
