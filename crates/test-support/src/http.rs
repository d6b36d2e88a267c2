//! One small HTTP/1.1 server on 127.0.0.1 for tests: files with strong ETags, or answers from a
//! closure. Each connection is read once (headers only; request bodies are not read) and closed
//! after the answer. The server lives until the test process ends.

use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A request as the handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `HEAD` ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string after `?`, empty when there is none.
    pub query: String,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (Content-Length and Connection are written by the server).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// A Content-Length other than the body's: a transfer cut short.
    pub declared_length: Option<usize>,
}

impl Response {
    /// `status` with `body` and no extra headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
            declared_length: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Declares `len` bytes of body whatever is sent.
    pub fn declaring_length(mut self, len: usize) -> Self {
        self.declared_length = Some(len);
        self
    }
}

/// The paths asked for and the statuses answered, in order.
type Log = Arc<Mutex<Vec<(String, u16)>>>;

/// A running server.
pub struct HttpServer {
    addr: SocketAddr,
    log: Log,
}

impl HttpServer {
    /// Answers every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let log: Log = Arc::default();
        let handler = Arc::new(handler);
        let seen = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, seen) = (handler.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &*handler, &seen);
                });
            }
        });
        HttpServer { addr, log }
    }

    /// Serves the files under `root`; `ETag` is a hash of the content and a matching
    /// `If-None-Match` gets 304; `Last-Modified` is a fixed date. Paths with `..` and missing
    /// files get 404.
    pub fn files(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self::start(move |r| file_response(&root, r))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What was asked (path and query) and answered since the last call.
    pub fn take_log(&self) -> Vec<(String, u16)> {
        std::mem::take(&mut *self.log.lock())
    }
}

fn file_response(root: &Path, r: &Request) -> Response {
    let file = root.join(r.path.trim_start_matches('/'));
    if r.path.contains("..") || !file.is_file() {
        return Response::new(404, "not found");
    }
    let Ok(body) = std::fs::read(&file) else {
        return Response::new(500, "unreadable");
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
    let status = if r.header("if-none-match") == Some(etag.as_str()) {
        304
    } else {
        200
    };
    let body = if status == 304 { Vec::new() } else { body };
    Response::new(status, body)
        .header("ETag", etag)
        .header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
}

fn answer(
    mut stream: TcpStream,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
    log: &Log,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let request = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
    };
    let response = handler(&request);
    log.lock().push((target.clone(), response.status));
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.declared_length.unwrap_or(response.body.len())
    );
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        stream.write_all(&response.body)?;
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Status",
    }
}
