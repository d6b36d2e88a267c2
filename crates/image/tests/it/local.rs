//! OCI layouts, docker archives and root filesystem directories, and the walk over them.

use std::io::{Read, Write};
use std::path::Path;

use portcullis_image::{
    EntryKind, Event, ImageError, Limits, Platform, ResolvedImage, Target, WalkError,
    resolve_local, walk,
};
use serde_json::json;

use crate::support::*;

fn layout_image(dir: &Path, layers: Vec<StoredLayer>) -> (Built, ResolvedImage) {
    let img = build_image(layers, "amd64");
    write_layout(dir, &[("t", &img)]);
    let target: Target = format!("oci:{}:t", dir.display()).parse().expect("target");
    let resolved = resolve_local(&target, &opts(&dir.join("cache"))).expect("resolve");
    (img, resolved)
}

#[test]
fn layout_walk_applies_whiteouts_opaque_links_and_skips_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, resolved) = layout_image(dir.path(), sample_layers(GZIP));
    assert_eq!(
        resolved.info.digest.as_ref().map(|d| d.as_str()),
        Some(digest(&img.manifest).as_str())
    );
    assert_eq!(
        resolved.info.config_digest.as_ref().map(|d| d.as_str()),
        Some(digest(&img.config).as_str())
    );
    assert_eq!(resolved.info.platform.as_deref(), Some("linux/amd64"));
    let layer_digests: Vec<String> = img.layers.iter().map(|l| digest(&l.bytes)).collect();
    assert_eq!(resolved.info.layers, layer_digests);

    let w = walk_all(&resolved).expect("walk");
    assert_eq!(final_kinds(&w), sample_final_view());
    assert_eq!(
        w.events.first().map(String::as_str),
        Some(format!("start 0 {}", layer_digests[0]).as_str())
    );
    assert_eq!(w.events.last().map(String::as_str), Some("end 1"));
    for expected in [
        "whiteout /etc/gone",
        "whiteout /etc/gonedir",
        "opaque /opt/app",
    ] {
        assert!(
            w.events.iter().any(|e| e == expected),
            "missing `{expected}` in {:#?}",
            w.events
        );
    }
    assert!(
        !w.events.iter().any(|e| e.contains(".wh.")),
        "whiteout markers leaked: {:#?}",
        w.events
    );
    assert!(
        !w.events.iter().any(|e| e.starts_with("/ ")),
        "the root is not an entry"
    );
    assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
    assert!(
        w.warnings
            .iter()
            .any(|m| m.contains("../escape") && m.contains(&layer_digests[1])),
        "{:?}",
        w.warnings
    );
    assert!(
        w.warnings.iter().any(|m| m.contains("evil-link")),
        "{:?}",
        w.warnings
    );
    assert_eq!(
        w.contents["/etc/os-release"],
        b"ID=debian\nVERSION_ID=12.1\n"
    );
    assert_eq!(
        w.view["/etc/os-release"].1, 1,
        "the top layer wrote it last"
    );
    assert_eq!(w.view["/usr/bin/tool"].1, 0);
}

#[test]
fn compression_is_sniffed_not_taken_from_the_media_type() {
    let events_without_digests = |layers| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, resolved) = layout_image(dir.path(), layers);
        let w = walk_all(&resolved).expect("walk");
        w.events
            .into_iter()
            .filter(|e| !e.starts_with("start "))
            .collect::<Vec<_>>()
    };
    let reference = events_without_digests(sample_layers(GZIP));
    assert_eq!(events_without_digests(sample_layers(ZSTD)), reference);
    assert_eq!(events_without_digests(sample_layers(TAR)), reference);
    // zstd bytes under a gzip media type (mislabelled by a buggy producer) still read.
    let mislabelled = sample_layers(ZSTD)
        .into_iter()
        .map(|l| StoredLayer {
            media_type: GZIP.into(),
            ..l
        })
        .collect();
    assert_eq!(events_without_digests(mislabelled), reference);
}

