//! The SAML signing credentials: an RSA key and a self-signed certificate, one PEM kept
//! sealed in the key set (`saml-signing`), made at the first start. SAML peers
//! trust a certificate named in metadata, not a JWK Set, and federations expect one
//! long-lived signing certificate (ten years here, as Shibboleth's IdP makes it); it is
//! published in `/saml/metadata`.

use std::fs;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use super::keys::{io, write_private, KeyError};

/// The file name credentials are kept under outside the key set (and were, before it).
pub const FILE: &str = "saml-signing.pem";

pub struct SamlCredentials {
    pub key: PKey<Private>,
    pub certificate: X509,
    /// The private key in DER (PKCS#1), as the XML signer (xmlsec) reads it.
    pub key_der: Vec<u8>,
    /// The certificate in DER.
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for SamlCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SamlCredentials(..)")
    }
}

impl SamlCredentials {
    /// The certificate in base64 without line breaks (the `ds:X509Certificate` content).
    pub fn certificate_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.certificate_der)
    }

    /// Loads credentials from a file, or makes them for `common_name` when the file is
    /// missing (the SP side in tests; the file the key set imports from).
    pub fn load_or_create(dir: &Path, common_name: &str) -> Result<SamlCredentials, KeyError> {
        let path = dir.join(FILE);
        let invalid = |message: String| KeyError::Invalid {
            path: path.clone(),
            message,
        };
        let pem = match fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|cause| io(dir, cause))?;
                let made = make(common_name).map_err(|e| invalid(e.to_string()))?;
                write_private(&path, &made)?;
                made
            }
            Err(cause) => return Err(io(&path, cause)),
        };
        Self::from_pem(&pem).map_err(invalid)
    }

    /// Reads a key and its certificate from one PEM.
    pub fn from_pem(pem: &[u8]) -> Result<SamlCredentials, String> {
        let text = |e: openssl::error::ErrorStack| e.to_string();
        let key = PKey::private_key_from_pem(pem).map_err(text)?;
        let certificate = X509::from_pem(pem).map_err(text)?;
        if !certificate.public_key().map_err(text)?.public_eq(&key) {
            return Err("the certificate is not the key's".into());
        }
        Ok(SamlCredentials {
            key_der: key
                .rsa()
                .and_then(|rsa| rsa.private_key_to_der())
                .map_err(|e| format!("an RSA key is expected: {e}"))?,
            certificate_der: certificate.to_der().map_err(text)?,
            key,
            certificate,
        })
    }
}

/// A 2048-bit RSA key and a self-signed certificate for it, as one PEM.
pub fn make(common_name: &str) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    // A host name is at most 64 characters in a certificate's CN.
    let cn: String = common_name.chars().take(64).collect();
    name.append_entry_by_text("CN", &cn)?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let mut pem = key.private_key_to_pem_pkcs8()?;
    pem.extend_from_slice(&builder.build().to_pem()?);
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back_and_a_mismatched_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let made = SamlCredentials::load_or_create(dir.path(), "etupass.example").unwrap();
        let again = SamlCredentials::load_or_create(dir.path(), "other").unwrap();
        assert_eq!(made.certificate_der, again.certificate_der);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join(FILE)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "private to the service");
        // A file whose certificate is not its key's.
        let begin = |pem: &[u8]| {
            pem.windows(27)
                .position(|w| w == b"-----BEGIN CERTIFICATE-----")
                .unwrap()
        };
        let ours = fs::read(dir.path().join(FILE)).unwrap();
        let other = make("x").unwrap();
        let mixed = [&ours[..begin(&ours)], &other[begin(&other)..]].concat();
        let dir2 = tempfile::tempdir().unwrap();
        fs::write(dir2.path().join(FILE), mixed).unwrap();
        assert!(SamlCredentials::load_or_create(dir2.path(), "x").is_err());
    }
}
