//! Secrets Etupass must read back, not just compare (the TOTP keys of authenticator apps),
//! and the key set itself, sealed at rest: AES-256-GCM in a compact JWE (`dir`). A
//! database dump alone reveals no authenticator key and no signing key.
//!
//! Each sealed value names its owner in the protected header, which GCM authenticates: a
//! value copied onto another identity's row does not open.

use josekit::jwe::{self, Dir, JweHeader};

const CONTENT_ENCRYPTION: &str = "A256GCM";
const OWNER_PARAMETER: &str = "etupass_owner";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the sealing key must hold 32 bytes")]
    BadKey,
    #[error("sealed value cannot be opened: {0}")]
    Unreadable(String),
    #[error("sealed value belongs to someone else")]
    WrongOwner,
}

#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
    /// Names the key (not secret: a digest of it) in each sealed value's header, so a
    /// value sealed under another key is told apart from a damaged one.
    key_id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(key: &[u8]) -> Result<Sealer, SealError> {
        let key: [u8; 32] = key
            .get(..32)
            .and_then(|k| k.try_into().ok())
            .ok_or(SealError::BadKey)?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(key);
        let key_id = hex::encode(&digest[..8]);
        Ok(Sealer { key, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The id of the key a value was sealed under, read from its header (unauthenticated:
    /// only to tell "another key" from "damaged").
    pub fn sealed_key_id(sealed: &str) -> Option<String> {
        use base64::Engine;
        let header = sealed.split('.').next()?;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .ok()?;
        let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
        header["kid"].as_str().map(str::to_string)
    }

    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<String, SealError> {
        let mut header = JweHeader::new();
        header.set_content_encryption(CONTENT_ENCRYPTION);
        header.set_key_id(&self.key_id);
        header
            .set_claim(OWNER_PARAMETER, Some(owner.into()))
            .map_err(|e| SealError::Unreadable(e.to_string()))?;
        let encrypter = Dir
            .encrypter_from_bytes(self.key)
            .map_err(|e| SealError::Unreadable(e.to_string()))?;
        jwe::serialize_compact(plaintext, &header, &encrypter)
            .map_err(|e| SealError::Unreadable(e.to_string()))
    }

    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, SealError> {
        let decrypter = Dir
            .decrypter_from_bytes(self.key)
            .map_err(|e| SealError::Unreadable(e.to_string()))?;
        let (plaintext, header) = jwe::deserialize_compact(sealed, &decrypter)
            .map_err(|e| SealError::Unreadable(e.to_string()))?;
        if header.claim(OWNER_PARAMETER).and_then(|v| v.as_str()) != Some(owner) {
            return Err(SealError::WrongOwner);
        }
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_for_its_owner() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal(b"authenticator key", "alice").unwrap();
        assert!(!sealed.contains("authenticator"));
        assert_eq!(sealer.open(&sealed, "alice").unwrap(), b"authenticator key");
        assert!(matches!(
            sealer.open(&sealed, "bob"),
            Err(SealError::WrongOwner)
        ));
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed, "alice").is_err());
        assert_ne!(sealed, sealer.seal(b"authenticator key", "alice").unwrap());
        assert!(matches!(Sealer::new(&[1u8; 16]), Err(SealError::BadKey)));
        assert_eq!(
            Sealer::sealed_key_id(&sealed).as_deref(),
            Some(sealer.key_id())
        );
        assert_ne!(sealer.key_id(), other.key_id());
    }
}