fn many_files(n: usize, content_len: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..n {
        // Content that does not compress away, so a flipped byte lands in real deflate data.
        let data: Vec<u8> = (0..content_len)
            .map(|j| ((i * 31 + j * 7) % 251) as u8 ^ (j as u8).rotate_left(3))
            .collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("d{}/f{i}", i % 10), data.as_slice())
            .expect("append");
    }
    b.into_inner().expect("finish")
}

#[test]
fn corrupt_gzip_names_the_layer_and_last_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layer = stored(GZIP, many_files(400, 2000));
    let at = layer.bytes.len() * 3 / 5;
    for b in &mut layer.bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    let d = digest(&layer.bytes);
    let (_, resolved) = layout_image(dir.path(), vec![layer]);
    match walk_all(&resolved) {
        Err(WalkError::Corrupt {
            layer, last_path, ..
        }) => {
            assert!(layer.contains(&d), "{layer}");
            let last = last_path.expect("entries were read before the corruption");
            assert!(last.starts_with('d') && last.contains("/f"), "{last}");
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|w| w.events.len())),
    }
}

#[test]
fn truncated_layers_fail_with_the_last_path() {
    let tar = tar_layer(&[
        file("./a", "first"),
        E::File("./big", vec![7u8; 300_000]),
        file("./c", "never"),
    ]);
    // Cut inside the content of `./big`, in a blob whose digest is that of the cut bytes: the
    // stream decodes cleanly, so what was read stands and the walk warns, naming the layer and
    // the last path; `./c` is missing.
    let cut = tar[..200_000].to_vec();
    for (name, bytes) in [("plain", cut.clone()), ("gzip", gzip(&cut))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = StoredLayer {
            media_type: if name == "plain" {
                TAR.into()
            } else {
                GZIP.into()
            },
            bytes,
            diff_id: digest(&cut),
            uncompressed: cut.clone(),
        };
        let (_, resolved) = layout_image(dir.path(), vec![layer]);
        let walked = walk_all(&resolved).expect(name);
        assert!(
            walked
                .warnings
                .iter()
                .any(|w| w.contains("ends early after `big`")),
            "{name}: {:?}",
            walked.warnings
        );
        assert!(
            !walked.events.iter().any(|e| e.contains("/c")),
            "{name}: {:?}",
            walked.events
        );
    }
    // A gzip stream cut short (no trailer) is corrupt too, even when the tar inside ended.
    let whole = gzip(&tar);
    let dir = tempfile::tempdir().expect("tempdir");
    let layer = StoredLayer {
        media_type: GZIP.into(),
        bytes: whole[..whole.len() - 6].to_vec(),
        diff_id: digest(&tar),
        uncompressed: tar.clone(),
    };
    let (_, resolved) = layout_image(dir.path(), vec![layer]);
    assert!(matches!(
        walk_all(&resolved),
        Err(WalkError::Corrupt { .. })
    ));
}

#[test]
fn digest_mismatch_is_reported_after_the_entries_and_before_layer_end() {
    for media_type in [TAR, GZIP] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (img, resolved) = layout_image(dir.path(), sample_layers(media_type));
        // Same size, still a valid stream, different bytes: a gzip mtime byte, or a content byte.
        let blob = resolved.layers[1].file().to_owned();
        let mut bytes = std::fs::read(&blob).expect("read");
        let at = if media_type == GZIP {
            5
        } else {
            let pos = img.layers[1]
                .uncompressed
                .windows(12)
                .position(|w| w == b"after opaque")
                .expect("content");
            pos + 1
        };
        bytes[at] ^= 1;
        std::fs::write(&blob, &bytes).expect("write");
        let mut events = Vec::new();
        let err = walk(&resolved, &mut |ev| {
            events.push(match ev {
                Event::LayerEnd { index } => format!("end {index}"),
                Event::Entry(e) => e.path.to_owned(),
                _ => String::new(),
            });
            Ok(())
        })
        .expect_err("tampered blob");
        let WalkError::DigestMismatch {
            layer,
            expected,
            actual,
        } = &err
        else {
            panic!("{media_type}: {err}")
        };
        assert_eq!(expected, &digest(&img.layers[1].bytes));
        assert_eq!(actual, &digest(&bytes));
        assert!(layer.starts_with("layer 1"), "{layer}");
        assert!(
            events.iter().any(|e| e == "/opt/app/new"),
            "entries came before the error"
        );
        assert!(
            events.iter().any(|e| e == "end 0") && !events.iter().any(|e| e == "end 1"),
            "{events:?}"
        );
    }
}

