//! Server certificates: loaded from PEM files and swapped when the files change, or
//! generated (a small CA and a serving certificate) when none are given.
//!
//! The API server only talks to webhooks over TLS, and cert-manager or a Secret mount
//! rotates the files under a running pod; re-reading them on change avoids a restart.
//! Each new TLS handshake asks [`ReloadingCert`] for the current certificate, so open
//! connections keep theirs and new ones see the new one.

use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

/// File name of the generated CA certificate (the `caBundle` of the webhook registration).
pub const GENERATED_CA: &str = "ca.crt";
/// File name of the generated serving certificate chain.
pub const GENERATED_CERT: &str = "tls.crt";
/// File name of the generated private key.
pub const GENERATED_KEY: &str = "tls.key";

/// Loads a certificate chain and key from PEM files and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey> {
    let bad = |path: &Path, reason: String| Error::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let cert_pem = std::fs::read(cert).map_err(|source| Error::Io {
        path: cert.to_path_buf(),
        source,
    })?;
    let key_pem = std::fs::read(key).map_err(|source| Error::Io {
        path: key.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(cert, "no CERTIFICATE block found".into()));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(key, format!("no usable private key: {e}")))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        bad(
            cert,
            format!(
                "certificate and key {} do not form a usable pair: {e}",
                key.display()
            ),
        )
    })
}

/// A verifier accepting only clients whose certificate chains to a CA in the PEM file `path`
/// (with the clientAuth usage, as the API server's client certificate has).
pub(crate) fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let bad = |reason: String| Error::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(format!("cannot verify clients with it: {e}")))
}

/// The resolver every handshake asks; holds the current certificate.
#[derive(Debug)]
pub(crate) struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    pub(crate) fn new(key: CertifiedKey) -> Self {
        ReloadingCert {
            current: RwLock::new(Arc::new(key)),
        }
    }

    pub(crate) fn set(&self, key: CertifiedKey) {
        *self.current.write() = Arc::new(key);
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read()))
    }
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

/// Re-reads `cert` and `key` whenever either file's modification time or size changes,
/// swapping the certificate in `target`. A pair that fails to load is logged and the
/// previous certificate kept (the files are often written one after the other).
pub(crate) fn spawn_reloader(
    target: Arc<ReloadingCert>,
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    // Taken before spawning: a change between now and the task's first run must count.
    let mut seen = (stamp(&cert), stamp(&key));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = (stamp(&cert), stamp(&key));
            if now == seen {
                continue;
            }
            match load_certified_key(&cert, &key) {
                Ok(k) => {
                    target.set(k);
                    seen = now;
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate changed but cannot be loaded; keeping the previous one")
                }
            }
        }
    })
}

/// Paths of a generated certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedCert {
    /// The CA certificate to trust (the registration's `caBundle`).
    pub ca: PathBuf,
    /// The serving certificate chain.
    pub cert: PathBuf,
    /// The serving key.
    pub key: PathBuf,
}

/// Generates a CA and a serving certificate for `localhost`, `127.0.0.1` and `names`
/// into `dir`, unless a loadable pair is there already (so that a registration's
/// `caBundle` stays valid across restarts).
pub fn ensure_generated(dir: &Path, names: &[String]) -> Result<GeneratedCert> {
    let out = GeneratedCert {
        ca: dir.join(GENERATED_CA),
        cert: dir.join(GENERATED_CERT),
        key: dir.join(GENERATED_KEY),
    };
    if out.ca.exists() && load_certified_key(&out.cert, &out.key).is_ok() {
        tracing::info!(dir = %dir.display(), "reusing the generated TLS certificate");
        return Ok(out);
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (ca_pem, cert_pem, key_pem) =
        generate(names).map_err(|e| Error::Generate(e.to_string()))?;
    for (path, pem) in [
        (&out.ca, &ca_pem),
        (&out.cert, &cert_pem),
        (&out.key, &key_pem),
    ] {
        std::fs::write(path, pem).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    }
    tracing::info!(
        ca = %out.ca.display(), cert = %out.cert.display(), key = %out.key.display(),
        "generated a self-signed TLS certificate; trust the CA file (caBundle) to call the webhook"
    );
    Ok(out)
}

fn generate(names: &[String]) -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "portcullis webhook CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.extend(names.iter().filter(|n| !n.is_empty()).cloned());
    sans.dedup();
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(sans)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "portcullis webhook");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(3650);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok((
        ca_cert.pem(),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        leaf_key.serialize_pem(),
    ))
}
