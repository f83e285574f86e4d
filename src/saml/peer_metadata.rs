//! Metadata that others publish (an SP's own document, or a federation's aggregate of
//! many), with its XML signature checked before anything is read from it. The signature
//! goes through the same gate as the messages SPs send (`shape`: one enveloped signature
//! over the root, nothing xmlsec could be made to fetch or run), then through xmlsec; only
//! what it covers is read.

use samael::crypto::CertificateDer;

use crate::domain::saml::refuse_doctype;
use crate::domain::Invalid;

use super::incoming::{enveloped_content, root_is};

/// Who must have signed a metadata document.
pub enum Signer<'a> {
    /// The certificate its publisher is known by (DER): a federation's, kept by the
    /// administrator. The document must be signed by it.
    Trusted(&'a [u8]),
    /// Whoever the document's own signature names. That catches a document damaged or
    /// edited after it was signed by someone who did not sign it again, not a forgery
    /// (anyone can sign again); an unsigned document is taken as it is.
    Itself,
}

/// The part of `xml` to read: what its signature covers, or the document itself when it
/// is not signed and `signer` is `Itself`. `root` is the element expected at the top
/// (`EntityDescriptor` or `EntitiesDescriptor`).
pub fn checked(xml: &str, root: &str, signer: Signer<'_>) -> Result<String, Invalid> {
    refuse_doctype(xml)?;
    if !root_is(xml, root) {
        return Err(Invalid::new(format!(
            "the document is not an md:{root} (an aggregate is an EntitiesDescriptor, one entity's metadata an EntityDescriptor)"
        )));
    }
    let signed = super::shape::check(xml).map_err(|why| {
        Invalid::new(format!(
            "the metadata is refused: {why} (a metadata signature covers the root element by its ID, with the enveloped-signature and exclusive c14n transforms)"
        ))
    })?;
    let certificates = match (&signer, signed) {
        (Signer::Trusted(_), false) => {
            return Err(Invalid::new(
                "the metadata is not signed, and it must be signed by the certificate given",
            ))
        }
        (Signer::Itself, false) => return Ok(xml.to_string()),
        (Signer::Trusted(der), true) => vec![CertificateDer::from(der.to_vec())],
        (Signer::Itself, true) => own_certificates(xml)?,
    };
    let content = enveloped_content(xml, &certificates).ok_or_else(|| {
        Invalid::new(match signer {
            Signer::Trusted(_) => "the metadata's signature does not verify against the certificate given: it was altered, or signed with another key (or a retired algorithm such as SHA-1)",
            Signer::Itself => "the metadata's signature does not verify: the document was altered after it was signed (or uses a retired algorithm such as SHA-1)",
        })
    })?;
    if !root_is(&content, root) {
        return Err(Invalid::new(
            "the metadata's signature does not cover its root element",
        ));
    }
    Ok(content)
}

/// The certificates in the `KeyInfo` of an entity's own signature.
fn own_certificates(xml: &str) -> Result<Vec<CertificateDer>, Invalid> {
    use base64::Engine;
    let entity: samael::metadata::EntityDescriptor = xml
        .parse()
        .map_err(|e| Invalid::new(format!("the metadata is not SAML metadata: {e}")))?;
    let certificates: Vec<CertificateDer> = entity
        .signature
        .iter()
        .flat_map(|signature| signature.key_info.iter().flatten())
        .flat_map(|key_info| key_info.x509_data.iter())
        .flat_map(|data| data.certificates.iter())
        .filter_map(|certificate| {
            base64::engine::general_purpose::STANDARD
                .decode(certificate.split_whitespace().collect::<String>())
                .ok()
        })
        .map(CertificateDer::from)
        .collect();
    if certificates.is_empty() {
        return Err(Invalid::new(
            "the metadata is signed but its signature names no certificate: give the signer's with --certificate",
        ));
    }
    Ok(certificates)
}
