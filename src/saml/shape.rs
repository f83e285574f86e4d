//! The shape a message from a service provider must have before xmlsec sees it. xmlsec
//! computes every `ds:Reference` (with whatever URI and transforms it names) before it
//! checks the signature value, so a message signed by nobody could make it read a file,
//! call a URL or run an XSLT. Only the one shape SAML signing uses gets through: no DTD,
//! UTF-8, one `ds:Signature` as a child of the root, one `Reference` to the root's `ID`,
//! the enveloped-signature and exclusive-c14n transforms, no `Object` or `Manifest`.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

const DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// Whether `xml` is safe to read and, if it is signed, to hand to xmlsec. `Ok(true)`: it
/// carries the one allowed signature shape; `Ok(false)`: no signature at all.
pub fn check(xml: &str) -> Result<bool, String> {
    if xml.contains('\0') {
        return Err("NUL characters".into());
    }
    let mut reader = NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut root_id: Option<String> = None;
    let mut signatures = 0;
    let mut references = 0;
    let mut transforms = 0;
    let mut reference_uri: Option<String> = None;
    // Depth of the open ds:Signature element, while inside it.
    let mut in_signature: Option<usize> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed: {e}"))?;
        let (empty, start) = match &event {
            Event::Start(e) => (false, Some(e.clone())),
            Event::Empty(e) => (true, Some(e.clone())),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if in_signature == Some(depth) {
                    in_signature = None;
                }
                (false, None)
            }
            Event::DocType(_) => return Err("a document type declaration".into()),
            Event::Decl(decl) => {
                if let Some(Ok(encoding)) = decl.encoding() {
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err("an encoding other than UTF-8".into());
                    }
                }
                (false, None)
            }
            Event::PI(_) => return Err("a processing instruction".into()),
            Event::Eof => break,
            _ => (false, None),
        };
        let Some(element) = start else { continue };
        let (namespace, local) = reader.resolve_element(element.name());
        let dsig = matches!(namespace, ResolveResult::Bound(ns) if ns.as_ref() == DSIG);
        let local = String::from_utf8_lossy(local.as_ref()).to_string();
        let attribute = |name: &str| {
            element
                .attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name.as_bytes())
                .and_then(|a| a.unescape_value().ok().map(|v| v.to_string()))
        };
        if depth == 0 {
            root_id = attribute("ID");
        }
        if dsig {
            match local.as_str() {
                "Signature" => {
                    signatures += 1;
                    if depth != 1 {
                        return Err("a signature that is not a child of the root".into());
                    }
                    in_signature = Some(depth);
                }
                "Reference" => {
                    references += 1;
                    reference_uri = attribute("URI");
                }
                "Transform" => {
                    transforms += 1;
                    let algorithm = attribute("Algorithm").unwrap_or_default();
                    if algorithm != ENVELOPED && algorithm != EXC_C14N {
                        return Err(format!("the transform {algorithm}"));
                    }
                }
                "CanonicalizationMethod" => {
                    let algorithm = attribute("Algorithm").unwrap_or_default();
                    if algorithm != EXC_C14N && algorithm != EXC_C14N_COMMENTS {
                        return Err(format!("the canonicalization {algorithm}"));
                    }
                }
                "Object" | "Manifest" | "XPath" | "RetrievalMethod" => {
                    return Err(format!("a ds:{local}"));
                }
                _ => {}
            }
        } else if in_signature.is_some() && local != "InclusiveNamespaces" {
            return Err(format!("the element {local} inside the signature"));
        }
        if !empty {
            depth += 1;
        }
    }
    match signatures {
        0 => Ok(false),
        1 => {
            let expected = root_id.map(|id| format!("#{id}"));
            if references != 1
                || transforms > 2
                || reference_uri.is_none()
                || reference_uri != expected
            {
                return Err("a signature that does not cover exactly the root element".into());
            }
            Ok(true)
        }
        _ => Err("more than one signature".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn signed(reference: &str, transforms: &str, extra: &str) -> String {
        format!(
            r##"<?xml version="1.0" encoding="UTF-8"?><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="{reference}"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>x</ds:SignatureValue>{extra}</ds:Signature></samlp:AuthnRequest>"##
        )
    }

    const GOOD: &str = r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;

    #[test]
    fn the_signing_shape_of_saml_passes_and_nothing_else() {
        assert_eq!(check(&signed("#_r1", GOOD, "")), Ok(true));
        assert_eq!(check("<samlp:AuthnRequest ID=\"x\"/>"), Ok(false));
        for (why, xml) in [
            ("a file", signed("file:///dev/zero", GOOD, "")),
            ("a URL", signed("http://169.254.169.254/", GOOD, "")),
            ("another element", signed("#other", GOOD, "")),
            ("the whole document", signed("", GOOD, "")),
            (
                "XSLT",
                signed(
                    "#_r1",
                    r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"/></ds:Transform>"#,
                    "",
                ),
            ),
            (
                "XPath",
                signed(
                    "#_r1",
                    r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#,
                    "",
                ),
            ),
            (
                "an Object",
                signed("#_r1", GOOD, "<ds:Object><ds:Manifest/></ds:Object>"),
            ),
        ] {
            assert!(check(&xml).is_err(), "{why}");
        }
        let two = signed("#_r1", GOOD, "").replace(
            "</samlp:AuthnRequest>",
            &format!("{}</samlp:AuthnRequest>", &signed("#_r1", GOOD, "")[38..]),
        );
        assert!(check(&two).is_err(), "two signatures");
        let nested = format!(
            "<wrapper ID=\"_w\"><x>{}</x></wrapper>",
            &signed("#_r1", GOOD, "")[38..]
        );
        assert!(
            check(&nested).is_err(),
            "a signature deeper than the root's children"
        );
        assert!(check("<!DOCTYPE x []><x/>").is_err());
        assert!(check("<?xml version=\"1.0\" encoding=\"UTF-7\"?><x/>").is_err());
        assert!(check("<x>\0</x>").is_err());
        assert!(check("<x><?xml-stylesheet href=\"a\"?></x>").is_err());
    }
}
