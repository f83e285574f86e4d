//! SAML 2.0 from a service provider's side: the IdP metadata it loads.

use etupass::saml::incoming::root_is;

use crate::helpers::{etupass, TestApp, PASSWORD};
use crate::rp::{form_field, Browser};

#[tokio::test]
async fn the_idp_metadata_names_its_entity_endpoints_certificate_and_scope() {
    let app = TestApp::builder()
        .with_config(|settings| {
            settings.logo_url = Some("https://www.univ.example/logo&80.png".into())
        })
        .spawn()
        .await;
    let response = reqwest::get(app.url("/saml/metadata")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = response.text().await.unwrap();
    // A SAML library reads it (the federation's tools would).
    let entity: samael::metadata::EntityDescriptor = xml.parse().expect("valid SAML metadata");
    assert_eq!(entity.entity_id.as_deref(), Some(app.url("/saml").as_str()));
    let idp = &entity.idp_sso_descriptors.as_ref().expect("an IdP role")[0];
    let sso: Vec<(&str, &str)> = idp
        .single_sign_on_services
        .iter()
        .map(|e| (e.binding.as_str(), e.location.as_str()))
        .collect();
    let location = app.url("/saml/sso");
    assert!(sso.contains(&(
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        location.as_str()
    )));
    assert!(sso.contains(&(
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        location.as_str()
    )));
    let certificate = idp.key_descriptors[0]
        .key_info
        .x509_data
        .as_ref()
        .unwrap()
        .certificates[0]
        .clone();
    let ours = &app.server.saml;
    assert_eq!(
        certificate,
        ours.certificate_base64(),
        "the certificate Etupass signs with"
    );
    assert!(xml.contains(&format!(
        "<shibmd:Scope regexp=\"false\">{}</shibmd:Scope>",
        app.settings.eppn_domain
    )));
    assert!(xml.contains("<mdui:DisplayName xml:lang=\"fr\">"));
    assert!(
        xml.contains("https://www.univ.example/logo&amp;80.png"),
        "values escaped"
    );
}

/// A service provider as the tests play it: its entity ID, consumer URL and signing key.
struct TestSp {
    entity_id: String,
    consumer: String,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl TestSp {
    /// Makes its key and certificate, writes its metadata and registers it with the
    /// command line.
    fn register(app: &TestApp, name: &str, signs_requests: bool, extra: &[&str]) -> TestSp {
        let (key, certificate) = crate::helpers::self_signed(name);
        let certificate = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            certificate.to_der().unwrap(),
        );
        let entity_id = format!("https://{name}.univ.example/shibboleth");
        let consumer = format!("https://{name}.univ.example/Shibboleth.sso/SAML2/POST");
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="{signs_requests}">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://{name}.univ.example/Shibboleth.sso/SLO/Redirect"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{consumer}" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        );
        let path = app.dir.path().join(format!("{name}-metadata.xml"));
        std::fs::write(&path, metadata).unwrap();
        let mut args = vec!["saml", "sp", "add", "--metadata", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = etupass(app, &args, None);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        TestSp {
            entity_id,
            consumer,
            key,
        }
    }

    fn authn_request(&self, id: &str, extra_attributes: &str, issue_instant: &str) -> String {
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issue_instant}"{extra_attributes}><saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>"#,
            self.entity_id
        )
    }

    /// The Redirect-binding query of `xml`, signed when `sign` (Bindings §3.4.4.1).
    fn redirect_query(&self, xml: &str, relay: &str, sign: bool) -> String {
        use std::io::Write;
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater.write_all(xml.as_bytes()).unwrap();
        let deflated = deflater.finish().unwrap();
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut query = format!(
            "SAMLRequest={}&RelayState={}",
            encode(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                deflated
            )),
            encode(relay)
        );
        if sign {
            query.push_str(&format!(
                "&SigAlg={}",
                encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
            ));
            let mut signer =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &self.key)
                    .unwrap();
            signer.update(query.as_bytes()).unwrap();
            let signature = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                signer.sign_to_vec().unwrap(),
            );
            query.push_str(&format!("&Signature={}", encode(&signature)));
        }
        query
    }
}

