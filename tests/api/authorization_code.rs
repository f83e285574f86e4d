//! The authorization-code flow with PKCE, driven by the `openidconnect` crate.

use etupass::domain::client::{AuthMethod, SigningAlg};
use openidconnect::OAuth2TokenResponse;

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, Browser};

async fn sign_in_with(alg: SigningAlg, auth_method: AuthMethod, public: bool) {
    let app = TestApp::spawn().await;
    let identity = app.add_identity("21901234").await;
    let client = app
        .add_client(ClientOptions {
            alg,
            auth_method,
            public,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile", "email", "etupass"], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21901234", PASSWORD)
        .await;
    assert_eq!(
        redirect.param("iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207 iss"
    );
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;

    let claims = &signed_in.claims;
    assert_eq!(claims.subject().as_str(), identity.subject);
    assert_ne!(
        claims.subject().as_str(),
        "21901234",
        "the subject is never the number"
    );
    assert!(claims.auth_time().is_some());
    assert!(claims.auth_context_ref().is_some(), "acr");
    assert!(claims.auth_method_refs().is_some(), "amr");
    assert_eq!(signed_in.tokens.token_type().as_ref(), "bearer");

    let info = rp::userinfo(&oidc, rp::access_token(&signed_in.tokens)).await;
    assert_eq!(info.subject().as_str(), identity.subject);
    assert_eq!(info.preferred_username().unwrap().as_str(), "21901234");
    assert_eq!(
        info.family_name().unwrap().get(None).unwrap().as_str(),
        "Dupont"
    );
    assert_eq!(info.email().unwrap().as_str(), "elodie.dupont@univ.example");
    let university = info.additional_claims();
    assert_eq!(university.student_number.as_deref(), Some("21901234"));
    assert_eq!(
        university.affiliations.as_deref(),
        Some(&["student".to_string()][..])
    );
    assert_eq!(university.eppn.as_deref(), Some("21901234@univ.example"));
}

#[tokio::test]
async fn confidential_client_rs256_with_basic_auth() {
    sign_in_with(SigningAlg::RS256, AuthMethod::ClientSecretBasic, false).await;
}

#[tokio::test]
async fn confidential_client_es256_with_post_auth() {
    sign_in_with(SigningAlg::ES256, AuthMethod::ClientSecretPost, false).await;
}

#[tokio::test]
async fn confidential_client_eddsa() {
    sign_in_with(SigningAlg::EdDSA, AuthMethod::ClientSecretBasic, false).await;
}

#[tokio::test]
async fn public_client_with_pkce() {
    sign_in_with(SigningAlg::RS256, AuthMethod::None, true).await;
}

#[tokio::test]
async fn sign_in_by_institutional_email() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["email"], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "Elodie.Dupont@univ.example", PASSWORD)
        .await;
    rp::exchange(&oidc, &client, auth, &redirect).await;
}

#[tokio::test]
async fn scopes_release_only_their_claims() {
    let app = TestApp::spawn().await;
    app.add_identity("21900002").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900002", PASSWORD)
        .await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        signed_in.tokens.scopes().unwrap().len(),
        1,
        "only openid granted"
    );
    let info = rp::userinfo(&oidc, rp::access_token(&signed_in.tokens)).await;
    assert!(info.email().is_none());
    assert!(info.preferred_username().is_none());
    assert!(info.additional_claims().student_number.is_none());
}

#[tokio::test]
async fn authorization_requests_can_be_posted() {
    let app = TestApp::spawn().await;
    app.add_identity("21900003").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let params: Vec<(String, String)> = auth.url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let browser = Browser::new();
    let (status, page) = browser
        .post_form(&app.url("/authorize"), &form)
        .await
        .page();
    assert_eq!(status, 200);
    let landing = browser.sign_in(&app, &page, "21900003", PASSWORD).await;
    let (_, consent) = landing.page();
    let redirect = browser.consent(&app, &consent, "allow").await.redirect();
    rp::exchange(&oidc, &client, auth, &redirect).await;
}

