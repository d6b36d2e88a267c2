//! Test data location, small file helpers, and a local HTTP server with ETag support.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// The advisories folder of the shared test data, or `None` (with a printed reason) when
/// it is missing outside CI. In CI (`CI=true`) missing data fails the test.
pub(crate) fn advisories() -> Option<PathBuf> {
    let root = std::env::var_os("PORTCULLIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    let dir = root.join("advisories");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "test data missing at {}",
        dir.display()
    );
    eprintln!(
        "skipping: test data missing at {} (set PORTCULLIS_TESTDATA)",
        dir.display()
    );
    None
}

/// Every file under `dir` (recursively) whose name satisfies `keep`, sorted.
pub(crate) fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn ext_is(ext: &'static str) -> impl Fn(&Path) -> bool {
    move |p: &Path| p.extension().is_some_and(|e| e == ext)
}

pub(crate) fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

/// Writes a zip of `files` (stored under `prefix/<file name>`).
pub(crate) fn write_zip(dest: &Path, prefix: &str, files: &[PathBuf]) {
    let f = std::fs::File::create(dest).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for p in files {
        let name = format!("{prefix}/{}", p.file_name().unwrap().to_string_lossy());
        z.start_file(name, opts).unwrap();
        z.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    z.finish().unwrap();
}

/// Names of files left in a directory (to see that no temporary database survived).
pub(crate) fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One request the server answered: path and status.
pub(crate) type Log = Arc<Mutex<Vec<(String, u16)>>>;

/// A minimal HTTP/1.1 file server on 127.0.0.1 serving `root`, with strong ETags (sha256
/// of the content) and 304 on a matching `If-None-Match`. It lives until the test process
/// ends and only answers the requests the test makes.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) log: Log,
}

pub(crate) fn serve(root: PathBuf) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let log = log2.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root, &log);
            });
        }
    });
    Server { base, log }
}

fn handle(mut stream: TcpStream, root: &Path, log: &Log) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut if_none_match = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(v.trim().to_string());
        }
    }
    let file = root.join(path.trim_start_matches('/'));
    let (status, body, etag) = if path.contains("..") || !file.is_file() {
        (404, b"not found".to_vec(), None)
    } else {
        let body = std::fs::read(&file)?;
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
        if if_none_match.as_deref() == Some(etag.as_str()) {
            (304, Vec::new(), Some(etag))
        } else {
            (200, body, Some(etag))
        }
    };
    log.lock().unwrap().push((path, status));
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    );
    if let Some(e) = etag {
        head.push_str(&format!("ETag: {e}\r\n"));
    }
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}
