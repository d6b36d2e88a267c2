//! Public keys as policies give them: PEM `PUBLIC KEY` blocks (what `cosign
//! generate-key-pair` writes to `cosign.pub`).

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, VerificationAlgorithm,
};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject as _;
use sha2::{Digest as _, Sha256};

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text holds no PEM `PUBLIC KEY` block.
    #[error(
        "not a PEM public key (expected a \"-----BEGIN PUBLIC KEY-----\" block, as cosign.pub holds)"
    )]
    NotPem,
    /// A private key was given where a public key belongs.
    #[error("a private key was given; give the public key (cosign.pub)")]
    Private,
    /// The key is of an algorithm or curve cosign signatures are not verified with here.
    #[error(
        "unsupported key: only ECDSA P-256 or P-384, Ed25519 and RSA (2048 to 8192 bits) keys are accepted"
    )]
    Unsupported,
}

/// The algorithm a key verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (cosign's default keys).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
}

impl KeyAlgorithm {
    /// Its name in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
        }
    }
}

/// A checked public key.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    key: std::sync::Arc<ParsedPublicKey>,
    id: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm.as_str(), self.id)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl PublicKey {
    /// Reads a PEM public key. Its algorithm is told from the key itself, so one list may
    /// mix kinds.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        if text.contains("PRIVATE KEY-----") {
            return Err(KeyError::Private);
        }
        let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
            .map_err(|_| KeyError::NotPem)?;
        let candidates: [(KeyAlgorithm, &'static dyn VerificationAlgorithm); 4] = [
            (KeyAlgorithm::EcdsaP256, &ECDSA_P256_SHA256_ASN1),
            (KeyAlgorithm::EcdsaP384, &ECDSA_P384_SHA384_ASN1),
            (KeyAlgorithm::Ed25519, &ED25519),
            (KeyAlgorithm::Rsa, &RSA_PKCS1_2048_8192_SHA256),
        ];
        for (algorithm, alg) in candidates {
            if let Ok(key) = ParsedPublicKey::new(alg, der.as_ref()) {
                return Ok(PublicKey {
                    algorithm,
                    key: std::sync::Arc::new(key),
                    id: key_id(der.as_ref()),
                });
            }
        }
        Err(KeyError::Unsupported)
    }

    /// How evidence names the key: `sha256:` and the first 16 hex digits of the SHA-256 of
    /// its DER form (`openssl pkey -pubin -outform DER | sha256sum` gives the same digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// True when `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

fn key_id(der: &[u8]) -> String {
    let hash = Sha256::digest(der);
    format!("sha256:{}", &hex::encode(hash)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by `cosign generate-key-pair` (cosign 2.5, Debian trixie).
    const COSIGN_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERPII1ksXN7t5OARYUd2UTrXkP7z2
fQQ4PdxXRDAiMpenRCXX4Hdh5TBNG5Ghbz25UurYqU7+ortq4t3LGLyquA==
-----END PUBLIC KEY-----
";

    #[test]
    fn reads_a_cosign_key_and_refuses_others() {
        let k = PublicKey::from_pem(COSIGN_PUB).unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::EcdsaP256);
        assert!(
            k.id().starts_with("sha256:") && k.id().len() == 23,
            "{}",
            k.id()
        );
        assert_eq!(PublicKey::from_pem("hello"), Err(KeyError::NotPem));
        assert_eq!(
            PublicKey::from_pem(
                "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAA==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
            ),
            Err(KeyError::Private)
        );
        // A PEM block of the right label whose content is no key.
        assert_eq!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::Unsupported)
        );
    }
}