#[tokio::test]
async fn the_sign_in_page_names_the_client_and_honours_login_hint_and_ui_locales() {
    let app = TestApp::spawn().await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url
        .query_pairs_mut()
        .append_pair("login_hint", "21901234")
        .append_pair("ui_locales", "en-GB fr");
    let (status, html) = Browser::new().get(auth.url.as_str()).await.page();
    assert_eq!(status, 200);
    assert!(html.contains("lang=\"en\"") && html.contains("to continue to"));
    assert!(
        html.contains("<strong>Test RP</strong>"),
        "the client is named"
    );
    assert!(
        html.contains("value=\"21901234\""),
        "login_hint fills the sign-in name"
    );
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_rehashed_at_sign_in() {
    use etupass::account::provisioning::{self, IdentityInput};
    use etupass::crypto::password::{Argon2Settings, PasswordHasher};
    use etupass::crypto::Secret;
    use etupass::domain::clock::Clock;
    use etupass::domain::identity::StudentNumber;

    let app = TestApp::builder()
        .with_config(|settings| settings.argon2_iterations = 2)
        .spawn()
        .await;
    let old = PasswordHasher::new(
        Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .unwrap();
    let input = IdentityInput {
        number: "21900004".into(),
        family_name: "Old".into(),
        given_names: "Hash".into(),
        birth_date: "2001-01-01".into(),
        affiliations: "staff".into(),
        personal_email: None,
        institutional_email: None,
        password: Some(Secret::new(PASSWORD)),
    };
    provisioning::add_identity(&app.store, &old, "univ.example", input, app.clock.now())
        .await
        .unwrap();
    let number = StudentNumber::parse("21900004").unwrap();
    let before = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert!(before.password_hash.as_deref().unwrap().contains("t=1"));

    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    Browser::new()
        .authorize(&app, &auth.url, "21900004", PASSWORD)
        .await;
    let after = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.password_hash.as_deref().unwrap().contains("t=2"),
        "rehashed with the new parameters"
    );
}

#[tokio::test]
async fn pairwise_clients_of_different_sectors_see_different_subjects() {
    let app = TestApp::spawn().await;
    let identity = app.add_identity("21900005").await;
    let sector = |host: &str| ClientOptions {
        pairwise: true,
        first_party: true,
        redirect_uri: format!("https://{host}/callback"),
        ..ClientOptions::default()
    };
    let lms = app.add_client(sector("lms.univ.example")).await;
    let library = app.add_client(sector("library.univ.example")).await;
    let lms_again = app.add_client(sector("lms.univ.example")).await;
    let public = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let browser = Browser::new();
    let mut subjects = Vec::new();
    for client in [&lms, &library, &lms_again, &public] {
        let oidc = rp::oidc_client(&app, client).await;
        let auth = rp::authorization(&oidc, &["profile"], true);
        let redirect = browser
            .authorize(&app, &auth.url, "21900005", PASSWORD)
            .await;
        let signed_in = rp::exchange(&oidc, client, auth, &redirect).await;
        let info = rp::userinfo(&oidc, rp::access_token(&signed_in.tokens)).await;
        assert_eq!(
            info.subject(),
            signed_in.claims.subject(),
            "userinfo agrees with the ID token"
        );
        subjects.push(signed_in.claims.subject().as_str().to_string());
    }
    assert_ne!(
        subjects[0], subjects[1],
        "two sectors cannot correlate the person"
    );
    assert_eq!(
        subjects[0], subjects[2],
        "one sector sees one stable subject"
    );
    assert_eq!(
        subjects[3], identity.subject,
        "public clients see the public subject"
    );
    assert_ne!(subjects[0], identity.subject);

    // A pairwise client's redirect URIs must share one host (its sector).
    let spread = etupass::oauth::clients::register(
        &app.store,
        &app.server_key(),
        etupass::domain::client::NewClient {
            redirect_uris: vec![
                etupass::domain::redirect_uri::RedirectUri::parse("https://a.example/cb").unwrap(),
                etupass::domain::redirect_uri::RedirectUri::parse("https://b.example/cb").unwrap(),
            ],
            pairwise: true,
            ..etupass::domain::client::NewClient::new("spread")
        },
        0,
    )
    .await;
    assert!(spread.is_err());
}
