//! Hostile layers through the whole inventory path (resolve an OCI layout, walk, catalog):
//! a decompression bomb of 10 GiB of zeros and single files of 2 GiB. Each must finish with
//! the packages the rest of the image holds, warnings naming layer and path, and a peak RSS
//! that does not grow with the input. Own test binary, so the process's peak RSS (VmHWM) is
//! this test's alone.
//!
//! The layers are zstd frames built by hand from RLE blocks (4 bytes per 128 KiB of zeros),
//! so a 10 GiB layer is a 320 KiB blob and the test spends its time in our walk, not in
//! making the input.

use std::path::Path;

use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;
const BLOCK: u64 = 128 << 10;

/// A piece of an uncompressed tar stream.
enum Seg {
    Bytes(Vec<u8>),
    Zeros(u64),
}

/// A zstd frame holding `segs` in order: raw blocks for bytes, RLE blocks for zeros.
fn zstd_frame(segs: &[Seg]) -> Vec<u8> {
    // Magic; descriptor without content size, checksum or dictionary; a 128 KiB window
    // (exponent 7 over the 1 KiB base), so blocks may be 128 KiB.
    let mut out = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3];
    let mut blocks: Vec<(u32, u32, Option<&[u8]>)> = Vec::new(); // (type, size, raw bytes)
    for s in segs {
        match s {
            Seg::Bytes(b) => {
                for chunk in b.chunks(BLOCK as usize) {
                    blocks.push((0, chunk.len() as u32, Some(chunk)));
                }
            }
            Seg::Zeros(n) => {
                let mut left = *n;
                while left > 0 {
                    let len = left.min(BLOCK);
                    blocks.push((1, len as u32, None));
                    left -= len;
                }
            }
        }
    }
    let last = blocks.len() - 1;
    for (i, (kind, size, raw)) in blocks.into_iter().enumerate() {
        let header = (size << 3) | (kind << 1) | u32::from(i == last);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        match raw {
            Some(b) => out.extend_from_slice(b),
            None => out.push(0),
        }
    }
    out
}

fn header(path: &str, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("path");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// A small file: header, content, padding to 512.
fn small(path: &str, content: &[u8]) -> Vec<Seg> {
    let mut b = header(path, content.len() as u64);
    b.extend_from_slice(content);
    b.resize(b.len().div_ceil(512) * 512, 0);
    vec![Seg::Bytes(b)]
}

/// A big file: header, `head`, then zeros up to `size` (a multiple of 512).
fn big(path: &str, head: &[u8], size: u64) -> Vec<Seg> {
    let mut b = header(path, size);
    b.extend_from_slice(head);
    vec![Seg::Bytes(b), Seg::Zeros(size - head.len() as u64)]
}

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn blob(dir: &Path, b: &[u8]) -> String {
    let d = digest(b);
    let p = dir.join("blobs/sha256");
    std::fs::create_dir_all(&p).expect("mkdir");
    std::fs::write(p.join(&d[7..]), b).expect("write");
    d
}

/// Writes an OCI layout with one zstd layer tagged `t` and returns the layer digest.
fn layout(dir: &Path, layer: &[u8]) -> String {
    let l = blob(dir, layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    })
    .to_string();
    let c = blob(dir, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": l, "size": layer.len()}],
    })
    .to_string();
    let m = blob(dir, manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write");
    l
}

fn inventory(
    dir: &Path,
    limits: Option<portcullis_image::Limits>,
) -> portcullis_scanner::Result<portcullis_core::Inventory> {
    let target: portcullis_image::Target =
        format!("oci:{}:t", dir.display()).parse().expect("target");
    let mut opts = portcullis_image::Options {
        cache_dir: dir.join("cache"),
        ..Default::default()
    };
    if let Some(l) = limits {
        opts.limits = l;
    }
    let img = portcullis_image::resolve_local(&target, &opts).expect("resolve");
    portcullis_scanner::catalog(&img, &target.to_string())
}

/// Peak resident set of this process so far, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: Django\nVersion: 3.2\n";
const DIST: &str = "usr/lib/python3/dist-packages/Django-3.2.dist-info/METADATA";

#[test]
fn hostile_layers_finish_with_bounded_memory() {
    let before = peak_rss_mib();

    // 1. A decompression bomb: 10 GiB of zeros in one file, between two real files.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut segs = small("etc/os-release", b"ID=debian\nVERSION_ID=12\n");
    segs.extend(big("zeros", b"", 10 * GIB));
    segs.extend(small(DIST, METADATA));
    segs.push(Seg::Zeros(1024));
    let frame = zstd_frame(&segs);
    assert!(frame.len() < 1 << 20, "the bomb is {} bytes", frame.len());
    let layer = layout(dir.path(), &frame);
    let inv = inventory(dir.path(), None).expect("the bomb is walked to its end");
    let names: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    assert_eq!(names, ["django 3.2"], "the file after the bomb is found");
    assert_eq!(inv.image.os.as_ref().map(|d| d.id.as_str()), Some("debian"));

    // ... and with a byte limit below its size it stops early, naming layer and path.
    let err = inventory(
        dir.path(),
        Some(portcullis_image::Limits {
            max_total_bytes: GIB,
            ..Default::default()
        }),
    )
    .expect_err("over the limit");
    let msg = portcullis_core::ErrorChain(&err).to_string();
    assert!(
        msg.contains(&layer) && msg.contains("while reading `zeros`"),
        "{msg}"
    );

    // 2. Single files of 2 GiB where extractors look: a dpkg status file (wanted by path)
    //    and an ELF binary (wanted by magic). Both are skipped with a warning naming layer
    //    and path; the rest of the image is catalogued.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut segs = big("var/lib/dpkg/status", b"Package: huge\n", 2 * GIB);
    segs.extend(big("usr/bin/huge", b"\x7fELF\x02\x01\x01", 2 * GIB));
    segs.extend(small(DIST, METADATA));
    segs.push(Seg::Zeros(1024));
    let layer = layout(dir.path(), &zstd_frame(&segs));
    let inv = inventory(dir.path(), None).expect("walk");
    assert_eq!(inv.packages.len(), 1, "{:?}", inv.packages);
    for path in ["/var/lib/dpkg/status", "/usr/bin/huge"] {
        assert!(
            inv.warnings.iter().any(|w| w.contains(&layer)
                && w.contains(path)
                && w.contains(&format!("skipped: {} bytes", 2 * GIB))),
            "no skip warning for {path}: {:?}",
            inv.warnings
        );
    }

    // 14 GiB went through the walk; memory did not follow it.
    let peak = peak_rss_mib();
    assert!(
        peak.saturating_sub(before) < 64,
        "peak RSS grew from {before} MiB to {peak} MiB"
    );
}
