//! Image layers: the one-pass walk of a tar stream (plain, gzip or zstd), with whiteouts, links
//! and every entry's content read, ends in events or a clean error whatever the bytes. Limits
//! are small so decompression bombs stop quickly, as they must in a scan.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_image::{Event, Limits, ResolvedImage, walk_with_warnings};

/// One file per process, in memory-backed /dev/shm when there is one.
static LAYER: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("portcullis-fuzz-layer-{}", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    std::fs::write(&*LAYER, data).expect("the layer file is written");
    let limits = Limits {
        max_entries_per_layer: 10_000,
        max_total_bytes: 64 << 20,
    };
    let img = ResolvedImage::from_layer_files(&[LAYER.clone(), LAYER.clone()], limits)
        .expect("a layer file");
    let mut buf = vec![0u8; 64 << 10];
    let _ = walk_with_warnings(&img, &mut |ev| {
        if let Event::Entry(e) = ev {
            assert!(e.path.starts_with('/'), "{:?} is not absolute", e.path);
            assert!(
                !e.path.split('/').any(|c| c == ".."),
                "{:?} escapes",
                e.path
            );
            while e.reader.read(&mut buf).map_err(|source| {
                portcullis_image::WalkError::ReadContent {
                    at: e.path.to_string(),
                    source,
                }
            })? > 0
            {}
        }
        Ok(())
    });
});