fn now_instant(app: &TestApp) -> String {
    use etupass::domain::clock::Clock;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(app.clock.now() as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("action=\"")? + 8;
    Some(
        html[start..start + html[start..].find('"')?]
            .replace("&#x3D;", "=")
            .replace("&amp;", "&"),
    )
}

/// The assertion the SP can trust: the signed part of the Response, checked against the
/// IdP certificate from the metadata, as an SP's library does.
fn verified_assertion(app: &TestApp, saml_response: &str) -> String {
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
    let xml = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, saml_response).unwrap(),
    )
    .unwrap();
    let certificate = CertificateDer::from(app.server.saml.certificate_der.clone());
    Crypto::reduce_xml_to_signed(&xml, &[certificate], ReduceMode::PreDigest)
        .unwrap_or_else(|e| panic!("the response's signature must verify ({e}):\n{xml}"))
}

/// Signs in at the sign-in page if it shows up; the SAML POST page that follows.
async fn saml_post_page(app: &TestApp, browser: &Browser, url: &str) -> (u16, String) {
    let (status, page) = browser.get(url).await.page();
    if page.contains("name=\"password\"") {
        return browser.sign_in(app, &page, NUMBER, PASSWORD).await.page();
    }
    (status, page)
}

const NUMBER: &str = "21900900";

#[tokio::test]
async fn a_service_provider_gets_a_signed_assertion_with_the_released_attributes() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let sp = TestSp::register(
        &app,
        "bu",
        false,
        &[
            "--attribute",
            "eduPersonPrincipalName",
            "--attribute",
            "eduPersonAffiliation",
            "--attribute",
            "pairwise-id",
            "--attribute",
            "displayName",
        ],
    );
    let other = TestSp::register(&app, "revues", false, &["--attribute", "pairwise-id"]);
    let browser = Browser::new();
    let request = sp.authn_request("_req1", "", &now_instant(&app));
    let url = app.url(&format!(
        "/saml/sso?{}",
        sp.redirect_query(&request, "back-to-page-3", false)
    ));
    let (status, page) = saml_post_page(&app, &browser, &url).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        form_action(&page).as_deref(),
        Some(sp.consumer.as_str()),
        "posted to the registered consumer"
    );
    assert_eq!(
        form_field(&page, "RelayState").as_deref(),
        Some("back-to-page-3")
    );
    let assertion = verified_assertion(&app, &form_field(&page, "SAMLResponse").unwrap());
    assert!(
        assertion.contains(&format!("<saml:Audience>{}</saml:Audience>", sp.entity_id)),
        "{assertion}"
    );
    assert!(assertion.contains(&format!("Recipient=\"{}\"", sp.consumer)));
    assert!(assertion.contains("InResponseTo=\"_req1\""));
    assert!(assertion.contains("PasswordProtectedTransport"));
    assert!(
        assertion.contains(&format!(
            "<saml:AttributeValue>{NUMBER}@{}</saml:AttributeValue>",
            app.settings.eppn_domain
        )),
        "{assertion}"
    );
    assert!(assertion.contains("FriendlyName=\"eduPersonAffiliation\""));
    assert!(assertion.contains("Name=\"urn:oid:1.3.6.1.4.1.5923.1.1.1.6\""));
    let name_id = |assertion: &str| {
        let start = assertion.find("<saml:NameID").unwrap();
        let start = start + assertion[start..].find('>').unwrap() + 1;
        assertion[start..start + assertion[start..].find('<').unwrap()].to_string()
    };
    let first = name_id(&assertion);
    assert!(
        !first.contains(NUMBER),
        "a persistent NameID reveals no number"
    );

    // Single sign-on: the next request is answered without the password, with the same
    // persistent NameID; another SP gets another one.
    let again = sp.authn_request("_req2", "", &now_instant(&app));
    let (_, page) = browser
        .get(&app.url(&format!(
            "/saml/sso?{}",
            sp.redirect_query(&again, "", false)
        )))
        .await
        .page();
    let assertion = verified_assertion(&app, &form_field(&page, "SAMLResponse").expect(&page));
    assert_eq!(name_id(&assertion), first, "stable per SP");
    let elsewhere = other.authn_request("_req3", "", &now_instant(&app));
    let (_, page) = browser
        .get(&app.url(&format!(
            "/saml/sso?{}",
            other.redirect_query(&elsewhere, "", false)
        )))
        .await
        .page();
    let assertion = verified_assertion(&app, &form_field(&page, "SAMLResponse").expect(&page));
    assert_ne!(
        name_id(&assertion),
        first,
        "pairwise: SPs cannot correlate a person"
    );
    assert!(
        !assertion.contains("displayName"),
        "only what was released to this SP"
    );

    // The same request again: answered once.
    let (status, replay) = browser.get(&url).await.page();
    assert_eq!(status, 400);
    assert!(replay.contains("déjà été répondu"), "{replay}");
    assert!(form_field(&replay, "SAMLResponse").is_none());
}

