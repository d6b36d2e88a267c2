//! Registry credentials: Docker `config.json`, Kubernetes pull Secrets, and the
//! `WWW-Authenticate` challenge a registry answers with.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::options::{Options, home_dir};
use portcullis_core::DOCKER_HUB;

/// Errors of loading credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credentials file could not be read.
    #[error("cannot read credentials file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A credentials file is not what it should be.
    #[error("invalid credentials file {path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        what: String,
    },
}

/// A username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Credentials looked up by registry host, from (in this order of precedence) explicit
/// `Options::creds`, the `registry_auth` Secret, and the Docker config.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    explicit: Option<Login>,
    by_host: BTreeMap<String, Login>,
}

impl Credentials {
    /// Loads what `opts` names. A missing default Docker config is not an error; a named
    /// file that is missing or malformed is.
    pub fn from_options(opts: &Options) -> Result<Self, AuthError> {
        let mut creds = Credentials {
            explicit: opts.creds.as_ref().map(|(u, p)| Login {
                username: u.clone(),
                password: p.clone(),
            }),
            by_host: BTreeMap::new(),
        };
        let docker_config = match &opts.docker_config {
            Some(p) => Some(p.clone()),
            None => default_docker_config().filter(|p| p.is_file()),
        };
        if let Some(path) = docker_config {
            let text = read(&path)?;
            creds.by_host.extend(parse_docker_config(&text, &path)?);
        }
        // The Secret wins over the Docker config for hosts in both.
        if let Some(path) = &opts.registry_auth {
            let text = read(path)?;
            creds.by_host.extend(parse_pull_secret(&text, path)?);
        }
        // A pod's own pull secrets win over the server's configuration.
        creds.by_host.extend(
            opts.logins
                .iter()
                .map(|(host, login)| (normalize_host(host), login.clone())),
        );
        Ok(creds)
    }

    /// Credentials from `(host, login)` pairs (hosts are normalised like config keys).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Login)>) -> Self {
        Credentials {
            explicit: None,
            by_host: pairs
                .into_iter()
                .map(|(h, l)| (normalize_host(h), l))
                .collect(),
        }
    }

    /// The login for `registry` (`HOST[:PORT]` as in the reference), if any.
    pub fn lookup(&self, registry: &str) -> Option<&Login> {
        self.explicit
            .as_ref()
            .or_else(|| self.by_host.get(&normalize_host(registry)))
    }
}

fn read(path: &Path) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        path: path.to_owned(),
        source,
    })
}

fn default_docker_config() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => home_dir().map(|h| h.join(".docker").join("config.json")),
    }
}

/// Reduces a config key (`https://index.docker.io/v1/`, `ghcr.io`, `http://h:5000/x`) to
/// the registry name a reference carries.
pub(crate) fn normalize_host(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let k = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match k.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | "docker.io" => {
            DOCKER_HUB.to_owned()
        }
        _ => k,
    }
}

/// Parses a Docker `config.json` (`{"auths": {HOST: {auth | username+password}}}`).
pub fn parse_docker_config(text: &str, path: &Path) -> Result<BTreeMap<String, Login>, AuthError> {
    let v: Value = serde_json::from_str(text).map_err(|e| AuthError::Invalid {
        path: path.to_owned(),
        what: format!("not JSON: {e}"),
    })?;
    logins_from_auths(&v, path)
}

fn logins_from_auths(v: &Value, path: &Path) -> Result<BTreeMap<String, Login>, AuthError> {
    let invalid = |what: String| AuthError::Invalid {
        path: path.to_owned(),
        what,
    };
    let mut out = BTreeMap::new();
    let Some(auths) = v.get("auths") else {
        if v.get("credsStore").is_some() || v.get("credHelpers").is_some() {
            tracing::warn!(path = %path.display(), "credential helpers are not supported; only `auths` entries are used");
        }
        return Ok(out);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| invalid("`auths` is not an object".into()))?;
    for (host, entry) in auths {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let login = if let Some(auth) = field("auth") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| invalid(format!("auths.{host}.auth is not base64: {e}")))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| invalid(format!("auths.{host}.auth is not UTF-8")))?;
            let (u, p) = raw.split_once(':').ok_or_else(|| {
                invalid(format!(
                    "auths.{host}.auth does not decode to `user:password`"
                ))
            })?;
            Login {
                username: u.to_owned(),
                password: p.to_owned(),
            }
        } else if let (Some(u), Some(p)) = (field("username"), field("password")) {
            Login {
                username: u.to_owned(),
                password: p.to_owned(),
            }
        } else {
            if field("identitytoken").is_some() {
                tracing::warn!(
                    host,
                    "identity tokens in the Docker config are not supported; entry ignored"
                );
            }
            continue;
        };
        out.insert(normalize_host(host), login);
    }
    Ok(out)
}