#[test]
fn unknown_layer_media_type_is_refused_at_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layers = sample_layers(GZIP);
    layers[1].media_type = "application/vnd.example.wasm.content.layer.v1+wasm".into();
    let img = build_image(layers, "amd64");
    write_layout(dir.path(), &[("t", &img)]);
    let target: Target = format!("oci:{}:t", dir.path().display())
        .parse()
        .expect("target");
    let err = resolve_local(&target, &opts(dir.path())).expect_err("wasm layer");
    assert!(matches!(err, ImageError::Manifest { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("application/vnd.example.wasm.content.layer.v1+wasm"),
        "{err}"
    );
}

#[test]
fn layout_tags_nested_index_and_platforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let amd = build_image(
        vec![stored(GZIP, tar_layer(&[file("./amd", "x")]))],
        "amd64",
    );
    let arm = build_image(
        vec![stored(GZIP, tar_layer(&[file("./arm", "y")]))],
        "arm64",
    );
    write_layout(dir.path(), &[("amd", &amd), ("arm", &arm)]);
    let base = dir.path().display().to_string();
    let o = opts(&dir.path().join("cache"));

    let err = resolve_local(&format!("oci:{base}").parse().expect("t"), &o).expect_err("ambiguous");
    assert!(err.to_string().contains("amd, arm"), "{err}");
    let err = resolve_local(&format!("oci:{base}:nope").parse().expect("t"), &o)
        .expect_err("missing tag");
    assert!(
        err.to_string().contains("`nope`") && err.to_string().contains("amd, arm"),
        "{err}"
    );

    // Add a multi-platform index tagged `multi`.
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&amd.manifest), "size": amd.manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&arm.manifest), "size": arm.manifest.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    }))
    .expect("json");
    let index_digest = write_blob(dir.path(), &index);
    let top = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}},
    ]});
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("write");

    let multi: Target = format!("oci:{base}:multi").parse().expect("t");
    let arm_opts = portcullis_image::Options {
        platform: "linux/arm64".parse().expect("p"),
        ..o.clone()
    };
    let img = resolve_local(&multi, &arm_opts).expect("arm64");
    assert_eq!(img.info.digest, Some(typed(&digest(&arm.manifest))));
    assert_eq!(img.index_digest, Some(typed(&index_digest)));
    assert_eq!(img.info.platform.as_deref(), Some("linux/arm64"));
    assert!(walk_all(&img).expect("walk").view.contains_key("/arm"));
    let img = resolve_local(&multi, &o).expect("default amd64");
    assert_eq!(img.info.digest, Some(typed(&digest(&amd.manifest))));

    let s390 = portcullis_image::Options {
        platform: Platform::new("linux", "s390x", None),
        ..o
    };
    let err = resolve_local(&multi, &s390).expect_err("no s390x");
    assert!(matches!(err, ImageError::Platform { .. }), "{err}");
    assert!(
        err.to_string().contains("linux/s390x")
            && err.to_string().contains("linux/amd64, linux/arm64/v8"),
        "{err}"
    );
}

