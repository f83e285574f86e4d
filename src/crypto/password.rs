//! Passwords with argon2id. Hashing is the one deliberately slow step of a sign-in, so it
//! runs on the blocking pool behind a semaphore: a sign-in storm queues instead of
//! exhausting memory (each hash holds `memory_kib`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// Too many verifications wait already: try again in a moment.
    #[error("too many password checks are waiting")]
    Busy,
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
    /// argon2id verifications actually computed: a failed sign-in must cost one, whatever
    /// the account (tests compare it between known and unknown names).
    verifications: Arc<AtomicU64>,
    /// Bounded verifications waiting for a permit, and their bound.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
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
        return_large_blocks_to_the_system();
        // A random password nobody knows: the dummy hash never matches anything.
        let dummy_hash = hash_with(&argon2, &crate::crypto::token::generate())?;
        Ok(PasswordHasher {
            argon2,
            settings,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(dummy_hash),
            verifications: Arc::new(AtomicU64::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit: usize::MAX,
        })
    }

    /// At most `limit` calls of `verify_or_busy` wait for a hashing slot at once.
    pub fn with_queue_limit(mut self, limit: usize) -> Self {
        self.queue_limit = limit.max(1);
        self
    }

    /// `verify`, unless the queue is full: then `PasswordError::Busy` at once, so that a
    /// storm of sign-ins is answered "try again" instead of queueing without limit (each
    /// waiting request holds memory, and the person behind the storm would wait for all
    /// of it).
    pub async fn verify_or_busy(
        &self,
        stored: Option<&str>,
        password: &str,
    ) -> Result<Verification, PasswordError> {
        /// Gives the slot back however the verification ends, a dropped request included.
        struct Slot(Arc<AtomicUsize>);
        impl Drop for Slot {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let slot = Slot(self.waiting.clone());
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_limit {
            return Err(PasswordError::Busy);
        }
        let result = self.verify(stored, password).await;
        drop(slot);
        result
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

    /// Verifies a password. With no stored hash (unknown name, an account never activated)
    /// or an unreadable one, it verifies against a dummy hash of the same parameters and
    /// answers no: the argon2id work is the same either way, so the time taken does not
    /// tell whether the account exists.
    pub async fn verify(
        &self,
        stored: Option<&str>,
        password: &str,
    ) -> Result<Verification, PasswordError> {
        let password = normalize(password);
        let stored = stored.map(str::to_string);
        let dummy = self.dummy_hash.clone();
        let argon2 = self.argon2.clone();
        let settings = self.settings;
        let verifications = self.verifications.clone();
        self.run(move || {
            let parsed_stored = stored.as_deref().and_then(|s| PasswordHash::new(s).ok());
            let known = parsed_stored.is_some();
            let parsed = match parsed_stored {
                Some(parsed) => parsed,
                // The dummy hash is made by `new` and always parses.
                None => PasswordHash::new(dummy.as_str()).expect("the dummy hash parses"),
            };
            verifications.fetch_add(1, Ordering::Relaxed);
            // Always computed, and only then combined with `known`: no short circuit.
            let verified = argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            let matches = verified & known;
            Verification {
                matches,
                needs_rehash: matches && !made_with(&parsed, settings),
            }
        })
        .await
    }

    /// How many argon2id verifications this hasher (and its clones) computed.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
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

/// Each argon2id hash takes `argon2_memory_kib` (19 MiB) for a moment, on whichever
/// thread of the blocking pool runs it. glibc raises its mmap threshold once such a block
/// is freed, so later ones come from per-thread arenas that keep them: a storm of 1,000
/// sign-ins left 1.2 GiB resident (`benches/storm.sh`), hashes on dedicated threads still
/// 280 MiB (other large blocks of the many threads). A fixed threshold keeps every block
/// above 1 MiB mapped for its own use and unmapped when freed: 91 MiB at the peak of the
/// same storm, 53 MiB after. The price is fresh pages for each hash, within the noise of
/// a sign-in's time on the development machine (a median of 18 to 22 ms either way).
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; setting it again is harmless.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
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
    async fn a_full_queue_answers_busy_at_once_and_gives_every_slot_back() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap().with_queue_limit(1);
        hasher.waiting.store(1, Ordering::SeqCst); // one verification waiting already
        assert!(matches!(
            hasher.verify_or_busy(None, "x").await,
            Err(PasswordError::Busy)
        ));
        assert_eq!(
            hasher.waiting.load(Ordering::SeqCst),
            1,
            "the refusal took no slot"
        );
        hasher.waiting.store(0, Ordering::SeqCst);
        assert!(hasher.verify_or_busy(None, "x").await.is_ok());
        // A request dropped while it waits gives its slot back too.
        let pending = hasher.verify_or_busy(None, "x");
        drop(pending);
        assert_eq!(hasher.waiting.load(Ordering::SeqCst), 0);
        assert!(hasher.verify_or_busy(None, "x").await.is_ok());
    }

    #[tokio::test]
    async fn every_verification_computes_one_hash_known_account_or_not() {
        let hasher = PasswordHasher::new(cheap(), 2).unwrap();
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        let before = hasher.verifications();
        hasher.verify(Some(&hash), "wrong").await.unwrap();
        assert_eq!(hasher.verifications(), before + 1, "a wrong password");
        assert!(!hasher.verify(None, "wrong").await.unwrap().matches);
        assert_eq!(hasher.verifications(), before + 2, "no stored hash");
        assert!(!hasher.verify(Some("garbage"), "x").await.unwrap().matches);
        assert_eq!(hasher.verifications(), before + 3, "an unreadable hash");
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
