//! Encrypted assertions (SAML Core §2.3.4, XML Encryption 1.1): the signed assertion
//! encrypted with a fresh AES-256-GCM key, that key encrypted with RSA-OAEP (MGF1, SHA-1
//! digest: `rsa-oaep-mgf1p`, what every SP reads) to the certificate of the SP's metadata.
//! samael decrypts but does not encrypt, and xmlsec's encryption is not reachable through
//! it; the XML around the two cipher values is fixed, so it is written here, with OpenSSL
//! doing the cryptography.

use base64::Engine;
use openssl::rand::rand_bytes;
use openssl::symm::{encrypt_aead, Cipher};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("the SP's encryption certificate is unusable: {0}")]
    Certificate(String),
    #[error(transparent)]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// `<saml:EncryptedAssertion>` holding `assertion` (a complete element) for the holder of
/// `certificate` (base64 DER).
pub fn encrypted_assertion(assertion: &str, certificate: &str) -> Result<String, EncryptionError> {
    let der = B64
        .decode(certificate)
        .map_err(|e| EncryptionError::Certificate(e.to_string()))?;
    let public = openssl::x509::X509::from_der(&der)?.public_key()?;
    if public.rsa().is_err() {
        return Err(EncryptionError::Certificate("not an RSA key".into()));
    }
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    rand_bytes(&mut key)?;
    rand_bytes(&mut iv)?;
    let mut tag = [0u8; 16];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        assertion.as_bytes(),
        &mut tag,
    )?;
    // XML Encryption 1.1 §5.2.4: the IV, the ciphertext, then the tag.
    let content = [&iv[..], &ciphertext, &tag].concat();
    let mut encrypter = openssl::encrypt::Encrypter::new(&public)?;
    encrypter.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)?;
    let mut wrapped = vec![0u8; encrypter.encrypt_len(&key)?];
    let length = encrypter.encrypt(&key, &mut wrapped)?;
    wrapped.truncate(length);
    Ok(format!(
        concat!(
            "<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">",
            "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">",
            "<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>",
            "<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
            "<xenc:EncryptedKey>",
            "<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\">",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/>",
            "</xenc:EncryptionMethod>",
            "<xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData>",
            "</xenc:EncryptedKey>",
            "</ds:KeyInfo>",
            "<xenc:CipherData><xenc:CipherValue>{content}</xenc:CipherValue></xenc:CipherData>",
            "</xenc:EncryptedData>",
            "</saml:EncryptedAssertion>"
        ),
        wrapped = B64.encode(wrapped),
        content = B64.encode(content),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decrypts as an SP does: the key with its private RSA key, then the content.
    fn decrypt(xml: &str, key: &openssl::pkey::PKey<openssl::pkey::Private>) -> String {
        let values: Vec<&str> = xml
            .split("<xenc:CipherValue>")
            .skip(1)
            .map(|rest| &rest[..rest.find('<').unwrap()])
            .collect();
        let mut decrypter = openssl::encrypt::Decrypter::new(key).unwrap();
        decrypter
            .set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
            .unwrap();
        let wrapped = B64.decode(values[0]).unwrap();
        let mut aes = vec![0u8; decrypter.decrypt_len(&wrapped).unwrap()];
        let n = decrypter.decrypt(&wrapped, &mut aes).unwrap();
        aes.truncate(n);
        let content = B64.decode(values[1]).unwrap();
        let (iv, rest) = content.split_at(12);
        let (ciphertext, tag) = rest.split_at(rest.len() - 16);
        let plain = openssl::symm::decrypt_aead(
            Cipher::aes_256_gcm(),
            &aes,
            Some(iv),
            &[],
            ciphertext,
            tag,
        )
        .unwrap();
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn only_the_holder_of_the_sp_key_reads_the_assertion() {
        let dir = tempfile::tempdir().unwrap();
        let sp = crate::crypto::saml_credentials::SamlCredentials::load_or_create(dir.path(), "sp")
            .unwrap();
        let assertion = "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">secret</saml:Assertion>";
        let encrypted = encrypted_assertion(assertion, &sp.certificate_base64()).unwrap();
        assert!(!encrypted.contains("secret"));
        assert_eq!(decrypt(&encrypted, &sp.key), assertion);
        let other = tempfile::tempdir().unwrap();
        let stranger =
            crate::crypto::saml_credentials::SamlCredentials::load_or_create(other.path(), "x")
                .unwrap();
        let wrapped = B64
            .decode(
                encrypted
                    .split("<xenc:CipherValue>")
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap(),
            )
            .unwrap();
        let mut decrypter = openssl::encrypt::Decrypter::new(&stranger.key).unwrap();
        decrypter
            .set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
            .unwrap();
        let mut out = vec![0u8; decrypter.decrypt_len(&wrapped).unwrap()];
        assert!(
            decrypter.decrypt(&wrapped, &mut out).is_err(),
            "another key opens nothing"
        );
        assert!(encrypted_assertion(assertion, "not base64!").is_err());
    }
}