#[test]
fn layout_blob_tampering_of_manifest_is_caught_at_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = build_image(sample_layers(GZIP), "amd64");
    write_layout(dir.path(), &[("t", &img)]);
    let path = dir
        .path()
        .join("blobs/sha256")
        .join(&digest(&img.manifest)["sha256:".len()..]);
    let mut m = std::fs::read(&path).expect("read");
    let last = m.len() - 1;
    m[last] = b' '; // `}` → ` `: same size, other digest
    std::fs::write(&path, &m).expect("write");
    let err = resolve_local(
        &format!("oci:{}:t", dir.path().display())
            .parse()
            .expect("t"),
        &opts(dir.path()),
    )
    .expect_err("tampered manifest");
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
}

#[test]
fn the_same_image_from_layout_archives_and_dir_has_the_same_final_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layers = sample_layers(GZIP);
    let img = build_image(layers.clone(), "amd64");
    let o = opts(&dir.path().join("cache"));

    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).expect("mkdir");
    write_layout(&layout, &[("t", &img)]);
    let from_layout = resolve_local(
        &format!("oci:{}:t", layout.display()).parse().expect("t"),
        &o,
    )
    .expect("layout");

    let legacy_path = dir.path().join("legacy.tar");
    write_docker_archive(&legacy_path, &img);
    let legacy =
        resolve_local(&Target::DockerArchive(legacy_path.clone()), &o).expect("docker archive");
    assert_eq!(
        legacy.info.layers,
        img.layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(legacy.info.config_digest, Some(typed(&digest(&img.config))));
    assert_eq!(
        legacy.info.digest, None,
        "a legacy archive has no manifest digest"
    );

    let gz_path = dir.path().join("legacy.tar.gz");
    std::fs::write(&gz_path, gzip(&std::fs::read(&legacy_path).expect("read"))).expect("write");
    let legacy_gz =
        resolve_local(&Target::DockerArchive(gz_path), &o).expect("gzipped docker archive");

    let oci_tar = dir.path().join("oci.tar");
    write_oci_archive(&oci_tar, &img);
    let oci_archive = resolve_local(&Target::DockerArchive(oci_tar), &o).expect("oci archive");
    assert_eq!(oci_archive.info.digest, Some(typed(&digest(&img.manifest))));

    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir");
    unpack_rootfs(&rootfs, &layers);
    let from_dir = resolve_local(&Target::Dir(rootfs), &o).expect("dir");

    let expected = sample_final_view();
    for (name, img) in [
        ("layout", from_layout),
        ("legacy", legacy),
        ("legacy.gz", legacy_gz),
        ("oci-archive", oci_archive),
    ] {
        let w = walk_all(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(final_kinds(&w), expected, "{name}");
        assert_eq!(
            w.contents["/etc/os-release"], b"ID=debian\nVERSION_ID=12.1\n",
            "{name}"
        );
    }
    let w = walk_all(&from_dir).expect("dir walk");
    assert_eq!(final_kinds(&w), expected, "dir");
    assert!(
        w.events
            .iter()
            .all(|e| !e.starts_with("start") || e == "start 0 -"),
        "{:?}",
        w.events
    );
}

#[test]
fn docker_archive_diff_id_is_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layers = sample_layers(TAR);
    layers[0].diff_id = digest(b"something else");
    let img = build_image(layers, "amd64");
    let path = dir.path().join("a.tar");
    write_docker_archive(&path, &img);
    let resolved = resolve_local(&Target::DockerArchive(path), &opts(dir.path())).expect("resolve");
    let err = walk_all(&resolved).expect_err("bad diff_id");
    assert!(matches!(err, WalkError::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains(&digest(b"something else")),
        "{err}"
    );
}

#[test]
fn hundred_thousand_files_and_the_entry_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layer = stored(GZIP, many_files(100_000, 3));
    let (_, mut resolved) = layout_image(dir.path(), vec![layer]);
    let mut files = 0usize;
    walk(&resolved, &mut |ev| {
        if let Event::Entry(e) = ev {
            assert_eq!(e.kind, EntryKind::File);
            files += 1;
        }
        Ok(())
    })
    .expect("walk");
    assert_eq!(files, 100_000);

    resolved.limits = Limits {
        max_entries_per_layer: 1000,
        ..Limits::default()
    };
    let err = walk(&resolved, &mut |_| Ok(())).expect_err("limit");
    assert!(
        matches!(err, WalkError::TooManyEntries { limit: 1000, .. }),
        "{err}"
    );
}