/// Parses a `kubernetes.io/dockerconfigjson` Secret (JSON or YAML; `data` base64 or
/// `stringData` plain), a legacy `kubernetes.io/dockercfg` Secret, or a raw dockerconfigjson.
pub fn parse_pull_secret(text: &str, path: &Path) -> Result<BTreeMap<String, Login>, AuthError> {
    let invalid = |what: String| AuthError::Invalid {
        path: path.to_owned(),
        what,
    };
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_err) => serde_saphyr::from_str(text).map_err(|yaml_err| {
            invalid(format!("neither JSON ({json_err}) nor YAML ({yaml_err})"))
        })?,
    };
    if v.get("auths").is_some() {
        return logins_from_auths(&v, path);
    }
    let secret_value = |key: &str| -> Result<Option<String>, AuthError> {
        if let Some(b64) = v
            .get("data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .map_err(|e| invalid(format!("data[{key}] is not base64: {e}")))?;
            let s =
                String::from_utf8(raw).map_err(|_| invalid(format!("data[{key}] is not UTF-8")))?;
            return Ok(Some(s));
        }
        Ok(v.get("stringData")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned))
    };
    if let Some(inner) = secret_value(".dockerconfigjson")? {
        let inner: Value = serde_json::from_str(&inner)
            .map_err(|e| invalid(format!("data[.dockerconfigjson] is not JSON: {e}")))?;
        return logins_from_auths(&inner, path);
    }
    if let Some(inner) = secret_value(".dockercfg")? {
        // The legacy format is the `auths` object itself.
        let inner: Value = serde_json::from_str(&inner)
            .map_err(|e| invalid(format!("data[.dockercfg] is not JSON: {e}")))?;
        return logins_from_auths(&serde_json::json!({ "auths": inner }), path);
    }
    Err(invalid(
        "no `data[.dockerconfigjson]` (a kubernetes.io/dockerconfigjson Secret) and no `auths` (a raw config)".into(),
    ))
}

/// A `WWW-Authenticate` challenge from a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Get a token from `realm` (`?service=..&scope=..`), then send `Authorization: Bearer`.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// `service` parameter, echoed to the token endpoint.
        service: Option<String>,
        /// `scope` the registry asked for, if it said.
        scope: Option<String>,
    },
    /// Send `Authorization: Basic` with the credentials.
    Basic {
        /// Realm, for messages.
        realm: Option<String>,
    },
}

