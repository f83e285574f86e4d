//! Passwords with argon2id. Hashing is the one deliberately slow step of a sign-in, so it
//! runs on the blocking pool behind a semaphore: a sign-in storm queues instead of
//! exhausting memory (each hash holds `memory_kib`).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

/// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Parameters(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task was cancelled")]
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash was made with other parameters: store a fresh one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    settings: Argon2Settings,
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist, so that an unknown sign-in name
    /// costs the same time as a wrong password.
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("settings", &self.settings)
            .finish()
    }
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings, max_concurrent: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Parameters(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon2, "etupass dummy password for unknown accounts")?;
        Ok(PasswordHasher {
            argon2,
            settings,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a password (NFC-normalized first, as NIST SP 800-63B asks).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = normalize(password);
        let argon2 = self.argon2.clone();
        self.run(move || hash_with(&argon2, &password)).await?
    }

    /// Hashes on the calling thread: for the command line, which has no async workers to spare.
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        hash_with(&self.argon2, &normalize(password))
    }

    /// Verifies a password; with no stored hash it burns the same time and answers no.
    pub async fn verify(
        &self,
        stored: Option<&str>,
        password: &str,
    ) -> Result<Verification, PasswordError> {
        let password = normalize(password);
        let known = stored.is_some();
        let stored = stored
            .map(str::to_string)
            .unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let argon2 = self.argon2.clone();
        let settings = self.settings;
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Verification {
                    matches: false,
                    needs_rehash: false,
                };
            };
            let matches = known && argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            Verification {
                matches,
                needs_rehash: matches && !made_with(&parsed, settings),
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Cancelled)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| PasswordError::Cancelled)
    }
}

fn normalize(password: &str) -> String {
    password.nfc().collect()
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn made_with(hash: &PasswordHash<'_>, settings: Argon2Settings) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm.as_str() == "argon2id"
        && params.m_cost() == settings.memory_kib
        && params.t_cost() == settings.iterations
        && params.p_cost() == settings.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasher::new(cheap(), 2).unwrap();
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let ok = hasher
            .verify(Some(&hash), "correct horse battery staple")
            .await
            .unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        let wrong = hasher.verify(Some(&hash), "wrong").await.unwrap();
        assert!(!wrong.matches);
        let unknown = hasher.verify(None, "anything").await.unwrap();
        assert!(!unknown.matches);
    }

    #[tokio::test]
    async fn new_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(cheap(), 1).unwrap();
        let hash = old.hash("pw").await.unwrap();
        let mut stronger = cheap();
        stronger.iterations = 2;
        let new = PasswordHasher::new(stronger, 1).unwrap();
        let v = new.verify(Some(&hash), "pw").await.unwrap();
        assert!(v.matches && v.needs_rehash);
    }

    #[tokio::test]
    async fn unicode_forms_are_equivalent() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let composed = "caf\u{e9} au lait";
        let decomposed = "cafe\u{301} au lait";
        let hash = hasher.hash(composed).await.unwrap();
        assert!(
            hasher
                .verify(Some(&hash), decomposed)
                .await
                .unwrap()
                .matches
        );
    }
}
