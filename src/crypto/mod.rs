//! Keys and JWTs (josekit), password hashing (argon2id), random tokens and their hashes.

pub mod jwt;
pub mod key_set;
pub mod keys;
pub mod password;
pub mod saml_credentials;
pub mod sealed;
pub mod token;

use std::fmt;

/// Initialises OpenSSL before anything else may, without its exit-time cleanup. libpq links
/// the same OpenSSL; whichever initialises it first decides whether `exit` frees it, and
/// freeing it under a thread still using a pooled connection crashes the process on exit
/// (diesel-rs/diesel#3441). Cheap and idempotent: called where the process starts its work.
pub fn init() {
    openssl::init();
}

/// A secret string whose `Debug` and `Display` never show the value, so it cannot reach a
/// log line by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}
