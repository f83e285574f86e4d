//! Signed SAML metadata, as a federation publishes it: an aggregate of many SPs checked
//! against the federation's certificate and loaded with `etupass saml federation load`,
//! and an SP's own signed metadata checked when it is added.

use openssl::pkey::{PKey, Private};
use samael::crypto::{Crypto, CryptoProvider};
use serde_json::Value;

use crate::helpers::{etupass, self_signed, TestApp};

/// A key and its self-signed certificate (the federation's, or an impostor's).
struct Signer {
    key: PKey<Private>,
    certificate: openssl::x509::X509,
}

impl Signer {
    fn new(name: &str) -> Signer {
        let (key, certificate) = self_signed(name);
        Signer { key, certificate }
    }

    fn certificate_file(&self, app: &TestApp, name: &str) -> String {
        let path = app.dir.path().join(name);
        std::fs::write(&path, self.certificate.to_pem().unwrap()).unwrap();
        path.display().to_string()
    }

    /// `document` (its root with `ID="{id}"`, and `{signature}` where the signature
    /// goes) signed with xmlsec, as a federation's signing tool does.
    fn sign(&self, document: &str, id: &str) -> String {
        let template = format!(
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
            certificate = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                self.certificate.to_der().unwrap()
            ),
        );
        let key_der = self.key.rsa().unwrap().private_key_to_der().unwrap();
        Crypto::sign_xml(document.replace("{signature}", &template), &key_der).unwrap()
    }
}

fn sp_entity(name: &str, consumer_host: &str) -> String {
    format!(
        r#"<md:EntityDescriptor entityID="https://{name}.example.org/shibboleth"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{consumer_host}/Shibboleth.sso/SAML2/POST" index="1"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    )
}

const IDP_ENTITY: &str = r#"<md:EntityDescriptor entityID="https://idp.other-univ.example.org/idp/shibboleth"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.other-univ.example.org/idp/profile/SAML2/Redirect/SSO"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;

/// An aggregate of `entities`, valid until `valid_until`, with a signature placeholder.
fn aggregate(entities: &[String], valid_until: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_fed1" Name="https://federation.example.org" validUntil="{valid_until}">{{signature}}<md:Extensions><mdrpi:PublicationInfo xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" creationInstant="2026-12-01T00:00:00Z" publisher="https://federation.example.org"/></md:Extensions>{}</md:EntitiesDescriptor>"#,
        entities.concat()
    )
}

fn load(app: &TestApp, file: &str, document: &str, certificate: &str) -> Result<Value, String> {
    let path = app.dir.path().join(file);
    std::fs::write(&path, document).unwrap();
    let output = etupass(
        app,
        &[
            "saml",
            "federation",
            "load",
            "--metadata",
            path.to_str().unwrap(),
            "--certificate",
            certificate,
            "--attribute",
            "eduPersonPrincipalName",
        ],
        None,
    );
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).to_string())
    }
}