#[tokio::test]
async fn requests_that_cannot_be_trusted_get_a_page_and_nothing_is_posted() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let sp = TestSp::register(&app, "ent", false, &[]);
    let signing = TestSp::register(&app, "scol", true, &[]);
    let browser = Browser::new();
    let now = now_instant(&app);
    let refused = |query: String| {
        let browser = &browser;
        let url = app.url(&format!("/saml/sso?{query}"));
        async move {
            let (status, page) = browser.get(&url).await.page();
            assert_eq!(status, 400, "{url}: {page}");
            assert!(form_field(&page, "SAMLResponse").is_none());
            page
        }
    };
    // A consumer URL that is not in the SP's metadata.
    let elsewhere = sp.authn_request(
        "_a1",
        " AssertionConsumerServiceURL=\"https://evil.example/acs\"",
        &now,
    );
    let page = refused(sp.redirect_query(&elsewhere, "", false)).await;
    assert!(!page.contains("evil.example"));
    let index = sp.authn_request("_a2", " AssertionConsumerServiceIndex=\"7\"", &now);
    refused(sp.redirect_query(&index, "", false)).await;
    // An SP nobody registered.
    let stranger = TestSp {
        entity_id: "https://stranger.example/sp".into(),
        consumer: String::new(),
        key: sp.key.clone(),
    };
    refused(stranger.redirect_query(&stranger.authn_request("_a3", "", &now), "", false)).await;
    // A DTD (entity expansion, external entities).
    let doctype = format!(
        "<!DOCTYPE x [<!ENTITY e \"e\">]>{}",
        sp.authn_request("_a4", "", &now)
    );
    refused(sp.redirect_query(&doctype, "", false)).await;
    // Too old.
    refused(sp.redirect_query(
        &sp.authn_request("_a5", "", "2020-01-01T00:00:00Z"),
        "",
        false,
    ))
    .await;
    // An SP whose metadata says it signs: unsigned, or signed by another key, is refused.
    let request = signing.authn_request("_s1", "", &now);
    refused(signing.redirect_query(&request, "", false)).await;
    let forged = TestSp {
        entity_id: signing.entity_id.clone(),
        consumer: signing.consumer.clone(),
        key: sp.key.clone(),
    };
    refused(forged.redirect_query(&request, "", true)).await;
    // A signature for another RelayState does not cover this one.
    let signed = signing.redirect_query(&request, "a", true);
    refused(signed.replace("RelayState=a", "RelayState=b")).await;
    // Properly signed: the sign-in page.
    let (status, page) = browser
        .get(&app.url(&format!(
            "/saml/sso?{}",
            signing.redirect_query(&request, "a", true)
        )))
        .await
        .page();
    assert_eq!(status, 200);
    assert!(page.contains("name=\"password\""));
}