/// Parses `WWW-Authenticate: Bearer realm="..",service="..",scope=".."` (or `Basic ..`).
/// Quoted values may hold commas and `\"` escapes. `None` for unknown schemes or a Bearer
/// challenge without a realm.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic {
            realm: get("realm"),
        })
    } else {
        None
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn bearer_challenge_with_commas_in_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            })
        );
        let c = parse_challenge(r#"bearer  realm = "http://x/t\"q" , service=svc"#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://x/t\"q".into(),
                service: Some("svc".into()),
                scope: None
            })
        );
    }

    #[test]
    fn basic_and_unknown_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: Some("Registry Realm".into())
            })
        );
        assert_eq!(
            parse_challenge("Basic"),
            Some(Challenge::Basic { realm: None })
        );
        assert_eq!(parse_challenge(r#"Negotiate abc"#), None);
        assert_eq!(
            parse_challenge(r#"Bearer service="x""#),
            None,
            "a bearer challenge needs a realm"
        );
    }

    #[test]
    fn docker_config_auth_and_user_password() {
        let text = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5055": {{"username": "u2", "password": "p:2"}},
                "ghcr.io": {{"identitytoken": "x"}}}}}}"#,
            b64("alice:s3cr:et")
        );
        let m = parse_docker_config(&text, Path::new("c.json")).expect("valid");
        assert_eq!(
            m["docker.io"],
            Login {
                username: "alice".into(),
                password: "s3cr:et".into()
            }
        );
        assert_eq!(m["127.0.0.1:5055"].password, "p:2");
        assert!(!m.contains_key("ghcr.io"));
        let creds = Credentials {
            explicit: None,
            by_host: m,
        };
        assert_eq!(
            creds
                .lookup("registry-1.docker.io")
                .map(|l| l.username.as_str()),
            Some("alice")
        );
        assert!(creds.lookup("quay.io").is_none());
        assert!(
            !format!("{creds:?}").contains("s3cr"),
            "Debug must not print passwords"
        );

        let bad = format!(r#"{{"auths": {{"h": {{"auth": "{}"}}}}}}"#, b64("nocolon"));
        let err = parse_docker_config(&bad, Path::new("c.json"))
            .expect_err("no colon")
            .to_string();
        assert!(
            err.contains("c.json") && err.contains("auths.h.auth"),
            "{err}"
        );
    }

    #[test]
    fn pull_secret_json_yaml_and_raw() {
        let inner = format!(
            r#"{{"auths":{{"reg.example:5000":{{"auth":"{}"}}}}}}"#,
            b64("bob:pw")
        );
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{{".dockerconfigjson":"{}"}}}}"#,
            b64(&inner)
        );
        let yaml = format!(
            "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            b64(&inner)
        );
        for text in [json.as_str(), yaml.as_str(), inner.as_str()] {
            let m = parse_pull_secret(text, Path::new("s.yaml")).expect(text);
            assert_eq!(m["reg.example:5000"].username, "bob", "{text}");
        }
        let legacy = format!(
            r#"{{"kind":"Secret","data":{{".dockercfg":"{}"}}}}"#,
            b64(r#"{"q.io":{"auth":"YTpi"}}"#)
        );
        assert_eq!(
            parse_pull_secret(&legacy, Path::new("l")).expect("legacy")["q.io"].password,
            "b"
        );
        let err = parse_pull_secret("kind: Secret\ndata: {}\n", Path::new("s.yaml"))
            .expect_err("empty")
            .to_string();
        assert!(err.contains("dockerconfigjson"), "{err}");
    }

    #[test]
    fn explicit_creds_win() {
        let opts = Options {
            creds: Some(("x".into(), "y".into())),
            docker_config: Some(PathBuf::from("/nonexistent/config.json")),
            ..Options::default()
        };
        // A named but missing file is an error, not silently ignored.
        assert!(matches!(
            Credentials::from_options(&opts),
            Err(AuthError::Read { .. })
        ));
        let opts = Options {
            docker_config: None,
            ..opts
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            docker_config: Some(dir.path().join("none")),
            ..opts
        };
        assert!(Credentials::from_options(&opts).is_err());
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"h":{"username":"a","password":"b"}}}"#).expect("write");
        let opts = Options {
            docker_config: Some(path),
            ..opts
        };
        let c = Credentials::from_options(&opts).expect("loads");
        assert_eq!(c.lookup("h").map(|l| l.username.as_str()), Some("x"));
    }

    #[test]
    fn a_pods_logins_win_over_the_servers_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"reg.example:5000":{"username":"server","password":"s"},"other.example":{"username":"o","password":"o"}}}"#,
        )
        .expect("write");
        let login = |u: &str| Login {
            username: u.into(),
            password: "p".into(),
        };
        let opts = Options {
            docker_config: Some(path),
            logins: [("https://reg.example:5000/v1/".to_string(), login("pod"))].into(),
            ..Options::default()
        };
        let c = Credentials::from_options(&opts).expect("loads");
        assert_eq!(
            c.lookup("reg.example:5000").map(|l| l.username.as_str()),
            Some("pod")
        );
        assert_eq!(
            c.lookup("other.example").map(|l| l.username.as_str()),
            Some("o")
        );
        // Never printed.
        assert!(!format!("{opts:?}").contains("\"p\""));
    }
}
