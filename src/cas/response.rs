//! The bodies of the validation endpoints (CAS 3.0 §2.5–2.7, Appendix A): XML by
//! default, JSON with `format=JSON`, and the two lines of CAS 1.0's `/validate`.

use serde_json::{json, Map, Value};

const NAMESPACE: &str = "http://www.yale.edu/tp/cas";

/// A successful validation.
#[derive(Debug, Clone)]
pub struct Success {
    /// The person's number (`uid`).
    pub user: String,
    pub attributes: Vec<(String, Vec<String>)>,
    /// When the person gave the password, and whether it was for this ticket.
    pub authentication_date: i64,
    pub from_new_login: bool,
    /// The IOU of a proxy-granting ticket delivered to the `pgtUrl`.
    pub pgt_iou: Option<String>,
    /// The proxies a proxy ticket went through, nearest first.
    pub proxies: Vec<String>,
}

/// A refusal: one of the protocol's codes, and a sentence for the service's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub description: String,
}

impl Failure {
    pub fn new(code: &'static str, description: impl Into<String>) -> Failure {
        Failure {
            code,
            description: description.into(),
        }
    }
}

pub mod codes {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const INVALID_TICKET_SPEC: &str = "INVALID_TICKET_SPEC";
    pub const UNAUTHORIZED_SERVICE_PROXY: &str = "UNAUTHORIZED_SERVICE_PROXY";
    pub const INVALID_PROXY_CALLBACK: &str = "INVALID_PROXY_CALLBACK";
    pub const INVALID_TICKET: &str = "INVALID_TICKET";
    pub const INVALID_SERVICE: &str = "INVALID_SERVICE";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    pub const UNAUTHORIZED_SERVICE: &str = "UNAUTHORIZED_SERVICE";
    pub const BAD_PGT: &str = "BAD_PGT";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    /// `format=JSON` (any case) asks for JSON; anything else, XML.
    pub fn from_param(value: Option<&str>) -> Format {
        match value {
            Some(v) if v.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Xml,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "application/xml; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// Escapes text for an XML element or a double-quoted attribute.
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Not allowed in XML 1.0 at all: dropped rather than sent broken.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

fn rfc3339(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

pub fn validation(result: &Result<Success, Failure>, format: Format) -> String {
    match (result, format) {
        (Ok(success), Format::Xml) => {
            let mut xml = format!(
                "<cas:serviceResponse xmlns:cas=\"{NAMESPACE}\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n    <cas:attributes>\n      <cas:authenticationDate>{}</cas:authenticationDate>\n      <cas:isFromNewLogin>{}</cas:isFromNewLogin>\n",
                xml_escape(&success.user),
                rfc3339(success.authentication_date),
                success.from_new_login
            );
            for (name, values) in &success.attributes {
                for value in values {
                    xml.push_str(&format!(
                        "      <cas:{name}>{}</cas:{name}>\n",
                        xml_escape(value)
                    ));
                }
            }
            xml.push_str("    </cas:attributes>\n");
            if let Some(iou) = &success.pgt_iou {
                xml.push_str(&format!(
                    "    <cas:proxyGrantingTicket>{}</cas:proxyGrantingTicket>\n",
                    xml_escape(iou)
                ));
            }
            if !success.proxies.is_empty() {
                xml.push_str("    <cas:proxies>\n");
                for proxy in &success.proxies {
                    xml.push_str(&format!(
                        "      <cas:proxy>{}</cas:proxy>\n",
                        xml_escape(proxy)
                    ));
                }
                xml.push_str("    </cas:proxies>\n");
            }
            xml.push_str("  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
            xml
        }
        (Ok(success), Format::Json) => {
            let mut attributes = Map::new();
            attributes.insert(
                "authenticationDate".into(),
                json!([rfc3339(success.authentication_date)]),
            );
            attributes.insert("isFromNewLogin".into(), json!([success.from_new_login]));
            for (name, values) in &success.attributes {
                attributes.insert(name.clone(), json!(values));
            }
            let mut body = Map::new();
            body.insert("user".into(), json!(success.user));
            body.insert("attributes".into(), Value::Object(attributes));
            if let Some(iou) = &success.pgt_iou {
                body.insert("proxyGrantingTicket".into(), json!(iou));
            }
            if !success.proxies.is_empty() {
                body.insert("proxies".into(), json!(success.proxies));
            }
            json!({ "serviceResponse": { "authenticationSuccess": body } }).to_string()
        }
        (Err(failure), format) => failure_body("authenticationFailure", failure, format),
    }
}

/// `/cas/proxy`'s answer: a proxy ticket, or why not.
pub fn proxy(result: &Result<String, Failure>, format: Format) -> String {
    match (result, format) {
        (Ok(ticket), Format::Xml) => format!(
            "<cas:serviceResponse xmlns:cas=\"{NAMESPACE}\">\n  <cas:proxySuccess>\n    <cas:proxyTicket>{}</cas:proxyTicket>\n  </cas:proxySuccess>\n</cas:serviceResponse>\n",
            xml_escape(ticket)
        ),
        (Ok(ticket), Format::Json) => {
            json!({ "serviceResponse": { "proxySuccess": { "proxyTicket": ticket } } }).to_string()
        }
        (Err(failure), format) => failure_body("proxyFailure", failure, format),
    }
}

fn failure_body(element: &str, failure: &Failure, format: Format) -> String {
    match format {
        Format::Xml => format!(
            "<cas:serviceResponse xmlns:cas=\"{NAMESPACE}\">\n  <cas:{element} code=\"{}\">{}</cas:{element}>\n</cas:serviceResponse>\n",
            failure.code,
            xml_escape(&failure.description)
        ),
        Format::Json => json!({ "serviceResponse": { element: {
            "code": failure.code,
            "description": failure.description,
        } } })
        .to_string(),
    }
}

/// CAS 1.0 `/validate`: `yes` and the user, or `no` and an empty line.
pub fn v1(result: &Result<Success, Failure>) -> String {
    match result {
        Ok(success) => format!("yes\n{}\n", success.user),
        Err(_) => "no\n\n".to_string(),
    }
}

/// The ticket of a `/cas/samlValidate` request (CAS 3.0 §4.2.1): the text of its
/// `AssertionArtifact` element, if it is a well-formed ticket. Nothing else of the SOAP
/// envelope is read.
pub fn saml_artifact(body: &str) -> Option<&str> {
    let start = body.find("AssertionArtifact")?;
    let after = &body[start..];
    let open_end = after.find('>')? + 1;
    let content = &after[open_end..];
    let ticket = content[..content.find('<')?].trim();
    (!ticket.is_empty()
        && ticket.len() <= 256
        && ticket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'))
    .then_some(ticket)
}

/// `/cas/samlValidate`'s answer (CAS 3.0 §4.2.2–4.2.3): a SAML 1.1 response in a SOAP
/// envelope, the attributes in an `AttributeStatement` (what mod_auth_cas reads).
pub fn saml11(result: &Result<Success, Failure>, target: &str, issuer: &str, now: i64) -> String {
    let instant = rfc3339(now);
    let id = super::new_ticket("_");
    let (status, assertion) = match result {
        Err(failure) => (
            format!(
                "<samlp:Status><samlp:StatusCode Value=\"samlp:{}\"/><samlp:StatusMessage>{}</samlp:StatusMessage></samlp:Status>",
                if failure.code == codes::INTERNAL_ERROR { "Responder" } else { "RequestDenied" },
                xml_escape(&failure.description)
            ),
            String::new(),
        ),
        Ok(success) => {
            let subject = format!(
                "<saml:Subject><saml:NameIdentifier>{}</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:artifact</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>",
                xml_escape(&success.user)
            );
            let mut attributes = String::new();
            for (name, values) in &success.attributes {
                attributes.push_str(&format!(
                    "<saml:Attribute AttributeName=\"{name}\" AttributeNamespace=\"http://www.ja-sig.org/products/cas/\">"
                ));
                for value in values {
                    attributes.push_str(&format!(
                        "<saml:AttributeValue>{}</saml:AttributeValue>",
                        xml_escape(value)
                    ));
                }
                attributes.push_str("</saml:Attribute>");
            }
            (
                "<samlp:Status><samlp:StatusCode Value=\"samlp:Success\"/></samlp:Status>".to_string(),
                format!(
                    "<saml:Assertion AssertionID=\"{id}a\" IssueInstant=\"{instant}\" Issuer=\"{issuer}\" MajorVersion=\"1\" MinorVersion=\"1\"><saml:Conditions NotBefore=\"{instant}\" NotOnOrAfter=\"{later}\"><saml:AudienceRestrictionCondition><saml:Audience>{audience}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AttributeStatement>{subject}{attributes}</saml:AttributeStatement><saml:AuthenticationStatement AuthenticationInstant=\"{authenticated}\" AuthenticationMethod=\"urn:oasis:names:tc:SAML:1.0:am:password\">{subject}</saml:AuthenticationStatement></saml:Assertion>",
                    issuer = xml_escape(issuer),
                    later = rfc3339(now + 30),
                    audience = xml_escape(target),
                    authenticated = rfc3339(success.authentication_date),
                ),
            )
        }
    };
    format!(
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Header/><SOAP-ENV:Body><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:1.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:1.0:assertion\" IssueInstant=\"{instant}\" MajorVersion=\"1\" MinorVersion=\"1\" Recipient=\"{}\" ResponseID=\"{id}\">{status}{assertion}</samlp:Response></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        xml_escape(target)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_illegal_characters_dropped() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let failure = Failure::new(codes::INVALID_TICKET, "ticket <x> not recognized");
        let xml = validation(&Err(failure), Format::Xml);
        assert!(xml.contains("code=\"INVALID_TICKET\">ticket &lt;x&gt; not recognized<"));
    }

    #[test]
    fn a_success_lists_each_value_and_the_proxy_chain() {
        let success = Success {
            user: "21900500".into(),
            attributes: vec![("memberOf".into(), vec!["l3-info".into(), "bu".into()])],
            authentication_date: 0,
            from_new_login: true,
            pgt_iou: Some("PGTIOU-1".into()),
            proxies: vec!["https://proxy.example.edu/cb".into()],
        };
        let xml = validation(&Ok(success.clone()), Format::Xml);
        assert!(xml.contains("<cas:user>21900500</cas:user>"));
        assert!(xml.contains(
            "<cas:memberOf>l3-info</cas:memberOf>\n      <cas:memberOf>bu</cas:memberOf>"
        ));
        assert!(xml.contains("<cas:authenticationDate>1970-01-01T00:00:00Z<"));
        assert!(xml.contains("<cas:proxy>https://proxy.example.edu/cb</cas:proxy>"));
        let json: Value =
            serde_json::from_str(&validation(&Ok(success.clone()), Format::Json)).unwrap();
        let body = &json["serviceResponse"]["authenticationSuccess"];
        assert_eq!(body["attributes"]["memberOf"], json!(["l3-info", "bu"]));
        assert_eq!(body["proxyGrantingTicket"], "PGTIOU-1");
        assert_eq!(v1(&Ok(success.clone())), "yes\n21900500\n");
        let saml = saml11(&Ok(success), "https://a.edu/", "https://etupass", 0);
        assert!(saml.contains("<saml:NameIdentifier>21900500</saml:NameIdentifier>"));
        assert!(saml.contains("<saml:Attribute AttributeName=\"memberOf\" AttributeNamespace=\"http://www.ja-sig.org/products/cas/\"><saml:AttributeValue>l3-info</saml:AttributeValue><saml:AttributeValue>bu</saml:AttributeValue></saml:Attribute>"));
    }

    #[test]
    fn only_a_well_formed_artifact_is_read_from_a_saml_request() {
        let body = "<SOAP-ENV:Envelope><SOAP-ENV:Body><samlp:Request><samlp:AssertionArtifact>ST-abc123</samlp:AssertionArtifact></samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>";
        assert_eq!(saml_artifact(body), Some("ST-abc123"));
        assert_eq!(
            saml_artifact("<AssertionArtifact> ST-1 </AssertionArtifact>"),
            Some("ST-1")
        );
        assert_eq!(
            saml_artifact("<AssertionArtifact>ST-1&amp;</AssertionArtifact>"),
            None
        );
        assert_eq!(
            saml_artifact("<AssertionArtifact></AssertionArtifact>"),
            None
        );
        assert_eq!(saml_artifact("nothing"), None);
    }
}