#[test]
fn a_large_stream_of_zeros_is_streamed_and_the_byte_limit_holds() {
    const SIZE: u64 = 512 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    // Write the gzipped layer straight to disk: neither side holds it in memory.
    let staging = dir.path().join("layer.gz");
    {
        let enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&staging).expect("create"),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(enc);
        let mut h = tar::Header::new_gnu();
        h.set_size(SIZE);
        h.set_mode(0o644);
        b.append_data(&mut h, "zeros", std::io::repeat(0).take(SIZE))
            .expect("append");
        b.into_inner()
            .expect("tar")
            .finish()
            .expect("gzip")
            .flush()
            .expect("flush");
    }
    let bytes = std::fs::read(&staging).expect("read"); // a few hundred KiB
    let layer = StoredLayer {
        media_type: GZIP.into(),
        diff_id: String::new(),
        uncompressed: Vec::new(),
        bytes,
    };
    let (_, mut resolved) = layout_image(dir.path(), vec![layer]);
    let mut read = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    walk(&resolved, &mut |ev| {
        if let Event::Entry(e) = ev {
            loop {
                let n = e
                    .reader
                    .read(&mut buf)
                    .map_err(|x| WalkError::ReadContent {
                        at: e.path.to_owned(),
                        source: x,
                    })?;
                if n == 0 {
                    break;
                }
                read += n as u64;
            }
        }
        Ok(())
    })
    .expect("walk");
    assert_eq!(read, SIZE);

    resolved.limits = Limits {
        max_total_bytes: 64 << 20,
        ..Limits::default()
    };
    let err = walk(&resolved, &mut |_| Ok(())).expect_err("over the byte limit");
    assert!(matches!(err, WalkError::TooLarge { .. }), "{err}");
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

#[test]
fn gnu_and_pax_long_names() {
    let long_dir = "a".repeat(120);
    let gnu_name = format!("./{long_dir}/gnu-{}", "b".repeat(60));
    let pax_name = format!("{long_dir}/pax-{}", "c".repeat(80));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, &gnu_name, &b"gnu"[..])
        .expect("gnu long name");
    let record = pax_record("path", &pax_name);
    let mut x = tar::Header::new_ustar();
    x.set_entry_type(tar::EntryType::XHeader);
    x.set_path("PaxHeaders/x").expect("path");
    x.set_size(record.len() as u64);
    x.set_cksum();
    b.append(&x, record.as_slice()).expect("pax header");
    let mut h = tar::Header::new_ustar();
    h.set_path("short-name").expect("path");
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"pax"[..]).expect("pax entry");
    let layer = stored(GZIP, b.into_inner().expect("finish"));

    let dir = tempfile::tempdir().expect("tempdir");
    let (_, resolved) = layout_image(dir.path(), vec![layer]);
    let w = walk_all(&resolved).expect("walk");
    let paths: Vec<&String> = w.contents.keys().collect();
    assert_eq!(
        paths,
        vec![&format!("/{}", &gnu_name[2..]), &format!("/{pax_name}")]
    );
    assert_eq!(w.contents[&format!("/{pax_name}")], b"pax");
}