/// `saml sp show`, as JSON.
fn show(app: &TestApp, entity_id: &str) -> Value {
    let output = etupass(app, &["saml", "sp", "show", entity_id], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn registered(app: &TestApp) -> Vec<String> {
    let output = etupass(app, &["saml", "sp", "list"], None);
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|sp| sp["entity_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_federation_aggregate_is_loaded_only_when_its_signature_verifies() {
    let app = TestApp::spawn().await;
    let federation = Signer::new("federation metadata signer");
    let impostor = Signer::new("federation metadata signer");
    let certificate = federation.certificate_file(&app, "federation.pem");
    let entities = [
        sp_entity("library", "https://library.example.org"),
        sp_entity("journals", "https://journals.example.org"),
        // Bearer assertions over plain http to another host: refused, the rest loaded.
        sp_entity("plain", "http://plain.example.org"),
        IDP_ENTITY.to_string(),
    ];
    let document = aggregate(&entities, "2099-01-01T00:00:00Z");
    let signed = federation.sign(&document, "_fed1");

    // Every way the aggregate can be untrustworthy is refused whole, and loads nothing.
    let refusals = [
        (
            "unsigned",
            document.replace("{signature}", ""),
            "not signed",
        ),
        (
            "signed by another key",
            impostor.sign(&document, "_fed1"),
            "does not verify",
        ),
        (
            "altered after signing",
            signed.replace("https://journals.example.org", "https://evil.example.net"),
            "does not verify",
        ),
        (
            "an entity slipped in after signing",
            signed.replace(
                "</md:EntitiesDescriptor>",
                &format!(
                    "{}</md:EntitiesDescriptor>",
                    sp_entity("evil", "https://evil.example.net")
                ),
            ),
            "does not verify",
        ),
        (
            "expired",
            federation.sign(&aggregate(&entities, "2020-01-01T00:00:00Z"), "_fed1"),
            "expired",
        ),
        (
            "a DTD",
            format!(
                "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
                signed
                    .trim_start_matches(|c| c != '>')
                    .trim_start_matches('>')
            ),
            "document type",
        ),
        (
            "one entity, not an aggregate",
            sp_entity("library", "https://library.example.org"),
            "not an md:EntitiesDescriptor",
        ),
    ];
    for (why, document, message) in refusals {
        let error = load(&app, "aggregate.xml", &document, &certificate).expect_err(why);
        assert!(error.contains(message), "{why}: {error}");
        assert!(registered(&app).is_empty(), "{why}: nothing loaded");
    }

    // One SP registered by hand, also listed by the federation: left as it is.
    let by_hand_path = app.dir.path().join("journals.xml");
    std::fs::write(
        &by_hand_path,
        sp_entity("journals", "https://journals.example.org").replace(
            "<md:EntityDescriptor ",
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ",
        ),
    )
    .unwrap();
    let output = etupass(
        &app,
        &[
            "saml",
            "sp",
            "add",
            "--metadata",
            by_hand_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report = load(&app, "aggregate.xml", &signed, &certificate).unwrap();
    assert_eq!(
        report["added"],
        serde_json::json!(["https://library.example.org/shibboleth"])
    );
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report}");
    assert!(skipped
        .iter()
        .any(|s| s["entity_id"] == "https://plain.example.org/shibboleth"
            && s["why"].as_str().unwrap().contains("https")));
    assert!(skipped.iter().any(
        |s| s["entity_id"] == "https://journals.example.org/shibboleth"
            && s["why"].as_str().unwrap().contains("registered separately")
    ));
    assert_eq!(
        registered(&app),
        [
            "https://journals.example.org/shibboleth",
            "https://library.example.org/shibboleth"
        ]
    );
    let library = show(&app, "https://library.example.org/shibboleth");
    assert_eq!(
        library["attributes"],
        serde_json::json!(["eduPersonPrincipalName"])
    );
    assert_eq!(
        library["assertion_consumer_services"][0]["location"],
        "https://library.example.org/Shibboleth.sso/SAML2/POST"
    );
    assert_eq!(
        library["valid_until"], 4_070_908_800_i64,
        "trusted no longer than the aggregate that vouches for it"
    );
    // A member is refreshed by loading the aggregate again, not on its own.
    let output = etupass(
        &app,
        &[
            "saml",
            "sp",
            "refresh",
            "https://library.example.org/shibboleth",
        ],
        None,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("federation load"));

    // The next aggregate: the library moved its consumer, the federation dropped nobody
    // but added the archives; then it drops the library.
    let next = federation.sign(
        &aggregate(
            &[
                sp_entity("library", "https://bu.example.org"),
                sp_entity("archives", "https://archives.example.org"),
            ],
            "2099-01-01T00:00:00Z",
        ),
        "_fed1",
    );
    let report = load(&app, "aggregate.xml", &next, &certificate).unwrap();
    assert_eq!(
        report["added"],
        serde_json::json!(["https://archives.example.org/shibboleth"])
    );
    assert_eq!(
        report["updated"],
        serde_json::json!(["https://library.example.org/shibboleth"])
    );
    assert_eq!(report["removed"], serde_json::json!([]));
    let library = show(&app, "https://library.example.org/shibboleth");
    assert_eq!(
        library["assertion_consumer_services"][0]["location"],
        "https://bu.example.org/Shibboleth.sso/SAML2/POST"
    );
    // An aggregate in which the library's entry is broken: it keeps the version it had.
    let broken = federation.sign(
        &aggregate(
            &[
                sp_entity("library", "http://bu.example.org"),
                sp_entity("archives", "https://archives.example.org"),
            ],
            "2099-01-01T00:00:00Z",
        ),
        "_fed1",
    );
    let report = load(&app, "aggregate.xml", &broken, &certificate).unwrap();
    assert_eq!(report["removed"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["skipped"][0]["entity_id"],
        "https://library.example.org/shibboleth"
    );
    let library = show(&app, "https://library.example.org/shibboleth");
    assert_eq!(
        library["assertion_consumer_services"][0]["location"],
        "https://bu.example.org/Shibboleth.sso/SAML2/POST"
    );
    let last = federation.sign(
        &aggregate(
            &[sp_entity("archives", "https://archives.example.org")],
            "2099-01-01T00:00:00Z",
        ),
        "_fed1",
    );
    let report = load(&app, "aggregate.xml", &last, &certificate).unwrap();
    assert_eq!(
        report["removed"],
        serde_json::json!(["https://library.example.org/shibboleth"])
    );
    assert_eq!(report["unchanged"], 1);
    assert_eq!(
        registered(&app),
        [
            "https://archives.example.org/shibboleth",
            "https://journals.example.org/shibboleth"
        ]
    );
}

#[tokio::test]
async fn an_sps_signed_metadata_is_refused_when_its_signature_does_not_verify() {
    let app = TestApp::spawn().await;
    let sp = Signer::new("sp metadata signer");
    let other = Signer::new("someone else");
    let document = sp_entity("lms", "https://lms.example.org").replace(
        "<md:EntityDescriptor entityID=\"https://lms.example.org/shibboleth\">",
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"_lms\" entityID=\"https://lms.example.org/shibboleth\">{signature}",
    );
    let signed = sp.sign(&document, "_lms");
    let add = |file: &str, xml: &str, certificate: Option<&str>| {
        let path = app.dir.path().join(file);
        std::fs::write(&path, xml).unwrap();
        let mut args = vec!["saml", "sp", "add", "--metadata", path.to_str().unwrap()];
        if let Some(certificate) = certificate {
            args.extend(["--certificate", certificate]);
        }
        let output = etupass(&app, &args, None);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, error) = add(
        "altered.xml",
        &signed.replace(
            "https://lms.example.org/Shibboleth",
            "https://evil.example.net/Shibboleth",
        ),
        None,
    );
    assert!(!ok && error.contains("altered"), "{error}");
    let other_certificate = other.certificate_file(&app, "other.pem");
    let (ok, error) = add("lms.xml", &signed, Some(&other_certificate));
    assert!(!ok && error.contains("does not verify"), "{error}");
    let (ok, error) = add(
        "unsigned.xml",
        &document.replace("{signature}", ""),
        Some(&other_certificate),
    );
    assert!(!ok && error.contains("not signed"), "{error}");
    assert!(registered(&app).is_empty());

    let certificate = sp.certificate_file(&app, "sp.pem");
    let (ok, error) = add("lms.xml", &signed, Some(&certificate));
    assert!(ok, "{error}");
    assert_eq!(registered(&app), ["https://lms.example.org/shibboleth"]);
    // Refreshed from the same file, with the same certificate: nothing changed.
    let output = etupass(
        &app,
        &[
            "saml",
            "sp",
            "refresh",
            "https://lms.example.org/shibboleth",
            "--certificate",
            &certificate,
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["changed"], serde_json::json!([]));
    // The certificate given when it was added is checked again at each refresh: the same
    // document re-signed by another key is refused without a flag saying so.
    std::fs::write(
        app.dir.path().join("lms.xml"),
        other.sign(&document, "_lms"),
    )
    .unwrap();
    let output = etupass(
        &app,
        &[
            "saml",
            "sp",
            "refresh",
            "https://lms.example.org/shibboleth",
        ],
        None,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not verify"));
}

#[tokio::test]
async fn the_metadata_commands_name_what_is_wrong_and_register_nothing() {
    let app = TestApp::spawn().await;
    let federation = Signer::new("federation metadata signer");
    let certificate = federation.certificate_file(&app, "federation.pem");
    let signed = federation.sign(
        &aggregate(
            &[sp_entity("library", "https://library.example.org")],
            "2099-01-01T00:00:00Z",
        ),
        "_fed1",
    );
    let path = app.dir.path().join("aggregate.xml");
    std::fs::write(&path, &signed).unwrap();
    let not_pem = app.dir.path().join("not-a-certificate.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let failure = |args: &[&str]| {
        let output = etupass(&app, args, None);
        assert!(!output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let aggregate_path = path.to_str().unwrap();
    for (args, message) in [
        (
            vec![
                "saml",
                "federation",
                "load",
                "--metadata",
                aggregate_path,
                "--certificate",
                &certificate,
                "--attribute",
                "password",
            ],
            "unknown attribute 'password'",
        ),
        (
            vec![
                "saml",
                "federation",
                "load",
                "--metadata",
                aggregate_path,
                "--certificate",
                not_pem.to_str().unwrap(),
            ],
            "holds no PEM certificate",
        ),
        (
            vec![
                "saml",
                "federation",
                "load",
                "--metadata",
                "http://federation.example.org/md.xml",
                "--certificate",
                &certificate,
            ],
            "https only",
        ),
        (
            vec!["saml", "sp", "add", "--metadata", aggregate_path],
            "federation load",
        ),
    ] {
        let error = failure(&args);
        assert!(error.contains(message), "{args:?}: {error}");
    }
    assert!(registered(&app).is_empty());
}