#[tokio::test]
async fn is_passive_without_a_session_gets_no_passive_and_other_protocols_sign_in_for_saml() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let sp = TestSp::register(
        &app,
        "bib",
        false,
        &["--attribute", "eduPersonPrincipalName"],
    );
    let browser = Browser::new();
    let passive = sp.authn_request("_p1", " IsPassive=\"true\"", &now_instant(&app));
    let (status, page) = browser
        .get(&app.url(&format!(
            "/saml/sso?{}",
            sp.redirect_query(&passive, "", false)
        )))
        .await
        .page();
    assert_eq!(status, 200);
    let xml = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            form_field(&page, "SAMLResponse").unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive"),
        "{xml}"
    );
    assert!(!xml.contains("<saml:Assertion"));

    // Signed in through CAS: the SAML SP is answered at once.
    app.store
        .add_cas_service(
            etupass::domain::cas::NewCasService {
                name: "ENT".into(),
                url_pattern: "https://ent.univ.example/".into(),
                attributes: vec![],
                proxy_allowed: false,
                logout_url: None,
                open_to_alumni: false,
                open_to_parents: false,
            },
            etupass::domain::clock::Clock::now(&app.clock),
        )
        .await
        .unwrap();
    let (_, sign_in) = browser
        .get(&app.url("/cas/login?service=https%3A%2F%2Fent.univ.example%2F"))
        .await
        .page();
    browser
        .sign_in(&app, &sign_in, NUMBER, PASSWORD)
        .await
        .redirect();
    let request = sp.authn_request("_p2", "", &now_instant(&app));
    let (status, page) = browser
        .get(&app.url(&format!(
            "/saml/sso?{}",
            sp.redirect_query(&request, "", false)
        )))
        .await
        .page();
    assert_eq!(status, 200);
    verified_assertion(
        &app,
        &form_field(&page, "SAMLResponse").expect("no password asked"),
    );
}

impl TestSp {
    /// `xml` with an enveloped signature by this SP, base64 for the POST binding.
    fn signed_post(&self, xml: &str, id: &str) -> String {
        use samael::crypto::{Crypto, CryptoProvider};
        let certificate = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            b"unused in the signature check",
        );
        let template = format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:KeyName>{certificate}</ds:KeyName></ds:KeyInfo></ds:Signature>"##
        );
        let with_template = xml.replacen("</saml:Issuer>", &format!("</saml:Issuer>{template}"), 1);
        let key = self.key.rsa().unwrap().private_key_to_der().unwrap();
        let signed = Crypto::sign_xml(&with_template, &key).expect("signed");
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signed)
    }
}

/// Posts an AuthnRequest on the POST binding, following the page that posts it again
/// from Etupass's own origin (so the SameSite=Lax session comes with it).
async fn post_binding(app: &TestApp, browser: &Browser, saml_request: &str) -> (u16, String) {
    let (status, page) = browser
        .post_form(&app.url("/saml/sso"), &[("SAMLRequest", saml_request)])
        .await
        .page();
    if status == 200 && form_action(&page).as_deref() == Some("/saml/sso") {
        let hop = form_field(&page, "etupass_hop").expect("the hop field");
        let request = form_field(&page, "SAMLRequest").unwrap();
        return browser
            .post_form(
                &app.url("/saml/sso"),
                &[("SAMLRequest", &request), ("etupass_hop", &hop)],
            )
            .await
            .page();
    }
    (status, page)
}

