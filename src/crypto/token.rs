//! Bearer secrets (codes, tokens, session ids, client secrets): 256 random bits, stored
//! only as a SHA-256 digest. Their entropy makes a slow hash pointless.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes from the OS generator, base64url without padding (43 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The form in which a secret is stored and looked up: hex SHA-256.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares a presented secret with a stored digest in constant time.
pub fn matches_digest(secret: &str, stored_digest: &str) -> bool {
    constant_time_eq(digest(secret).as_bytes(), stored_digest.as_bytes())
}

/// A token derived from another with the server's secret key: the same input always gives
/// the same output, and nobody without the key can compute it.
pub fn derive(key: &[u8], from: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(from.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let a = generate();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate());
    }

    #[test]
    fn digest_matches_only_its_secret() {
        let secret = generate();
        let stored = digest(&secret);
        assert!(matches_digest(&secret, &stored));
        assert!(!matches_digest("other", &stored));
        assert_eq!(stored.len(), 64);
    }
}
