//! Issuing and checking API tokens.
//!
//! Checking compares the SHA-256 of the presented secret with the stored one in constant time,
//! and every failure a caller could probe with (no such id, wrong secret, malformed) is the
//! same [`AuthError::Invalid`], so an answer never tells which part was wrong.

use portcullis_core::{ApiToken, StoreError, TokenScope, TokenStore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// What every token starts with: it tells a token in a secret scanner's or a reader's eyes.
pub const PREFIX: &str = "pcl_";
/// Random bytes in a token's id and in its secret.
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// Why a request's token is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("an API token is required (Authorization: Bearer TOKEN)")]
    Missing,
    /// Not a token of this service, or not one it issued (unknown id, wrong secret): which,
    /// is not said.
    #[error("the API token is not valid")]
    Invalid,
    /// The token was revoked.
    #[error("the API token was revoked")]
    Revoked,
    /// The token's expiry has passed.
    #[error("the API token expired")]
    Expired,
    /// The token is valid but its scope does not allow this.
    #[error("the API token's scope `{has}` does not allow this (needs `{needed}`)")]
    Scope {
        /// The token's scope.
        has: &'static str,
        /// The scope needed.
        needed: &'static str,
    },
    /// The store could not be read.
    #[error("the token store cannot be read")]
    Store(#[source] StoreError),
}

impl AuthError {
    /// Whether the caller is not known (HTTP 401) rather than known but not allowed (403).
    pub fn unauthenticated(&self) -> bool {
        !matches!(self, AuthError::Scope { .. } | AuthError::Store(_))
    }
}

/// A token just made: what the store keeps, the SHA-256 it keeps beside it, and the token
/// itself, to be shown once.
#[derive(Debug)]
pub struct Issued {
    /// The stored part.
    pub token: ApiToken,
    /// The SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// `pcl_<id>_<secret>`, for the holder only.
    pub presented: String,
}

fn random_hex(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Makes a new token of `scope`, named `name`, valid until `expires` if given.
pub fn issue(
    scope: TokenScope,
    name: &str,
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Issued, getrandom::Error> {
    let id = random_hex(ID_BYTES)?;
    let secret = random_hex(SECRET_BYTES)?;
    Ok(Issued {
        secret_sha256: Sha256::digest(secret.as_bytes()).into(),
        presented: format!("{PREFIX}{id}_{secret}"),
        token: ApiToken {
            id,
            name: name.to_string(),
            scope,
            created: now,
            expires,
            revoked: false,
        },
    })
}

/// The token `presented` (the bearer string), if it is one this store issued, is in force at
/// `now` and its scope grants `needed`.
pub fn verify(
    store: &dyn TokenStore,
    presented: &str,
    needed: TokenScope,
    now: OffsetDateTime,
) -> Result<ApiToken, AuthError> {
    let (id, secret) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .ok_or(AuthError::Invalid)?;
    let Some((token, stored)) = store.token(id).map_err(AuthError::Store)? else {
        // The same work as a known id, so the time taken does not tell ids apart.
        let _ = Sha256::digest(secret.as_bytes()).ct_eq(&[0u8; 32]);
        return Err(AuthError::Invalid);
    };
    let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if !bool::from(given.ct_eq(&stored)) {
        return Err(AuthError::Invalid);
    }
    if token.revoked {
        return Err(AuthError::Revoked);
    }
    if token.expires.is_some_and(|e| e <= now) {
        return Err(AuthError::Expired);
    }
    if !token.scope.grants(needed) {
        return Err(AuthError::Scope {
            has: token.scope.as_str(),
            needed: needed.as_str(),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, portcullis_store::SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let versions = portcullis_store::CodeVersions {
            catalog: "test".into(),
            report: "test".into(),
        };
        let store = portcullis_store::SqliteStore::open_for(&dir.path().join("s.db"), versions)
            .expect("store");
        (dir, store)
    }

    fn kept(store: &dyn TokenStore, scope: TokenScope, expires: Option<OffsetDateTime>) -> String {
        let now = OffsetDateTime::now_utc();
        let t = issue(scope, "ci", expires, now).expect("random");
        store.put_token(&t.token, &t.secret_sha256).expect("put");
        t.presented
    }

    #[test]
    fn a_token_is_accepted_for_its_scope_only() {
        let (_d, s) = store();
        let now = OffsetDateTime::now_utc();
        let write = kept(&s, TokenScope::Write, None);
        let push = kept(&s, TokenScope::Push, None);
        assert!(
            verify(&s, &write, TokenScope::Read, now).is_ok(),
            "write reads"
        );
        assert!(verify(&s, &write, TokenScope::Write, now).is_ok());
        assert!(verify(&s, &push, TokenScope::Push, now).is_ok());
        let e = verify(&s, &push, TokenScope::Read, now).unwrap_err();
        assert!(
            matches!(
                e,
                AuthError::Scope {
                    has: "push",
                    needed: "read"
                }
            ),
            "{e}"
        );
        assert!(!e.unauthenticated());
    }

    #[test]
    fn forged_unknown_revoked_and_expired_tokens_are_refused() {
        let (_d, s) = store();
        let now = OffsetDateTime::now_utc();
        let good = kept(&s, TokenScope::Read, None);
        let (id, secret) = good[PREFIX.len()..].split_once('_').expect("shape");
        let mut flipped = secret.to_string();
        flipped.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        for bad in [
            format!("{PREFIX}{id}_{flipped}"),
            format!("{PREFIX}ffffffffffff_{secret}"),
            format!("{PREFIX}{id}"),
            secret.to_string(),
            String::new(),
        ] {
            let e = verify(&s, &bad, TokenScope::Read, now).unwrap_err();
            assert!(matches!(e, AuthError::Invalid), "{bad}: {e}");
            assert!(e.unauthenticated());
        }
        assert!(s.revoke_token(id).expect("revoke"));
        assert!(matches!(
            verify(&s, &good, TokenScope::Read, now),
            Err(AuthError::Revoked)
        ));
        let soon = kept(
            &s,
            TokenScope::Read,
            Some(now + time::Duration::seconds(60)),
        );
        assert!(verify(&s, &soon, TokenScope::Read, now).is_ok());
        let later = now + time::Duration::seconds(61);
        assert!(matches!(
            verify(&s, &soon, TokenScope::Read, later),
            Err(AuthError::Expired)
        ));
    }

    #[test]
    fn only_the_secrets_hash_is_stored() {
        let (dir, s) = store();
        let presented = kept(&s, TokenScope::Write, None);
        let secret = presented.rsplit('_').next().expect("secret");
        drop(s);
        let bytes = std::fs::read(dir.path().join("s.db")).expect("read store");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "the secret itself is in the store file"
        );
    }
}