#[tokio::test]
async fn the_post_binding_reads_only_what_the_sp_signed() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let sp = TestSp::register(
        &app,
        "scolarite",
        true,
        &["--attribute", "eduPersonPrincipalName"],
    );
    let browser = Browser::new();
    let now = now_instant(&app);
    let request = sp.authn_request("_post1", "", &now);
    let (status, page) = post_binding(&app, &browser, &sp.signed_post(&request, "_post1")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("name=\"password\""),
        "a signed POST request is taken: {page}"
    );
    let (status, post) = browser.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    assert_eq!(status, 200);
    assert_eq!(form_action(&post).as_deref(), Some(sp.consumer.as_str()));
    verified_assertion(&app, &form_field(&post, "SAMLResponse").unwrap());

    let decode = |b64: &str| {
        String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap(),
        )
        .unwrap()
    };
    let encode =
        |xml: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml);
    let refused = |saml_request: String| {
        let browser = &browser;
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let (status, page) = post_binding(app, browser, &saml_request).await;
            assert_eq!(status, 400, "{page}");
            assert!(form_field(&page, "SAMLResponse").is_none());
            started.elapsed()
        }
    };
    // Changed after signing: an attacker's consumer URL in the signed request.
    let signed = decode(&sp.signed_post(&sp.authn_request("_post2", "", &now), "_post2"));
    let tampered = signed.replacen(
        "Version=\"2.0\"",
        "Version=\"2.0\" AssertionConsumerServiceURL=\"https://evil.example/acs\"",
        1,
    );
    refused(encode(&tampered)).await;
    // Signature wrapping: the signed request inside an unsigned one of the attacker's.
    let inner = signed
        .trim_start_matches(|c| c != '>')
        .trim_start_matches('>');
    let wrapped = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evil\" Version=\"2.0\" IssueInstant=\"{now}\" AssertionConsumerServiceURL=\"https://evil.example/acs\"><saml:Issuer>{}</saml:Issuer>{inner}</samlp:AuthnRequest>",
        sp.entity_id
    );
    refused(encode(&wrapped)).await;
    // A Reference xmlsec would follow before checking anything: refused before xmlsec.
    let endless = signed.replacen("URI=\"#_post2\"", "URI=\"file:///dev/zero\"", 1);
    assert_ne!(endless, signed);
    let took = refused(encode(&endless)).await;
    assert!(
        took < std::time::Duration::from_secs(5),
        "answered at once, not reading /dev/zero"
    );
    // Unsigned, from an SP whose metadata says it signs.
    refused(encode(&sp.authn_request("_post3", "", &now))).await;
    // A request ID that is no XML name.
    let bad_id = sp
        .authn_request("1 2\"", "", &now)
        .replace("ID=\"1 2\"\"", "ID=\"1 2&quot;\"");
    refused(encode(&bad_id)).await;
}

impl TestSp {
    fn logout_request(&self, id: &str, name_id: &str, issue_instant: &str) -> String {
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issue_instant}"><saml:Issuer>{}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID><samlp:SessionIndex>x</samlp:SessionIndex></samlp:LogoutRequest>"#,
            self.entity_id
        )
    }
}

/// The message of a Redirect-binding URL Etupass signed, once its query signature is
/// checked against Etupass's certificate (Bindings §3.4.4.1), inflated.
fn verified_redirect(app: &TestApp, location: &url::Url, field: &str) -> String {
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.to_string())
            .unwrap_or_else(|| panic!("no {name} in {location}"))
    };
    let query = location.query().unwrap();
    let signed_part = &query[..query.find("&Signature=").unwrap()];
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        param("Signature"),
    )
    .unwrap();
    let certificate = openssl::x509::X509::from_der(&app.server.saml.certificate_der).unwrap();
    let idp_key = certificate.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &idp_key).unwrap();
    verifier.update(signed_part.as_bytes()).unwrap();
    assert!(
        verifier.verify(&signature).unwrap(),
        "signed by Etupass over the query's octets"
    );
    let deflated =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, param(field)).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&deflated[..]),
        &mut xml,
    )
    .unwrap();
    xml
}

/// The NameID of an assertion (canonical form from `verified_assertion`).
fn name_id_of(assertion: &str) -> String {
    let start = assertion.find("<saml:NameID").unwrap();
    let start = start + assertion[start..].find('>').unwrap() + 1;
    assertion[start..start + assertion[start..].find('<').unwrap()].to_string()
}

