//! Single sign-on, remembered consent, prompt handling.

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, Browser, Landing};

#[tokio::test]
async fn a_second_relying_party_signs_in_without_a_password() {
    let app = TestApp::spawn().await;
    app.add_identity("21900010").await;
    let webmail = app.add_client(ClientOptions::default()).await;
    let lms = app
        .add_client(ClientOptions {
            redirect_uri: "http://127.0.0.1:9/lms".into(),
            ..ClientOptions::default()
        })
        .await;
    let browser = Browser::new();

    let oidc = rp::oidc_client(&app, &webmail).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let redirect = browser
        .authorize(&app, &auth.url, "21900010", PASSWORD)
        .await;
    let first = rp::exchange(&oidc, &webmail, auth, &redirect).await;

    let oidc = rp::oidc_client(&app, &lms).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    // No sign-in form this time: straight to this client's consent page.
    let (status, html) = browser.get(auth.url.as_str()).await.page();
    assert_eq!(status, 200);
    assert!(html.contains("name=\"decision\"") && !html.contains("name=\"password\""));
    let redirect = browser.consent(&app, &html, "allow").await.redirect();
    let second = rp::exchange(&oidc, &lms, auth, &redirect).await;
    assert_eq!(first.claims.subject(), second.claims.subject());
    assert_eq!(
        first.claims.additional_claims().clone(),
        second.claims.additional_claims().clone()
    );
}

#[tokio::test]
async fn consent_is_remembered_and_first_party_clients_skip_it() {
    let app = TestApp::spawn().await;
    app.add_identity("21900011").await;
    let client = app.add_client(ClientOptions::default()).await;
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["email"], true);
    browser
        .authorize(&app, &auth.url, "21900011", PASSWORD)
        .await;
    // Same scopes again: no consent page.
    let auth = rp::authorization(&oidc, &["email"], true);
    let redirect = browser.get(auth.url.as_str()).await.redirect();
    rp::exchange(&oidc, &client, auth, &redirect).await;
    // A wider scope asks again.
    let auth = rp::authorization(&oidc, &["email", "etupass"], true);
    let (_, html) = browser.get(auth.url.as_str()).await.page();
    assert!(html.contains("name=\"decision\""));

    let first_party = app
        .add_client(ClientOptions {
            first_party: true,
            redirect_uri: "http://127.0.0.1:9/fp".into(),
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &first_party).await;
    let auth = rp::authorization(&oidc, &["profile", "etupass"], true);
    let redirect = browser.get(auth.url.as_str()).await.redirect();
    rp::exchange(&oidc, &first_party, auth, &redirect).await;
}

#[tokio::test]
async fn denying_consent_returns_access_denied() {
    let app = TestApp::spawn().await;
    app.add_identity("21900012").await;
    let client = app.add_client(ClientOptions::default()).await;
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let (_, login) = browser.get(auth.url.as_str()).await.page();
    let (_, consent) = browser
        .sign_in(&app, &login, "21900012", PASSWORD)
        .await
        .page();
    let redirect = browser.consent(&app, &consent, "deny").await.redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        redirect.param("state").as_deref(),
        Some(auth.state.secret().as_str())
    );
    assert!(redirect.param("code").is_none());
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = TestApp::spawn().await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url.query_pairs_mut().append_pair("prompt", "none");
    let redirect = Browser::new().get(auth.url.as_str()).await.redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("login_required"));
    assert_eq!(
        redirect.param("state").as_deref(),
        Some(auth.state.secret().as_str())
    );
    assert_eq!(redirect.param("iss").as_deref(), Some(app.issuer.as_str()));
}

#[tokio::test]
async fn prompt_none_with_a_session_but_no_consent_is_consent_required() {
    let app = TestApp::spawn().await;
    app.add_identity("21900013").await;
    let first_party = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let other = app
        .add_client(ClientOptions {
            redirect_uri: "http://127.0.0.1:9/other".into(),
            ..ClientOptions::default()
        })
        .await;
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &first_party).await;
    let auth = rp::authorization(&oidc, &[], true);
    browser
        .authorize(&app, &auth.url, "21900013", PASSWORD)
        .await;

    let oidc = rp::oidc_client(&app, &other).await;
    let mut auth = rp::authorization(&oidc, &["profile"], true);
    auth.url.query_pairs_mut().append_pair("prompt", "none");
    let redirect = browser.get(auth.url.as_str()).await.redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("consent_required"));
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_password_again() {
    let app = TestApp::spawn().await;
    app.add_identity("21900014").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    browser
        .authorize(&app, &auth.url, "21900014", PASSWORD)
        .await;

    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url.query_pairs_mut().append_pair("prompt", "login");
    let (_, html) = browser.get(auth.url.as_str()).await.page();
    assert!(
        html.contains("name=\"password\""),
        "prompt=login shows the sign-in form"
    );
    let redirect = browser
        .sign_in(&app, &html, "21900014", PASSWORD)
        .await
        .redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let auth_time = signed_in.claims.auth_time().unwrap();

    app.clock.advance(120);
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url.query_pairs_mut().append_pair("max_age", "60");
    let (_, html) = browser.get(auth.url.as_str()).await.page();
    assert!(
        html.contains("name=\"password\""),
        "a 2-minute-old sign-in is too old for max_age=60"
    );
    let redirect = browser
        .sign_in(&app, &html, "21900014", PASSWORD)
        .await
        .redirect();
    let again = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert!(again.claims.auth_time().unwrap() > auth_time);

    // Within max_age the session is reused.
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url.query_pairs_mut().append_pair("max_age", "3600");
    assert!(matches!(
        browser.get(auth.url.as_str()).await,
        Landing::Redirect(_)
    ));
}

#[tokio::test]
async fn id_token_hint_names_the_expected_person() {
    use openidconnect::TokenResponse;
    let app = TestApp::spawn().await;
    app.add_identity("21900015").await;
    app.add_identity_with("21900016", "Other", "Person", Some(PASSWORD))
        .await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let sign_in = |number: &'static str, browser: Browser| {
        let app = &app;
        let oidc = &oidc;
        let client = &client;
        async move {
            let auth = rp::authorization(oidc, &[], true);
            let redirect = browser.authorize(app, &auth.url, number, PASSWORD).await;
            let signed_in = rp::exchange(oidc, client, auth, &redirect).await;
            (browser, signed_in.tokens.id_token().unwrap().to_string())
        }
    };
    let (browser, mine) = sign_in("21900015", Browser::new()).await;
    let (_, theirs) = sign_in("21900016", Browser::new()).await;
    let silent = |hint: &str| {
        let mut auth = rp::authorization(&oidc, &[], true);
        auth.url
            .query_pairs_mut()
            .append_pair("prompt", "none")
            .append_pair("id_token_hint", hint);
        auth.url
    };
    let redirect = browser.get(silent(&mine).as_str()).await.redirect();
    assert!(
        redirect.param("code").is_some(),
        "the hinted person is signed in"
    );
    let redirect = browser.get(silent(&theirs).as_str()).await.redirect();
    assert_eq!(
        redirect.param("error").as_deref(),
        Some("login_required"),
        "another person's session does not answer"
    );
    let redirect = browser
        .get(silent("forged.token.value").as_str())
        .await
        .redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("invalid_request"));
}
