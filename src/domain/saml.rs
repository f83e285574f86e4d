//! SAML service providers: what Etupass keeps of an SP's metadata, checked when it is
//! loaded, and the attributes it can be released.

use serde::{Deserialize, Serialize};

use super::clock::UnixTime;
use super::Invalid;

pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The attributes an SP can be released, by their friendly names (their `urn:oid` names
/// are in `saml::attributes`).
pub const ATTRIBUTES: [&str; 13] = [
    "eduPersonPrincipalName",
    "eduPersonAffiliation",
    "eduPersonScopedAffiliation",
    "eduPersonEntitlement",
    "pairwise-id",
    "subject-id",
    "mail",
    "displayName",
    "givenName",
    "sn",
    "uid",
    "supannEtuId",
    "supannEtablissement",
];

/// An assertion consumer service of the SP (HTTP-POST only: the binding Etupass answers
/// on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionConsumer {
    pub location: String,
    pub index: usize,
    pub is_default: bool,
}

pub const BINDING_SOAP: &str = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";

/// A single logout service of the SP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutService {
    pub binding: String,
    pub location: String,
    pub response_location: Option<String>,
}

/// What an SP's metadata says that Etupass relies on.
#[derive(Debug, Clone)]
pub struct SpMetadata {
    pub entity_id: String,
    pub consumers: Vec<AssertionConsumer>,
    /// Base64 DER certificates the SP signs with (`use="signing"` or no `use`).
    pub signing_certificates: Vec<String>,
    /// The certificate to encrypt assertions to (`use="encryption"` or no `use`).
    pub encryption_certificate: Option<String>,
    pub logout_services: Vec<LogoutService>,
    pub authn_requests_signed: bool,
    pub want_assertions_signed: bool,
    pub valid_until: Option<UnixTime>,
}

/// A registered SP.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    pub id: String,
    pub metadata: SpMetadata,
    pub attributes: Vec<String>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
    /// The whole `Response` is signed too, not only the assertion.
    pub sign_response: bool,
    /// The certificate (base64 DER) its metadata must be signed with, if one was given.
    pub metadata_certificate: Option<String>,
    /// Where the metadata came from (a file path or a URL), for `refresh`.
    pub source: String,
    pub created_at: UnixTime,
}

impl ServiceProvider {
    /// Its single logout service on `binding`, if it has one.
    pub fn logout_service(&self, binding: &str) -> Option<&LogoutService> {
        self.metadata
            .logout_services
            .iter()
            .find(|service| service.binding == binding)
    }

    pub fn admits(&self, identity: &super::identity::Identity) -> bool {
        identity.admitted_by(self.open_to_alumni, self.open_to_parents)
    }

    /// The consumer an AuthnRequest names (by URL or index), or the default one. `None`
    /// when the request names one that is not in the metadata.
    pub fn consumer(&self, url: Option<&str>, index: Option<usize>) -> Option<&AssertionConsumer> {
        let consumers = &self.metadata.consumers;
        match (url, index) {
            (Some(url), _) => consumers.iter().find(|c| c.location == url),
            (None, Some(index)) => consumers.iter().find(|c| c.index == index),
            (None, None) => consumers
                .iter()
                .find(|c| c.is_default)
                .or_else(|| consumers.iter().min_by_key(|c| c.index)),
        }
    }
}

/// Refuses what no SAML message or metadata needs and XML parsers get wrong: a document
/// type declaration (entities, external references).
pub fn refuse_doctype(xml: &str) -> Result<(), Invalid> {
    let declares = |keyword: &[u8]| {
        xml.as_bytes()
            .windows(keyword.len())
            .any(|window| window.eq_ignore_ascii_case(keyword))
    };
    if declares(b"<!DOCTYPE") || declares(b"<!ENTITY") {
        return Err(Invalid::new(
            "XML with a document type declaration (DTD or entities) is refused",
        ));
    }
    Ok(())
}

/// Reads and checks an SP's metadata: one entity with an SP role, not expired, with at
/// least one HTTP-POST assertion consumer service at an http(s) URL.
pub fn parse_metadata(xml: &str, now: UnixTime) -> Result<SpMetadata, Invalid> {
    refuse_doctype(xml)?;
    let entity: samael::metadata::EntityDescriptor = xml
        .parse()
        .map_err(|e| Invalid::new(format!("the metadata is not SAML metadata: {e}")))?;
    parse_entity(&entity, now)
}

/// One SP of a metadata aggregate: its checked metadata and its own document, or why it
/// cannot be registered.
pub type AggregateMember = Result<(SpMetadata, String), (String, Invalid)>;

