//! SAML 2.0 from a service provider's side: the IdP metadata it loads.

use crate::helpers::TestApp;

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
