//! Telling the operating system from `/etc/os-release` and the older release files.
//!
//! This is not an [`Extractor`](crate::Extractor): it yields a [`Distro`], not packages, and
//! the engine needs the answer before it runs the OS package extractors (their package URLs
//! and ecosystems depend on it).

use portcullis_core::Distro;

/// The os-release locations, in the order systemd's `os-release(5)` says to try them.
/// On Debian `/etc/os-release` is a symlink to `../usr/lib/os-release`; the engine resolves it.
pub const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Older release files, used to fill gaps (Debian's point release) or when os-release is
/// missing (very old images).
pub const RELEASE_FILE_PATHS: [&str; 3] = [
    "/etc/debian_version",
    "/etc/alpine-release",
    "/etc/redhat-release",
];

/// Whether the engine should keep `path` for distro detection.
pub fn is_distro_file(path: &str) -> bool {
    OS_RELEASE_PATHS.contains(&path) || RELEASE_FILE_PATHS.contains(&path)
}

/// The raw content of the files distro detection looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct DistroFiles<'a> {
    /// `/etc/os-release`, or `/usr/lib/os-release` when the former is absent.
    pub os_release: Option<&'a [u8]>,
    /// `/etc/debian_version`.
    pub debian_version: Option<&'a [u8]>,
    /// `/etc/alpine-release`.
    pub alpine_release: Option<&'a [u8]>,
    /// `/etc/redhat-release`.
    pub redhat_release: Option<&'a [u8]>,
}

/// Tells the distro from whatever release files exist. os-release wins; the older files only
/// fill gaps (a Debian codename missing from a testing image's os-release) or stand in when
/// os-release is absent.
pub fn detect(files: &DistroFiles<'_>) -> Option<Distro> {
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).trim().to_owned());
    let debian_version = text(files.debian_version);
    let mut distro = files
        .os_release
        .and_then(|b| parse_os_release(&String::from_utf8_lossy(b)));
    if distro.is_none() {
        distro = text(files.alpine_release)
            .filter(|v| !v.is_empty())
            .map(|v| Distro {
                id: "alpine".into(),
                version_id: Some(v),
                ..Distro::default()
            })
            .or_else(|| text(files.redhat_release).and_then(|t| parse_redhat_release(&t)))
            .or_else(|| {
                debian_version.as_ref().map(|_| Distro {
                    id: "debian".into(),
                    ..Distro::default()
                })
            });
    }
    let mut distro = distro?;
    if distro.id == "debian" {
        let major = debian_version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
        if distro.version_id.is_none() {
            distro.version_id = major.map(str::to_owned);
        }
        if distro.codename.is_none() {
            distro.codename = distro
                .version_id
                .as_deref()
                .and_then(debian_codename)
                .map(str::to_owned);
        }
    }
    Some(distro)
}

/// Debian release number to codename, for images whose os-release lacks `VERSION_CODENAME`
/// (Debian 8 and older never had it; the tracker keys advisories by codename).
pub fn debian_codename(major: &str) -> Option<&'static str> {
    Some(match major {
        "7" => "wheezy",
        "8" => "jessie",
        "9" => "stretch",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        _ => return None,
    })
}

/// Parses os-release(5): `KEY=value` lines, values optionally quoted with shell-style
/// escapes. Returns `None` when there is no `ID` (the one field everything hinges on).
pub fn parse_os_release(text: &str) -> Option<Distro> {
    let mut d = Distro::default();
    let mut ubuntu_codename = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "ID" => d.id = value.to_ascii_lowercase(),
            "VERSION_ID" => d.version_id = Some(value),
            "VERSION_CODENAME" => d.codename = Some(value),
            "UBUNTU_CODENAME" => ubuntu_codename = Some(value),
            "PRETTY_NAME" => d.pretty_name = Some(value),
            _ => {}
        }
    }
    if d.codename.is_none() {
        d.codename = ubuntu_codename;
    }
    (!d.id.is_empty()).then_some(d)
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &v[1..v.len() - 1];
        if bytes[0] == b'\'' {
            return inner.to_owned();
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_owned()
}

/// `Red Hat Enterprise Linux release 8.9 (Ootpa)`, `CentOS Linux release 7.9.2009 (Core)`,
/// `Fedora release 39 (Thirty Nine)`.
fn parse_redhat_release(text: &str) -> Option<Distro> {
    let line = text.lines().next()?.trim();
    let (name, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?.to_owned();
    let lower = name.to_ascii_lowercase();
    let id = if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else {
        return None;
    };
    Some(Distro {
        id: id.into(),
        version_id: Some(version),
        codename: None,
        pretty_name: Some(line.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"#;

    #[test]
    fn parses_quoted_os_release() {
        let d = parse_os_release(BOOKWORM).unwrap();
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id.as_deref(), Some("12"));
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        assert_eq!(
            d.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn escapes_and_single_quotes() {
        let d = parse_os_release("ID='alpine'\nPRETTY_NAME=\"a \\\"b\\\"\"\n").unwrap();
        assert_eq!(d.id, "alpine");
        assert_eq!(d.pretty_name.as_deref(), Some("a \"b\""));
    }

    #[test]
    fn no_id_is_no_distro() {
        assert!(parse_os_release("NAME=x\nVERSION_ID=1\n").is_none());
    }

    #[test]
    fn debian_codename_from_debian_version() {
        // Debian 9's os-release had no VERSION_CODENAME.
        let os = b"ID=debian\nVERSION_ID=\"9\"\n";
        let d = detect(&DistroFiles {
            os_release: Some(os),
            debian_version: Some(b"9.13\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.codename.as_deref(), Some("stretch"));
        // Only debian_version: the release number and codename both come from it.
        let d = detect(&DistroFiles {
            debian_version: Some(b"11.7\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (
                d.id.as_str(),
                d.version_id.as_deref(),
                d.codename.as_deref()
            ),
            ("debian", Some("11"), Some("bullseye"))
        );
        // Testing says "trixie/sid": no number, no codename guessed.
        let d = detect(&DistroFiles {
            os_release: Some(b"ID=debian\n"),
            debian_version: Some(b"trixie/sid\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((d.version_id, d.codename), (None, None));
    }

    #[test]
    fn fallbacks_without_os_release() {
        let d = detect(&DistroFiles {
            alpine_release: Some(b"3.18.4\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_deref()),
            ("alpine", Some("3.18.4"))
        );
        let d = detect(&DistroFiles {
            redhat_release: Some(b"CentOS release 6.10 (Final)\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_deref()),
            ("centos", Some("6.10"))
        );
        assert!(detect(&DistroFiles::default()).is_none());
    }

    #[test]
    fn ubuntu_codename_fallback() {
        let d =
            parse_os_release("ID=ubuntu\nVERSION_ID=\"22.04\"\nUBUNTU_CODENAME=jammy\n").unwrap();
        assert_eq!(d.codename.as_deref(), Some("jammy"));
    }
}
