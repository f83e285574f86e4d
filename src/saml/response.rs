//! The `Response` Etupass posts to a service provider: an assertion about the signed-in
//! person (bearer subject confirmation for the consumer URL and the request, a short
//! validity, the audience, the authentication context, the released attributes), signed
//! with RSA-SHA256 through xmlsec. Built from a template; every value is escaped before
//! it reaches the XML, and the signer's output is sent as it is (never parsed and
//! written again).

use base64::Engine;
use samael::crypto::{Crypto, CryptoProvider};

use crate::cas::response::xml_escape;
use crate::crypto::saml_credentials::SamlCredentials;

/// How long an assertion may be presented to the SP.
const VALIDITY_SECS: i64 = 300;
/// Clock skew allowed to the SP before `IssueInstant`.
const SKEW_SECS: i64 = 60;

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
pub const STATUS_INVALID_NAMEID_POLICY: &str =
    "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";

/// One attribute: its URI name, friendly name and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub friendly_name: &'static str,
    pub values: Vec<String>,
}

/// What an assertion says.
#[derive(Debug, Clone)]
pub struct AssertionContent {
    pub idp_entity_id: String,
    pub sp_entity_id: String,
    pub consumer_url: String,
    pub in_response_to: String,
    pub name_id: String,
    pub name_id_format: &'static str,
    pub authn_instant: i64,
    pub authn_context: &'static str,
    pub session_index: String,
    pub attributes: Vec<Attribute>,
}

pub(crate) fn instant(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

pub(crate) fn new_id() -> String {
    crate::cas::new_ticket("_")
}

#[derive(Debug, thiserror::Error)]
#[error("signing the SAML response failed: {0}")]
pub struct SigningError(pub(crate) String);

/// How the assertion travels: encrypted to the SP's certificate (base64 DER) when its
/// metadata has one, and inside a signed `Response` when the SP asks for that too.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub encrypt_to: Option<&'a str>,
    pub sign_response: bool,
}

/// A `Response` with the signed assertion, base64-encoded for the POST form.
pub fn success(
    content: &AssertionContent,
    credentials: &SamlCredentials,
    delivery: Delivery<'_>,
    now: i64,
) -> Result<String, SigningError> {
    let e = |v: &str| xml_escape(v);
    let response_id = new_id();
    let assertion = signed_assertion(content, credentials, now)?;
    let assertion = match delivery.encrypt_to {
        Some(certificate) => super::encryption::encrypted_assertion(&assertion, certificate)
            .map_err(|error| SigningError(format!("encrypting the assertion: {error}")))?,
        None => assertion,
    };
    let xml = format!(
        concat!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{response_id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{acs}\" InResponseTo=\"{irt}\">",
            "<saml:Issuer>{idp}</saml:Issuer>{signature}",
            "<samlp:Status><samlp:StatusCode Value=\"{success}\"/></samlp:Status>",
            "{assertion}",
            "</samlp:Response>"
        ),
        response_id = response_id,
        now = instant(now),
        acs = e(&content.consumer_url),
        irt = e(&content.in_response_to),
        idp = e(&content.idp_entity_id),
        success = STATUS_SUCCESS,
        assertion = assertion,
        // The Response's signature template comes before the assertion's own signature
        // in document order: it is the one xmlsec fills in.
        signature = if delivery.sign_response {
            signature_template(&response_id, credentials)
        } else {
            String::new()
        },
    );
    let xml = if delivery.sign_response {
        Crypto::sign_xml(&xml, &credentials.key_der)
            .map_err(|error| SigningError(error.to_string()))?
    } else {
        xml
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(xml))
}

