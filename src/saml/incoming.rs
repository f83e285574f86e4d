//! What Etupass receives from service providers (AuthnRequests, LogoutRequests), on the
//! HTTP-Redirect and HTTP-POST bindings: decoding (each query parameter once, at most
//! 64 KiB inflated, no DTD) and signatures. On the Redirect binding the signature covers
//! the query's own octets (Bindings §3.4.4.1); on the POST binding it is enveloped and
//! checked by xmlsec, and only what it covers is read (XML signature wrapping).

use std::io::Read;

use base64::Engine;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};

use crate::domain::saml::refuse_doctype;

/// How large a decoded message may be.
const MAX_MESSAGE_BYTES: u64 = 64 * 1024;

/// Why a request is not answered at all (shown on a page, never sent to the SP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownServiceProvider,
    BadSignature,
    Unsigned,
    UnknownConsumer,
    Stale,
    Replayed,
}

impl Refusal {
    pub fn message_key(self) -> &'static str {
        match self {
            Refusal::Malformed => "saml.malformed",
            Refusal::UnknownServiceProvider => "saml.unknown_sp",
            Refusal::BadSignature | Refusal::Unsigned => "saml.bad_signature",
            Refusal::UnknownConsumer => "saml.unknown_consumer",
            Refusal::Stale => "saml.stale",
            Refusal::Replayed => "saml.replayed",
        }
    }
}

/// A message as its binding delivered it.
#[derive(Debug, Clone)]
pub enum Message {
    /// The query string exactly as received: its signature covers those octets.
    Redirect { query: String },
    /// The base64 form field, and `RelayState`.
    Post {
        message: String,
        relay_state: Option<String>,
    },
}

/// The message's XML (`field` is `SAMLRequest` or `SAMLResponse`), if it decodes, is not
/// too large and has no DTD.
pub fn decode(message: &Message, field: &str) -> Option<Decoded> {
    let decoded = match message {
        Message::Redirect { query } => decode_redirect(query, field),
        Message::Post {
            message,
            relay_state,
        } => base64::engine::general_purpose::STANDARD
            .decode(message.split_whitespace().collect::<String>())
            .ok()
            .filter(|xml| xml.len() as u64 <= MAX_MESSAGE_BYTES)
            .and_then(|xml| String::from_utf8(xml).ok())
            .map(|xml| Decoded {
                xml,
                relay_state: relay_state.clone(),
                signature: None,
                enveloped: false,
            }),
    }?;
    refuse_doctype(&decoded.xml).ok()?;
    // The one signature shape SAML uses, or none: anything else never reaches xmlsec.
    match super::shape::check(&decoded.xml) {
        Ok(enveloped) => Some(Decoded {
            enveloped,
            ..decoded
        }),
        Err(why) => {
            tracing::info!(%why, "a SAML message of the wrong shape was refused");
            None
        }
    }
}

/// How a message proved it came from the SP.
#[derive(Debug)]
pub enum Verified {
    /// Not signed.
    Unsigned,
    /// Signed on the Redirect binding: the whole decoded message is covered.
    Query,
    /// Signed on the POST binding: the signed content (root `root`), the only part to read.
    Enveloped(String),
}

/// Checks the message's signature against the SP's `certificates` (base64 DER).
pub fn verify(decoded: &Decoded, certificates: &[String], root: &str) -> Result<Verified, Refusal> {
    match (&decoded.signature, decoded.enveloped) {
        (Some(signature), false) => {
            if signature.verify(certificates) {
                Ok(Verified::Query)
            } else {
                Err(Refusal::BadSignature)
            }
        }
        // An enveloped signature in a Redirect message is not how that binding is signed.
        (Some(_), true) => Err(Refusal::BadSignature),
        (None, true) => {
            let certificates: Vec<CertificateDer> = certificates
                .iter()
                .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                .map(CertificateDer::from)
                .collect();
            match enveloped_content(&decoded.xml, &certificates) {
                Some(signed) if root_is(&signed, root) => Ok(Verified::Enveloped(signed)),
                _ => Err(Refusal::BadSignature),
            }
        }
        (None, false) => Ok(Verified::Unsigned),
    }
}

/// What the enveloped signature of `xml` (already through `shape::check`) covers, in
/// canonical form, when one of `certificates` made it with an algorithm still trusted.
pub(crate) fn enveloped_content(xml: &str, certificates: &[CertificateDer]) -> Option<String> {
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certificates,
        ReduceMode::PreDigest,
        Some(&[
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
        ]),
    )
    .ok()
}

/// How far ahead of Etupass's clock an SP's message may be.
const SKEW_SECS: i64 = 120;

/// An SP's message issued at `issued` is fresh at `now`: no older than `lifetime`, and
/// not further ahead than clocks drift.
pub fn is_fresh(issued: i64, lifetime: i64, now: i64) -> bool {
    issued + lifetime >= now && issued <= now + SKEW_SECS
}

