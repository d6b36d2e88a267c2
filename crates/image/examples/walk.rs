//! Resolves a target and walks it once, printing entry counts, bytes read and timing.
//! `cargo run --release -p portcullis-image --example walk -- TARGET [--read] [--insecure HOST:PORT]`

use std::time::Instant;

use portcullis_image::{Event, Options, Target, resolve, walk_with_warnings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target: Target = args
        .next()
        .ok_or("usage: walk TARGET [--read] [--insecure HOST:PORT]")?
        .parse()?;
    let mut opts = Options {
        progress: true,
        ..Options::default()
    };
    let mut read = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--read" => read = true,
            "--insecure" => opts
                .insecure_registries
                .push(args.next().ok_or("--insecure needs HOST:PORT")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let t0 = Instant::now();
    let img = resolve(&target, &opts).await?;
    let t1 = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut buf = vec![0u8; 64 << 10];
    let warnings = walk_with_warnings(&img, &mut |ev| {
        if let Event::Entry(e) = ev {
            entries += 1;
            if read {
                loop {
                    let n = e.reader.read(&mut buf).map_err(|x| {
                        portcullis_image::WalkError::ReadContent {
                            at: e.path.to_owned(),
                            source: x,
                        }
                    })?;
                    if n == 0 {
                        break;
                    }
                    bytes += n as u64;
                }
            }
        }
        Ok(())
    })?;
    let t2 = Instant::now();
    println!(
        "{}: digest {:?}, {} layers, stats {:?}; resolve {:?}, walk {:?}: {entries} entries, {bytes} bytes read, {} warnings",
        img.info.reference,
        img.info.digest,
        img.layers.len(),
        img.stats,
        t1 - t0,
        t2 - t1,
        warnings.len()
    );
    Ok(())
}