/// The assertion as its own document (it declares its namespace, so it can be embedded
/// or encrypted as it is), signed, without the XML declaration.
fn signed_assertion(
    content: &AssertionContent,
    credentials: &SamlCredentials,
    now: i64,
) -> Result<String, SigningError> {
    let e = |v: &str| xml_escape(v);
    let assertion_id = new_id();
    let mut attributes = String::new();
    for attribute in &content.attributes {
        attributes.push_str(&format!(
            "<saml:Attribute Name=\"{}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\" FriendlyName=\"{}\">",
            e(attribute.name),
            e(attribute.friendly_name)
        ));
        for value in &attribute.values {
            attributes.push_str(&format!(
                "<saml:AttributeValue>{}</saml:AttributeValue>",
                e(value)
            ));
        }
        attributes.push_str("</saml:Attribute>");
    }
    let attribute_statement = if attributes.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
    };
    let xml = format!(
        concat!(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{assertion_id}\" Version=\"2.0\" IssueInstant=\"{now}\">",
            "<saml:Issuer>{idp}</saml:Issuer>",
            "{signature}",
            "<saml:Subject>",
            "<saml:NameID Format=\"{format}\" NameQualifier=\"{idp}\" SPNameQualifier=\"{sp}\">{name_id}</saml:NameID>",
            "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">",
            "<saml:SubjectConfirmationData NotOnOrAfter=\"{until}\" Recipient=\"{acs}\" InResponseTo=\"{irt}\"/>",
            "</saml:SubjectConfirmation>",
            "</saml:Subject>",
            "<saml:Conditions NotBefore=\"{before}\" NotOnOrAfter=\"{until}\">",
            "<saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction>",
            "</saml:Conditions>",
            "<saml:AuthnStatement AuthnInstant=\"{authn}\" SessionIndex=\"{session_index}\">",
            "<saml:AuthnContext><saml:AuthnContextClassRef>{context}</saml:AuthnContextClassRef></saml:AuthnContext>",
            "</saml:AuthnStatement>",
            "{attribute_statement}",
            "</saml:Assertion>"
        ),
        now = instant(now),
        before = instant(now - SKEW_SECS),
        until = instant(now + VALIDITY_SECS),
        acs = e(&content.consumer_url),
        irt = e(&content.in_response_to),
        idp = e(&content.idp_entity_id),
        sp = e(&content.sp_entity_id),
        format = content.name_id_format,
        name_id = e(&content.name_id),
        authn = instant(content.authn_instant),
        session_index = e(&content.session_index),
        context = content.authn_context,
        assertion_id = assertion_id,
        signature = signature_template(&assertion_id, credentials),
        attribute_statement = attribute_statement,
    );
    signed_element(&xml, credentials)
}

/// `xml` (one element holding a `signature_template` for its own ID) signed, as one
/// element with nothing around it (an SP decrypting or unwrapping it expects exactly
/// that).
pub(crate) fn signed_element(
    xml: &str,
    credentials: &SamlCredentials,
) -> Result<String, SigningError> {
    let signed = Crypto::sign_xml(xml, &credentials.key_der)
        .map_err(|error| SigningError(error.to_string()))?;
    Ok(without_declaration(&signed).trim_end().to_string())
}

/// A document without its `<?xml …?>` declaration, to be embedded in another.
fn without_declaration(document: &str) -> &str {
    let trimmed = document.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map_or(trimmed, |end| rest[end + 2..].trim_start()),
        None => trimmed,
    }
}

/// A `Response` that carries only a status (no assertion): the request cannot be met
/// (`NoPassive`, `RequestDenied`…). Signed too, so the SP can trust the refusal.
pub fn status(
    idp_entity_id: &str,
    consumer_url: &str,
    in_response_to: &str,
    top: &str,
    second: Option<&str>,
    credentials: &SamlCredentials,
    now: i64,
) -> Result<String, SigningError> {
    let e = |v: &str| xml_escape(v);
    let response_id = new_id();
    let code = match second {
        Some(second) => format!(
            "<samlp:StatusCode Value=\"{top}\"><samlp:StatusCode Value=\"{second}\"/></samlp:StatusCode>"
        ),
        None => format!("<samlp:StatusCode Value=\"{top}\"/>"),
    };
    let xml = format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{response_id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{acs}\" InResponseTo=\"{irt}\"><saml:Issuer>{idp}</saml:Issuer>{signature}<samlp:Status>{code}</samlp:Status></samlp:Response>",
        now = instant(now),
        acs = e(consumer_url),
        irt = e(in_response_to),
        idp = e(idp_entity_id),
        signature = signature_template(&response_id, credentials),
    );
    let signed = Crypto::sign_xml(&xml, &credentials.key_der)
        .map_err(|error| SigningError(error.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signed))
}

/// An enveloped signature over the element `id`: exclusive c14n, RSA-SHA256, SHA-256
/// digest, and the certificate.
pub(crate) fn signature_template(id: &str, credentials: &SamlCredentials) -> String {
    format!(
        concat!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
            "<ds:Reference URI=\"#{id}\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "</ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
            "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>",
            "<ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            "</ds:Signature>"
        ),
        id = id,
        certificate = credentials.certificate_base64(),
    )
}