/// Records that the SP's message `id` (of `kind`: `authn-request`, `logout-request`) is
/// answered; `false` when it already was (a replay). The ID is remembered as long as the
/// message could be fresh.
pub async fn answered_once(
    provider: &crate::provider::Provider,
    kind: &str,
    sp_entity_id: &str,
    id: &str,
    issued: i64,
    lifetime: i64,
) -> Result<bool, crate::store::StoreError> {
    provider
        .store
        .record_assertion(
            crate::crypto::token::digest(&format!("saml-{kind}\n{sp_entity_id}\n{id}")),
            issued + lifetime + SKEW_SECS,
            provider.now(),
        )
        .await
}

/// The local name of the document's root element is `name` (a parser mapping structs
/// ignores it: a `Response` or anything else must not pass for an AuthnRequest).
pub fn root_is(xml: &str, name: &str) -> bool {
    let mut rest = xml.trim_start();
    // The XML declaration and comments before the root.
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            match after.find("?>") {
                Some(end) => rest = after[end + 2..].trim_start(),
                None => return false,
            }
        } else if let Some(after) = rest.strip_prefix("<!--") {
            match after.find("-->") {
                Some(end) => rest = after[end + 3..].trim_start(),
                None => return false,
            }
        } else {
            break;
        }
    }
    let Some(tag) = rest.strip_prefix('<') else {
        return false;
    };
    let qualified: String = tag
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    qualified.rsplit(':').next() == Some(name)
}

pub struct Decoded {
    pub xml: String,
    pub relay_state: Option<String>,
    signature: Option<RedirectSignature>,
    /// It carries an enveloped signature (of the one allowed shape).
    enveloped: bool,
}

/// The signature of a Redirect-binding message (Bindings §3.4.4.1): over the raw octets
/// `SAMLRequest=…&RelayState=…&SigAlg=…` as they appeared in the query.
struct RedirectSignature {
    signed: String,
    algorithm: String,
    value: Vec<u8>,
}

impl RedirectSignature {
    fn verify(&self, certificates: &[String]) -> bool {
        use openssl::hash::MessageDigest;
        let digest = match self.algorithm.as_str() {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
            | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => MessageDigest::sha256(),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
            // SHA-1 and anything unknown: refused.
            _ => return false,
        };
        certificates.iter().any(|certificate| {
            let Ok(der) = base64::engine::general_purpose::STANDARD.decode(certificate) else {
                return false;
            };
            let Ok(key) = openssl::x509::X509::from_der(&der).and_then(|c| c.public_key()) else {
                return false;
            };
            openssl::sign::Verifier::new(digest, &key)
                .and_then(|mut verifier| {
                    verifier.update(self.signed.as_bytes())?;
                    verifier.verify(&self.value)
                })
                .unwrap_or(false)
        })
    }
}

/// Reads a Redirect-binding query: each parameter once, `SAMLRequest` inflated (at most
/// 64 KiB), and the signed octets kept as they came.
fn decode_redirect(query: &str, field: &str) -> Option<Decoded> {
    let mut raw: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if raw.iter().any(|(n, _)| *n == name) {
            return None;
        }
        raw.push((name, value));
    }
    let find = |name: &str| raw.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let decode = |value: &str| {
        url::form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let request = find(field)?;
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(decode(request)?.split_whitespace().collect::<String>())
        .ok()?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .take(MAX_MESSAGE_BYTES + 1)
        .read_to_string(&mut xml)
        .ok()?;
    if xml.len() as u64 > MAX_MESSAGE_BYTES {
        return None;
    }
    let relay_state = find("RelayState").and_then(decode);
    let signature = match (find("SigAlg"), find("Signature")) {
        (Some(algorithm), Some(value)) => {
            let mut signed = format!("{field}={request}");
            if let Some(relay) = find("RelayState") {
                signed.push_str(&format!("&RelayState={relay}"));
            }
            signed.push_str(&format!("&SigAlg={algorithm}"));
            Some(RedirectSignature {
                signed,
                algorithm: decode(algorithm)?,
                value: base64::engine::general_purpose::STANDARD
                    .decode(decode(value)?)
                    .ok()?,
            })
        }
        (None, None) => None,
        _ => return None,
    };
    Some(Decoded {
        xml,
        relay_state,
        signature,
        enveloped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_authn_request_root_is_one() {
        assert!(root_is(
            "<?xml version=\"1.0\"?><samlp:AuthnRequest ID=\"x\"/>",
            "AuthnRequest"
        ));
        assert!(root_is("<!-- c --><AuthnRequest/>", "AuthnRequest"));
        assert!(!root_is(
            "<samlp:Response><samlp:AuthnRequest/></samlp:Response>",
            "AuthnRequest"
        ));
        assert!(!root_is("<samlp:AuthnRequestX/>", "AuthnRequest"));
    }

    #[test]
    fn a_redirect_query_with_a_parameter_twice_or_half_a_signature_is_refused() {
        assert!(decode_redirect("SAMLRequest=a&SAMLRequest=b", "SAMLRequest").is_none());
        assert!(decode_redirect("SAMLRequest=fZA&SigAlg=x", "SAMLRequest").is_none());
        assert!(decode_redirect("RelayState=x", "SAMLRequest").is_none());
    }
}
