//! rpm: the SQLite database (`rpmdb.sqlite`, RHEL 9 / Fedora 33+) and the legacy Berkeley DB
//! `Packages` (RHEL 7/8, CentOS, Amazon Linux 2).
//!
//! Both store one header blob per installed package; [`header`] parses the blob, [`bdb`]
//! pulls blobs out of the Berkeley DB hash file. The newer `Packages.db` (SUSE's ndb) is not
//! read.

mod bdb;
mod header;

use std::io::Write;

use portcullis_core::{Ecosystem, Package, SourcePackage};

use crate::extractor::{ExtractError, ExtractInput, Extractor, Result};
use crate::util::{distro_qualifier, purl};

const PATHS: [&str; 4] = [
    "/var/lib/rpm/Packages",
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/Packages",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
];

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Installed rpm packages. Version is `[epoch:]version-release`; the source package comes
/// from `SOURCERPM` (`name-version-release.src.rpm`) and carries the binary's epoch, which
/// the source rpm file name cannot. `gpg-pubkey` pseudo-packages are skipped.
#[derive(Debug, Default)]
pub struct Rpm;

impl Extractor for Rpm {
    fn name(&self) -> &'static str {
        "os/rpm"
    }

    /// 2: the modularity label of module builds.
    fn version(&self) -> u32 {
        2
    }

    fn required(&self, path: &str) -> bool {
        PATHS.contains(&path)
    }

    fn needs_distro(&self) -> bool {
        true
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        if input.content.is_empty() {
            return Ok(Vec::new());
        }
        let blobs = if input.content.starts_with(SQLITE_MAGIC) {
            sqlite_blobs(input)?
        } else {
            bdb::values(input.content).map_err(|e| input.parse_error("Berkeley DB", e))?
        };
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for (i, blob) in blobs.iter().enumerate() {
            match header::parse(blob) {
                Ok(info) => out.extend(self.package(input, info)),
                Err(e) => failures.push((i, e)),
            }
        }
        // One damaged record should not hide every other package; only a database where
        // nothing parses is an error.
        if let Some((i, e)) = failures.into_iter().next() {
            if out.is_empty() {
                return Err(input.malformed(None, format!("package record {i}: {e}")));
            }
            tracing::warn!(path = input.path, record = i, error = %e, "skipping unreadable rpm header");
        }
        Ok(out)
    }
}

impl Rpm {
    fn package(&self, input: &ExtractInput<'_>, info: header::RpmInfo) -> Option<Package> {
        if info.name.is_empty() || info.version.is_empty() || info.name == "gpg-pubkey" {
            return None;
        }
        let epoch_prefix = info.epoch.map(|e| format!("{e}:")).unwrap_or_default();
        let evr = if info.release.is_empty() {
            info.version.clone()
        } else {
            format!("{}-{}", info.version, info.release)
        };
        let source = info
            .source_rpm
            .as_deref()
            .and_then(parse_source_rpm)
            .map(|(name, vr)| SourcePackage {
                name: name.to_owned(),
                version: format!("{epoch_prefix}{vr}"),
            });
        let namespace = input.distro.map_or("", |d| d.id.as_str());
        let arch = info.arch.filter(|a| !a.is_empty());
        Some(Package {
            purl: purl(
                "rpm",
                &[namespace],
                &info.name,
                &evr,
                &[
                    ("arch", arch.clone()),
                    ("epoch", info.epoch.map(|e| e.to_string())),
                    ("distro", distro_qualifier(input.distro)),
                ],
            ),
            version: format!("{epoch_prefix}{evr}"),
            name: info.name,
            ecosystem: Ecosystem::Rpm,
            source,
            found_by: self.name().to_owned(),
            locations: vec![input.location()],
            arch,
            licenses: info.license.filter(|l| !l.is_empty()).into_iter().collect(),
            module: info.modularity_label.filter(|l| !l.is_empty()),
        })
    }
}