/// Reads a metadata aggregate (`EntitiesDescriptor`, as a federation publishes): every
/// entity with an SP role, each checked on its own (one bad entity does not refuse the
/// others). Entities without an SP role (identity providers) are left out. The aggregate
/// itself must not have expired.
pub fn parse_aggregate(xml: &str, now: UnixTime) -> Result<Vec<AggregateMember>, Invalid> {
    use samael::traits::ToXml;
    refuse_doctype(xml)?;
    let xml = without_aggregate_extensions(xml)?;
    let aggregate: samael::metadata::EntitiesDescriptor = xml.parse().map_err(|e| {
        Invalid::new(format!(
            "the document is not a SAML metadata aggregate: {e}"
        ))
    })?;
    if let Some(until) = aggregate.valid_until {
        if until.timestamp() <= now {
            return Err(Invalid::new(format!(
                "the aggregate expired (validUntil {until}): fetch a fresh one"
            )));
        }
    }
    let aggregate_valid_until = aggregate.valid_until.map(|t| t.timestamp());
    let root = samael::metadata::EntityDescriptorType::EntitiesDescriptor(aggregate);
    Ok(root
        .iter()
        .filter(|entity| {
            entity
                .sp_sso_descriptors
                .as_ref()
                .is_some_and(|sp| !sp.is_empty())
        })
        .map(|entity| {
            let entity_id = entity.entity_id.clone().unwrap_or_default();
            let mut metadata = parse_entity(entity, now).map_err(|e| (entity_id.clone(), e))?;
            // An SP is trusted no longer than the aggregate that vouches for it: if the
            // loads stop, its requests are refused once the aggregate has expired.
            metadata.valid_until = match (metadata.valid_until, aggregate_valid_until) {
                (Some(own), Some(aggregate)) => Some(own.min(aggregate)),
                (own, aggregate) => own.or(aggregate),
            };
            let document = entity.to_string().map_err(|e| {
                (
                    entity_id,
                    Invalid::new(format!("its metadata does not serialize: {e}")),
                )
            })?;
            Ok((metadata, document))
        })
        .collect())
}