#[test]
fn consumer_errors_stop_the_walk_and_unread_content_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, resolved) = layout_image(dir.path(), vec![stored(GZIP, many_files(2000, 5000))]);
    // Read two bytes of every other file only; the walk still sees every entry in order.
    let mut seen = 0;
    walk(&resolved, &mut |ev| {
        if let Event::Entry(e) = ev {
            if seen % 2 == 0 {
                let mut two = [0u8; 2];
                e.reader
                    .read_exact(&mut two)
                    .map_err(|x| WalkError::ReadContent {
                        at: e.path.to_owned(),
                        source: x,
                    })?;
            }
            seen += 1;
        }
        Ok(())
    })
    .expect("walk");
    assert_eq!(seen, 2000);

    // An error from the consumer ends the walk at once, with that error (and no hang while
    // the decoder thread still has data queued).
    let mut calls = 0;
    let err = walk(&resolved, &mut |ev| {
        if matches!(ev, Event::Entry(_)) {
            calls += 1;
            if calls == 3 {
                return Err(WalkError::Consumer("stop here".into()));
            }
        }
        Ok(())
    })
    .expect_err("consumer error");
    assert_eq!(err.to_string(), "stop here");
    assert_eq!(calls, 3);
}

#[cfg(unix)]
#[test]
fn dir_source_is_sorted_does_not_follow_symlinks_and_sees_hardlinks() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret"), "outside").expect("write");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    std::fs::create_dir_all(r.join("b/inner")).expect("mkdir");
    std::fs::create_dir_all(r.join("a")).expect("mkdir");
    std::fs::write(r.join("b/inner/z"), "z").expect("write");
    std::fs::write(r.join("a/file"), "content").expect("write");
    std::fs::hard_link(r.join("a/file"), r.join("b/linked")).expect("hardlink");
    std::os::unix::fs::symlink(outside.path(), r.join("a/out")).expect("symlink");
    std::os::unix::fs::symlink("../b", r.join("a/rel")).expect("symlink");

    let img = ResolvedImage::from_dir(r, &portcullis_image::Options::default()).expect("dir");
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].digest(), None);
    let w = walk_all(&img).expect("walk");
    let entries: Vec<&str> = w
        .events
        .iter()
        .filter(|e| e.starts_with('/'))
        .map(String::as_str)
        .collect();
    let out = format!("/a/out symlink->{} 0", outside.path().display());
    assert_eq!(
        entries,
        vec![
            "/a dir 0",
            "/a/file file 7",
            out.as_str(),
            "/a/rel symlink->../b 0",
            "/b dir 0",
            "/b/inner dir 0",
            "/b/inner/z file 1",
            "/b/linked hardlink->/a/file 0",
        ]
    );
    assert_eq!(w.events.first().map(String::as_str), Some("start 0 -"));
    assert!(w.warnings.is_empty());

    let err = ResolvedImage::from_dir(&r.join("a/file"), &portcullis_image::Options::default())
        .expect_err("file");
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn sbom_targets_are_not_images() {
    let t: Target = "sbom:/x.json".parse().expect("t");
    assert!(matches!(
        resolve_local(&t, &portcullis_image::Options::default()),
        Err(ImageError::NotAnImage(_))
    ));
}

/// A file under 1,000 nested directories (a 2,000-byte path in a GNU long name) is walked
/// like any other, with its full path and content.
#[test]
fn a_thousand_deep_directories_are_walked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep: String = "d/".repeat(1000);
    let file_path: &'static str = Box::leak(format!("{deep}METADATA").into_boxed_str());
    let layer = stored(GZIP, tar_layer(&[file(file_path, "Name: deep\n")]));
    let (_, resolved) = layout_image(dir.path(), vec![layer]);
    let mut found = None;
    walk(&resolved, &mut |ev| {
        if let Event::Entry(e) = ev {
            let mut content = String::new();
            e.reader.read_to_string(&mut content).expect("read");
            found = Some((e.path.to_string(), content));
        }
        Ok(())
    })
    .expect("walk");
    let (path, content) = found.expect("the deep file");
    assert_eq!(path, format!("/{deep}METADATA"));
    assert_eq!(content, "Name: deep\n");
}