#[tokio::test]
async fn a_service_provider_signs_the_person_out_with_a_signed_logout_request() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let sp = TestSp::register(&app, "moodle", false, &[]);
    let browser = Browser::new();
    let request = sp.authn_request("_in1", "", &now_instant(&app));
    let url = app.url(&format!(
        "/saml/sso?{}",
        sp.redirect_query(&request, "", false)
    ));
    let (_, post) = saml_post_page(&app, &browser, &url).await;
    let name_id = name_id_of(&verified_assertion(
        &app,
        &form_field(&post, "SAMLResponse").unwrap(),
    ));
    let still_signed_in = |id: &'static str| {
        let browser = &browser;
        let app = &app;
        let sp = &sp;
        async move {
            let request = sp.authn_request(id, "", &now_instant(app));
            let url = app.url(&format!(
                "/saml/sso?{}",
                sp.redirect_query(&request, "", false)
            ));
            let (_, page) = browser.get(&url).await.page();
            form_field(&page, "SAMLResponse").is_some()
        }
    };
    let logout = |query: String| app.url(&format!("/saml/slo?{query}"));
    let now = now_instant(&app);

    // Unsigned, or with a comment in the NameID: refused, and the session goes on.
    let unsigned = sp.logout_request("_out1", &name_id, &now);
    let (status, _) = browser
        .get(&logout(sp.redirect_query(&unsigned, "", false)))
        .await
        .page();
    assert_eq!(status, 400);
    let commented = sp.logout_request(
        "_out2",
        &format!("{}<!---->{}", &name_id[..4], &name_id[4..]),
        &now,
    );
    let (status, _) = browser
        .get(&logout(sp.redirect_query(&commented, "", true)))
        .await
        .page();
    assert_eq!(status, 400);
    assert!(still_signed_in("_in2").await);

    // Signed: the session ends and the SP gets a signed LogoutResponse on its binding.
    let signed = sp.logout_request("_out3", &name_id, &now);
    let back = browser
        .get(&logout(sp.redirect_query(&signed, "after-logout", true)))
        .await
        .redirect();
    assert!(back
        .location
        .as_str()
        .starts_with("https://moodle.univ.example/Shibboleth.sso/SLO/Redirect?SAMLResponse="));
    assert_eq!(back.param("RelayState").as_deref(), Some("after-logout"));
    let xml = verified_redirect(&app, &back.location, "SAMLResponse");
    assert!(xml.contains("InResponseTo=\"_out3\""), "{xml}");
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"));
    assert!(
        !still_signed_in("_in3").await,
        "the Etupass session is over"
    );

    // Signed in again: the same request replayed (a URL left in the history), or an old
    // one, is refused and the new session goes on.
    let (_, sign_in) = browser.get(&app.url("/login")).await.page();
    browser.sign_in(&app, &sign_in, NUMBER, PASSWORD).await;
    assert!(still_signed_in("_in4").await);
    let (status, _) = browser
        .get(&logout(sp.redirect_query(&signed, "after-logout", true)))
        .await
        .page();
    assert_eq!(status, 400, "a replayed logout request");
    let old = sp.logout_request("_out4", &name_id, "2020-01-01T00:00:00Z");
    let (status, _) = browser
        .get(&logout(sp.redirect_query(&old, "", true)))
        .await
        .page();
    assert_eq!(status, 400, "a stale logout request");
    assert!(still_signed_in("_in5").await);
}

#[tokio::test]
async fn an_sp_that_asks_for_it_gets_the_whole_response_signed_around_the_signed_assertion() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let plain = TestSp::register(&app, "plain", false, &[]);
    let sp = TestSp::register(&app, "java", false, &["--sign-response"]);
    let browser = Browser::new();
    let mut responses = Vec::new();
    for (n, sp) in [&plain, &sp].into_iter().enumerate() {
        let request = sp.authn_request(&format!("_sr{n}"), "", &now_instant(&app));
        let url = app.url(&format!(
            "/saml/sso?{}",
            sp.redirect_query(&request, "", false)
        ));
        let (status, page) = saml_post_page(&app, &browser, &url).await;
        assert_eq!(status, 200, "{page}");
        responses.push(form_field(&page, "SAMLResponse").unwrap());
    }
    let decoded = |response: &str| {
        String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, response).unwrap(),
        )
        .unwrap()
    };
    // Without the option the assertion alone is signed; with it, the Response too.
    assert_eq!(
        decoded(&responses[0])
            .matches("<ds:Signature xmlns")
            .count(),
        1
    );
    let signed = decoded(&responses[1]);
    assert_eq!(signed.matches("<ds:Signature xmlns").count(), 2, "{signed}");
    let covered = verified_assertion(&app, &responses[1]);
    assert!(
        root_is(&covered, "Response"),
        "the Response's own signature covers it: {covered}"
    );
    // The assertion inside still carries its own signature, which verifies on its own.
    let start = covered.find("<saml:Assertion").unwrap();
    let end = covered.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let assertion = verified_assertion(
        &app,
        &base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &covered[start..end],
        ),
    );
    assert!(root_is(&assertion, "Assertion"), "{assertion}");
    // Tampering with the Response outside the assertion breaks its signature.
    let tampered = signed.replacen("Version=\"2.0\"", "Version=\"2.1\"", 1);
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
    let certificate = CertificateDer::from(app.server.saml.certificate_der.clone());
    let reduced = Crypto::reduce_xml_to_signed(&tampered, &[certificate], ReduceMode::PreDigest);
    assert!(
        reduced.map_or(true, |xml| !root_is(&xml, "Response")),
        "an altered Response is no longer covered"
    );
}

