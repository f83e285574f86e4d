//! RP-initiated logout: back to a registered URI with `state`, or a confirmation first.

use openidconnect::TokenResponse;

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{self, Browser, Landing};

const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";

async fn signed_in(app: &TestApp, client: &TestClient, browser: &Browser) -> String {
    signed_in_as(app, client, browser, "21900300", PASSWORD).await
}

async fn signed_in_as(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    number: &str,
    password: &str,
) -> String {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let redirect = browser.authorize(app, &auth.url, number, password).await;
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
                ("id_token_hint", &id_token),
                ("client_id", "another-client"),
            ],
        ))
        .await
        .page();
    assert_eq!(
        status, 400,
        "the hint and client_id must name the same client"
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

async fn next_logout_token(
    bodies: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    seen: usize,
) -> String {
    for _ in 0..200 {
        if let Some(body) = bodies.lock().unwrap().get(seen).cloned() {
            return url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "logout_token")
                .map(|(_, v)| v.into_owned())
                .expect("a logout_token parameter");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no logout token delivered");
}

#[tokio::test]
async fn relying_parties_hear_of_the_end_of_a_session_on_their_back_channel() {
    use etupass::crypto::jwt;
    let app = TestApp::spawn().await;
    app.add_identity("21900300").await;
    let (receiver, bodies) = crate::helpers::http_recorder("/backchannel").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            backchannel_logout_uri: Some(receiver.clone()),
            ..ClientOptions::default()
        })
        .await;
    let discovery: serde_json::Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    let keys = app.server.keys.current();

    // Sign-out from Etupass.
    let browser = Browser::new();
    let id_token = signed_in(&app, &client, &browser).await;
    let sid = jwt::verify_own(&keys, &id_token).unwrap()["sid"].clone();
    let home = browser.open(&app.url("/")).await;
    browser.submit(&app, &home, "/logout", &[]).await;
    let token = next_logout_token(&bodies, 0).await;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    let claims = jwt::verify_own(&keys, &token).expect("signed by Etupass");
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert_eq!(claims["sid"], sid, "names the session that ended");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(
        claims.get("nonce").is_none(),
        "a logout token never carries a nonce"
    );

    // A password reset ends every session: the relying party hears of it too.
    let browser = Browser::new();
    signed_in(&app, &client, &browser).await;
    let forgot = browser.open(&app.url("/password/forgot")).await;
    browser
        .submit(
            &app,
            &forgot,
            "/password/forgot",
            &[("username", "21900300")],
        )
        .await;
    let mail = app
        .mailbox
        .wait_for("21900300@personal.example", "/password/reset?token=")
        .await;
    let reset_token = mail.link_token("/password/reset").unwrap();
    let page = browser
        .open(&app.url(&format!("/password/reset?token={reset_token}")))
        .await;
    let strong = "Violet piano marches under seven quiet lanterns";
    browser
        .submit(
            &app,
            &page,
            "/password/reset",
            &[
                ("token", &reset_token),
                ("password", strong),
                ("confirmation", strong),
            ],
        )
        .await;
    let second = next_logout_token(&bodies, 1).await;
    assert!(jwt::verify_own(&keys, &second).is_some());

    // An administrator's lock from the command line ends sessions too.
    let browser = Browser::new();
    let id_token = signed_in_as(&app, &client, &browser, "21900300", strong).await;
    let sid = jwt::verify_own(&keys, &id_token).unwrap()["sid"].clone();
    let output = crate::helpers::etupass(&app, &["identity", "lock", "21900300"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The command queued the delivery at the system time; the test's clock lags it.
    app.clock.advance(120);
    let third = next_logout_token(&bodies, 2).await;
    assert_eq!(jwt::verify_own(&keys, &third).unwrap()["sid"], sid);
}
