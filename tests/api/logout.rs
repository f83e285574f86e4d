//! RP-initiated logout: back to a registered URI with `state`, or a confirmation first.

use openidconnect::TokenResponse;

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{self, Browser, Landing};

const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";

async fn signed_in(app: &TestApp, client: &TestClient, browser: &Browser) -> String {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let redirect = browser
        .authorize(app, &auth.url, "21900300", PASSWORD)
        .await;
    let signed_in = rp::exchange(&oidc, client, auth, &redirect).await;
    signed_in.tokens.id_token().unwrap().to_string()
}

async fn asks_for_password(app: &TestApp, client: &TestClient, browser: &Browser) -> bool {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    matches!(browser.get(auth.url.as_str()).await, Landing::Page(200, html) if html.contains("name=\"password\""))
}

fn end_session_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}?{query}", app.url("/end_session"))
}

#[tokio::test]
async fn a_relying_party_signs_the_person_out_and_gets_them_back() {
    let app = TestApp::spawn().await;
    app.add_identity("21900300").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
            ..ClientOptions::default()
        })
        .await;
    let discovery: serde_json::Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["end_session_endpoint"], app.url("/end_session"));
    let browser = Browser::new();
    let id_token = signed_in(&app, &client, &browser).await;
    assert!(!asks_for_password(&app, &client, &browser).await);

    let (status, _) = browser
        .get(&end_session_url(
            &app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
        ))
        .await
        .page();
    assert_eq!(
        status, 400,
        "an unregistered return address is refused, never followed"
    );
    let (status, _) = browser
        .get(&end_session_url(
            &app,
            &[
                ("id_token_hint", "not.a.token"),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
            ],
        ))
        .await
        .page();
    assert_eq!(status, 400);

    let redirect = browser
        .get(&end_session_url(
            &app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "s1"),
            ],
        ))
        .await
        .redirect();
    assert!(redirect.location.as_str().starts_with(AFTER_LOGOUT));
    assert_eq!(redirect.param("state").as_deref(), Some("s1"));
    assert!(
        asks_for_password(&app, &client, &browser).await,
        "the session is over"
    );
}

#[tokio::test]
async fn without_proof_the_person_confirms() {
    let app = TestApp::spawn().await;
    app.add_identity("21900300").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let browser = Browser::new();
    signed_in(&app, &client, &browser).await;
    let (status, page) = browser.get(&app.url("/end_session")).await.page();
    assert_eq!(status, 200);
    assert!(page.contains("Voulez-vous vous déconnecter"));
    assert!(
        !asks_for_password(&app, &client, &browser).await,
        "nothing happened yet"
    );
    let request = rp::form_field(&page, "request").unwrap();
    let (status, done) = browser
        .submit(&app, &page, "/end_session", &[("request", &request)])
        .await
        .page();
    assert_eq!(status, 200);
    assert!(done.contains("déconnecté"));
    assert!(asks_for_password(&app, &client, &browser).await);
}