#[tokio::test]
async fn an_sp_without_a_soap_logout_service_is_signed_out_through_the_browser() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    // The test SPs have a logout service on the Redirect binding only.
    let sp = TestSp::register(&app, "ent", false, &[]);
    let browser = Browser::new();
    let request = sp.authn_request("_fc1", "", &now_instant(&app));
    let url = app.url(&format!(
        "/saml/sso?{}",
        sp.redirect_query(&request, "", false)
    ));
    let (_, post) = saml_post_page(&app, &browser, &url).await;
    let name_id = name_id_of(&verified_assertion(
        &app,
        &form_field(&post, "SAMLResponse").unwrap(),
    ));
    let frames = |page: &str| -> Vec<url::Url> {
        page.split("<iframe class=\"logout-frame\" src=\"")
            .skip(1)
            .map(|rest| {
                let src = rest[..rest.find('"').unwrap()]
                    .replace("&#x3D;", "=")
                    .replace("&amp;", "&");
                url::Url::parse(&src).unwrap()
            })
            .collect()
    };

    // Signing out: the signed-out page carries the SP's logout request in a frame, and
    // leads on to the home page.
    let home = browser.open(&app.url("/")).await;
    let (status, page) = browser.submit(&app, &home, "/logout", &[]).await.page();
    assert_eq!(status, 200, "{page}");
    let frames_of_sign_out = frames(&page);
    assert_eq!(frames_of_sign_out.len(), 1, "{page}");
    let frame = &frames_of_sign_out[0];
    assert!(frame
        .as_str()
        .starts_with("https://ent.univ.example/Shibboleth.sso/SLO/Redirect?SAMLRequest="));
    let xml = verified_redirect(&app, frame, "SAMLRequest");
    assert!(xml.starts_with("<samlp:LogoutRequest"), "{xml}");
    assert!(
        xml.contains(&format!(">{name_id}</saml:NameID>")),
        "the NameID this SP was given: {xml}"
    );
    assert!(xml.contains(&format!("SPNameQualifier=\"{}\"", sp.entity_id)));
    assert!(xml.contains("<samlp:SessionIndex>"));
    assert!(page.contains("id=\"logout-continue\" href=\"/\""), "{page}");
    assert!(page.contains("/static/logout.js"));

    // Told once: the next sign-out has nothing left to carry, and goes straight home.
    let (_, sign_in) = browser.get(&app.url("/login")).await.page();
    browser.sign_in(&app, &sign_in, NUMBER, PASSWORD).await;
    let home = browser.open(&app.url("/")).await;
    let landing = browser.submit(&app, &home, "/logout", &[]).await;
    assert!(
        matches!(landing, crate::rp::Landing::Redirect(_)),
        "no frame to load"
    );

    // Disconnecting the SP in the personal space goes through the browser as well.
    let (_, post) = saml_post_page(
        &app,
        &browser,
        &app.url(&format!(
            "/saml/sso?{}",
            sp.redirect_query(&sp.authn_request("_fc2", "", &now_instant(&app)), "", false)
        )),
    )
    .await;
    assert!(form_field(&post, "SAMLResponse").is_some(), "{post}");
    let space = browser.open(&app.url("/account")).await;
    let sp_id = app
        .store
        .find_service_provider(&sp.entity_id)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (status, page) = browser
        .submit(
            &app,
            &space,
            "/account/apps/disconnect",
            &[("protocol", "saml"), ("client_id", &sp_id)],
        )
        .await
        .page();
    assert_eq!(status, 200, "{page}");
    assert_eq!(frames(&page).len(), 1, "{page}");
    assert!(page.contains("href=\"/account#apps\""), "{page}");
}