/// `bash-5.1.8-6.el9.src.rpm` → (`bash`, `5.1.8-6.el9`).
fn parse_source_rpm(s: &str) -> Option<(&str, &str)> {
    let stem = s
        .strip_suffix(".src.rpm")
        .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = stem.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    Some((name, &stem[name.len() + 1..]))
}

/// SQLite needs a file: stage the content in a private temporary file and read the
/// `Packages(blob)` table from it, read-only.
fn sqlite_blobs(input: &ExtractInput<'_>) -> Result<Vec<Vec<u8>>> {
    let io = |what, source| ExtractError::Io {
        path: input.path.to_owned(),
        what,
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new()
        .map_err(|e| io("creating a temporary file for SQLite", e))?;
    tmp.write_all(input.content)
        .map_err(|e| io("writing the temporary SQLite file", e))?;
    tmp.flush()
        .map_err(|e| io("writing the temporary SQLite file", e))?;
    let sql = |e: rusqlite::Error| input.parse_error("SQLite rpm database", e);
    let conn = rusqlite::Connection::open_with_flags(
        tmp.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages").map_err(sql)?;
    let rows = stmt
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(sql)?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::header::{HeaderValue, encode, tag};
    use super::*;
    use portcullis_core::Distro;

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            parse_source_rpm("hello-0.0.1-rls.src.rpm"),
            Some(("hello", "0.0.1-rls"))
        );
        assert_eq!(
            parse_source_rpm("python3-pip-21.2.3-7.el9.src.rpm"),
            Some(("python3-pip", "21.2.3-7.el9"))
        );
        assert_eq!(parse_source_rpm("garbage"), None);
    }

    #[test]
    fn sqlite_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rpmdb.sqlite");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
            [],
        )
        .unwrap();
        let blobs = [
            encode(&[
                (tag::NAME, HeaderValue::Str("openssl-libs")),
                (tag::VERSION, HeaderValue::Str("3.0.7")),
                (tag::RELEASE, HeaderValue::Str("27.el9")),
                (tag::EPOCH, HeaderValue::Int(1)),
                (tag::ARCH, HeaderValue::Str("x86_64")),
                (
                    tag::SOURCERPM,
                    HeaderValue::Str("openssl-3.0.7-27.el9.src.rpm"),
                ),
                (tag::LICENSE, HeaderValue::Str("ASL 2.0")),
            ]),
            encode(&[
                (tag::NAME, HeaderValue::Str("gpg-pubkey")),
                (tag::VERSION, HeaderValue::Str("fd431d51")),
            ]),
        ];
        for b in &blobs {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                .unwrap();
        }
        drop(conn);
        let content = std::fs::read(&db).unwrap();
        let distro = Distro {
            id: "rhel".into(),
            version_id: Some("9.3".into()),
            ..Distro::default()
        };
        let input = ExtractInput {
            path: "/var/lib/rpm/rpmdb.sqlite",
            layer: Some(&portcullis_test_support::build::digest(0xaa)),
            content: &content,
            distro: Some(&distro),
        };
        let pkgs = Rpm.extract(&input).unwrap();
        assert_eq!(pkgs.len(), 1, "gpg-pubkey is skipped");
        let p = &pkgs[0];
        assert_eq!(p.version, "1:3.0.7-27.el9");
        assert_eq!(p.source.as_ref().unwrap().name, "openssl");
        assert_eq!(p.source.as_ref().unwrap().version, "1:3.0.7-27.el9");
        assert_eq!(
            p.purl,
            "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
        );
        assert_eq!(p.licenses, vec!["ASL 2.0".to_owned()]);
    }

    #[test]
    fn sqlite_without_packages_table_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("CREATE TABLE Other (x INTEGER)", []).unwrap();
        drop(conn);
        let content = std::fs::read(&db).unwrap();
        let input = ExtractInput {
            path: "/var/lib/rpm/rpmdb.sqlite",
            layer: None,
            content: &content,
            distro: None,
        };
        let err = Rpm.extract(&input).unwrap_err();
        assert!(
            err.to_string()
                .contains("/var/lib/rpm/rpmdb.sqlite: invalid SQLite"),
            "{err}"
        );
    }
}