/// The aggregate without the `Extensions` of its `EntitiesDescriptor`s (publication and
/// registration information every federation publishes there, which samael's aggregate
/// type cannot read and Etupass does not need).
fn without_aggregate_extensions(xml: &str) -> Result<String, Invalid> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut parents: Vec<Vec<u8>> = Vec::new();
    let mut kept = String::with_capacity(xml.len());
    let mut copied_to = 0;
    // Where the Extensions being left out starts, and the depth of its parent.
    let mut leaving_out: Option<(usize, usize)> = None;
    let in_aggregate =
        |parents: &[Vec<u8>]| parents.last().is_some_and(|p| p == b"EntitiesDescriptor");
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| Invalid::new(format!("the aggregate is not well-formed XML: {e}")))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(element) => {
                let local = element.local_name().as_ref().to_vec();
                if leaving_out.is_none() && local == b"Extensions" && in_aggregate(&parents) {
                    leaving_out = Some((before, parents.len()));
                }
                parents.push(local);
            }
            Event::Empty(element)
                if leaving_out.is_none()
                    && element.local_name().as_ref() == b"Extensions"
                    && in_aggregate(&parents) =>
            {
                kept.push_str(&xml[copied_to..before]);
                copied_to = after;
            }
            Event::End(_) => {
                parents.pop();
                if let Some((start, depth)) = leaving_out {
                    if parents.len() == depth {
                        kept.push_str(&xml[copied_to..start]);
                        copied_to = after;
                        leaving_out = None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    kept.push_str(&xml[copied_to..]);
    Ok(kept)
}

fn parse_entity(
    entity: &samael::metadata::EntityDescriptor,
    now: UnixTime,
) -> Result<SpMetadata, Invalid> {
    let entity_id = entity
        .entity_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| Invalid::new("the metadata has no entityID"))?;
    if let Some(until) = entity.valid_until {
        if until.timestamp() <= now {
            return Err(Invalid::new(format!(
                "the metadata of {entity_id} expired (validUntil {until})"
            )));
        }
    }
    let sp = entity
        .sp_sso_descriptors
        .as_ref()
        .and_then(|list| list.first())
        .ok_or_else(|| Invalid::new(format!("{entity_id} has no SPSSODescriptor")))?;
    if let Some(until) = sp.valid_until {
        if until.timestamp() <= now {
            return Err(Invalid::new(format!(
                "the SP role of {entity_id} expired (validUntil {until})"
            )));
        }
    }
    let consumers: Vec<AssertionConsumer> = sp
        .assertion_consumer_services
        .iter()
        .filter(|acs| acs.binding == BINDING_POST)
        .map(|acs| AssertionConsumer {
            location: acs.location.trim().to_string(),
            index: acs.index,
            is_default: acs.is_default.unwrap_or(false),
        })
        .collect();
    if consumers.is_empty() {
        return Err(Invalid::new(format!(
            "{entity_id} has no AssertionConsumerService with the HTTP-POST binding"
        )));
    }
    for consumer in &consumers {
        if !is_secure_endpoint(&consumer.location) {
            return Err(Invalid::new(format!(
                "the AssertionConsumerService '{}' is not an https URL (bearer assertions travel there)",
                consumer.location
            )));
        }
    }
    let mut signing_certificates = Vec::new();
    let mut encryption_certificate = None;
    for key in sp.key_descriptors.iter().flatten() {
        let certificates: Vec<String> = key
            .key_info
            .x509_data
            .iter()
            .flat_map(|data| data.certificates.iter())
            .map(|c| c.split_whitespace().collect::<String>())
            .collect();
        for certificate in certificates {
            openssl::x509::X509::from_der(&decode(&certificate)?).map_err(|e| {
                Invalid::new(format!("a certificate in the metadata does not parse: {e}"))
            })?;
            match key.key_use.as_deref() {
                Some("encryption") => encryption_certificate = Some(certificate),
                Some("signing") => signing_certificates.push(certificate),
                _ => {
                    encryption_certificate.get_or_insert(certificate.clone());
                    signing_certificates.push(certificate);
                }
            }
        }
    }
    let logout_services = sp
        .single_logout_services
        .iter()
        .flatten()
        .filter(|service| {
            is_secure_endpoint(&service.location)
                && service
                    .response_location
                    .as_deref()
                    .is_none_or(is_secure_endpoint)
        })
        .map(|service| LogoutService {
            binding: service.binding.clone(),
            location: service.location.trim().to_string(),
            response_location: service.response_location.clone(),
        })
        .collect();
    if sp.authn_requests_signed == Some(true) && signing_certificates.is_empty() {
        return Err(Invalid::new(format!(
            "{entity_id} says it signs its requests but gives no signing certificate"
        )));
    }
    if let Some(certificate) = &encryption_certificate {
        let rsa = openssl::x509::X509::from_der(&decode(certificate)?)
            .and_then(|c| c.public_key())
            .is_ok_and(|key| key.rsa().is_ok());
        if !rsa {
            return Err(Invalid::new(
                "the encryption certificate must hold an RSA key (RSA-OAEP key transport)",
            ));
        }
    }
    Ok(SpMetadata {
        logout_services,
        entity_id,
        consumers,
        signing_certificates,
        encryption_certificate,
        authn_requests_signed: sp.authn_requests_signed.unwrap_or(false),
        want_assertions_signed: sp.want_assertions_signed.unwrap_or(false),
        valid_until: entity.valid_until.map(|t| t.timestamp()),
    })
}

/// An https URL, or http to this machine (a test or a local proxy).
fn is_secure_endpoint(location: &str) -> bool {
    url::Url::parse(location).is_ok_and(|u| {
        u.username().is_empty()
            && match u.scheme() {
                "https" => u.host_str().is_some(),
                "http" => {
                    matches!(
                        u.host(),
                        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
                    ) || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                        || u.host_str() == Some("localhost")
                }
                _ => false,
            }
    })
}

fn decode(certificate: &str) -> Result<Vec<u8>, Invalid> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(certificate)
        .map_err(|e| Invalid::new(format!("a certificate in the metadata is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(valid_until: &str, acs: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.edu/shibboleth"{valid_until}>
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="false">
    {acs}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    #[test]
    fn metadata_is_read_and_its_defects_are_named() {
        let acs = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.edu/Shibboleth.sso/SAML2/POST" index="1"/>"#;
        let sp = parse_metadata(&metadata("", acs), 0).unwrap();
        assert_eq!(sp.entity_id, "https://sp.example.edu/shibboleth");
        assert_eq!(
            sp.consumers[0].location,
            "https://sp.example.edu/Shibboleth.sso/SAML2/POST"
        );
        assert!(!sp.authn_requests_signed);
        let says_it_signs = metadata("", acs).replace(
            "AuthnRequestsSigned=\"false\"",
            "AuthnRequestsSigned=\"true\"",
        );
        assert!(parse_metadata(&says_it_signs, 0)
            .unwrap_err()
            .0
            .contains("no signing certificate"));
        let expired = parse_metadata(
            &metadata(r#" validUntil="2020-01-01T00:00:00Z""#, acs),
            1_800_000_000,
        );
        assert!(expired.unwrap_err().0.contains("expired"));
        let artifact_only = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example.edu/a" index="1"/>"#;
        assert!(parse_metadata(&metadata("", artifact_only), 0)
            .unwrap_err()
            .0
            .contains("no AssertionConsumerService"));
        let plain_http = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://sp.example.edu/acs" index="1"/>"#;
        assert!(parse_metadata(&metadata("", plain_http), 0)
            .unwrap_err()
            .0
            .contains("https"));
        let loopback = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:8080/acs" index="1"/>"#;
        assert!(
            parse_metadata(&metadata("", loopback), 0).is_ok(),
            "http only to this machine"
        );
        let doctype = format!(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
            metadata("", acs)
        );
        assert!(parse_metadata(&doctype, 0)
            .unwrap_err()
            .0
            .contains("document type"));
        assert!(parse_metadata("<html/>", 0).is_err());
    }
}
