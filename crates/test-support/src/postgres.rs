//! PostgreSQL for the store tests: the server `scripts/postgres` starts (Debian's PostgreSQL,
//! initdb'd into a directory of its own, on 127.0.0.1), named by `PORTCULLIS_TEST_POSTGRES`
//! (its admin URL). Each test gets a database of its own, so tests run in parallel and a test
//! always starts from an empty store.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::inputs::missing;

/// The admin URL of the test server, or `None` (after the skip rule) when there is none.
pub fn server() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => missing("PostgreSQL (PORTCULLIS_TEST_POSTGRES; scripts/postgres starts one)"),
    }
}

/// A new, empty database on the test server, named after `test` and this process; its URL.
pub fn fresh_database(test: &str) -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = server()?;
    let name = format!(
        "t_{}_{}_{}",
        test.chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            })
            .take(30)
            .collect::<String>(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    sql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
    sql(&admin, &format!("CREATE DATABASE {name}"));
    Some(database_url(&admin, &name))
}

/// A PostgreSQL server of a test's own (started by `scripts/postgres` in a directory and on a
/// port of its own), for fault tests that kill it; stopped and removed when dropped.
pub struct PrivateServer {
    dir: std::path::PathBuf,
    port: u16,
    /// Its admin URL.
    pub url: String,
}

impl PrivateServer {
    /// Starts one named after `test`, or `None` (after the skip rule) when there is no
    /// PostgreSQL for tests here.
    pub fn start(test: &str) -> Option<PrivateServer> {
        server()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::path::PathBuf::from(format!(
            "/var/tmp/portcullis-postgres-{test}-{}",
            std::process::id()
        ));
        let mut s = PrivateServer {
            dir,
            port,
            url: String::new(),
        };
        s.url = s.script(None);
        Some(s)
    }

    /// Stops it as a crash would: clients are cut off, nothing is shut down cleanly.
    pub fn kill(&self) {
        self.script(Some("kill"));
    }

    /// Starts it again after [`PrivateServer::kill`].
    pub fn restart(&self) {
        self.script(None);
    }

    fn script(&self, action: Option<&str>) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres");
        let out = std::process::Command::new(script)
            .args(action)
            .env("PORTCULLIS_POSTGRES_DIR", &self.dir)
            .env("PORTCULLIS_TEST_POSTGRES_PORT", self.port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        assert!(
            out.status.success(),
            "{script} {action:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.script(Some("stop"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `url` with its database replaced by `database`.
pub fn database_url(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_end..].find('/') {
        Some(i) => &base[..host_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Runs one statement on the server with `psql` (from the same PostgreSQL package), failing the
/// test with psql's message.
pub fn sql(url: &str, statement: &str) {
    let out = std::process::Command::new(psql())
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            statement,
        ])
        .output()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    assert!(
        out.status.success(),
        "psql {statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql() -> String {
    let mut bins: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.exists())
        .collect();
    bins.sort();
    bins.pop()
        .map_or_else(|| "psql".to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            database_url("postgres://u:p@127.0.0.1:5079/postgres", "t_1"),
            "postgres://u:p@127.0.0.1:5079/t_1"
        );
        assert_eq!(
            database_url("postgres://u:p@h:1/postgres?sslmode=disable", "t_1"),
            "postgres://u:p@h:1/t_1?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h", "t"), "postgres://h/t");
    }
}
