//! Single sign-on, remembered consent, prompt handling.

use etupass::domain::clock::Clock;

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

/// Posts `carried` (an authorization request, as the sign-in form carries it) to a gate's
/// form as someone holding only the session cookie would.
async fn post_to_gate(
    app: &TestApp,
    browser: &Browser,
    page_with_csrf: &str,
    action: &str,
    carried: &str,
) -> Landing {
    browser
        .submit(
            app,
            page_with_csrf,
            action,
            &[
                ("request", carried),
                ("version", "1"),
                ("accept_charter", "yes"),
            ],
        )
        .await
}

#[tokio::test]
async fn prompt_login_and_max_age_cannot_be_skipped_through_a_gate_form() {
    let app = TestApp::spawn().await;
    app.add_identity("21900016").await;
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
        .authorize(&app, &auth.url, "21900016", PASSWORD)
        .await;
    // A minute later the relying party insists on a fresh sign-in.
    app.clock.advance(60);
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url
        .query_pairs_mut()
        .append_pair("prompt", "login")
        .append_pair("max_age", "0");
    let (_, sign_in) = browser.get(auth.url.as_str()).await.page();
    assert!(sign_in.contains("name=\"password\""));
    let carried = rp::form_field(&sign_in, "request").unwrap();
    // Someone at the keyboard posts the request to a gate instead of signing in: no code.
    for action in [
        "/charter/accept",
        "/account/second-factor/continue",
        "/password/change",
        "/login/second-factor",
    ] {
        match post_to_gate(&app, &browser, &sign_in, action, &carried).await {
            Landing::Redirect(redirect) => {
                assert!(
                    redirect.param("code").is_none(),
                    "{action} issued a code without the fresh sign-in asked for"
                );
            }
            Landing::Page(_, html) => assert!(
                html.contains("name=\"password\""),
                "{action}: the sign-in page again: {html}"
            ),
        }
    }
    // A forged proof does not help either.
    let forged = format!("{carried}&etupass_signed_in=9999999999.forged");
    match post_to_gate(&app, &browser, &sign_in, "/charter/accept", &forged).await {
        Landing::Redirect(redirect) => assert!(redirect.param("code").is_none()),
        Landing::Page(_, html) => assert!(html.contains("name=\"password\"")),
    }
    // Signing in for real gives the code.
    let redirect = browser
        .sign_in(&app, &sign_in, "21900016", PASSWORD)
        .await
        .redirect();
    assert!(redirect.param("code").is_some());
}

#[tokio::test]
async fn a_sign_in_made_for_the_request_still_counts_after_its_gates() {
    let app = TestApp::spawn().await;
    app.add_identity("21900017").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    app.store
        .publish_charter("Charte v2".into(), app.clock.now())
        .await
        .unwrap();
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url
        .query_pairs_mut()
        .append_pair("prompt", "login")
        .append_pair("max_age", "0");
    let (_, sign_in) = browser.get(auth.url.as_str()).await.page();
    let (status, charter) = browser
        .sign_in(&app, &sign_in, "21900017", PASSWORD)
        .await
        .page();
    assert_eq!(status, 200);
    assert!(charter.contains("Charte v2"));
    let version = rp::form_field(&charter, "version").unwrap();
    let request = rp::form_field(&charter, "request").unwrap();
    // Minutes on the charter page do not undo the sign-in made for this request.
    app.clock.advance(120);
    let redirect = browser
        .submit(
            &app,
            &charter,
            "/charter/accept",
            &[
                ("request", &request),
                ("version", &version),
                ("accept_charter", "yes"),
            ],
        )
        .await
        .redirect();
    assert!(redirect.param("code").is_some(), "{}", redirect.location);
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert!(signed_in.claims.auth_time().is_some());
}

/// The session cookie a response sets, if any.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("etupass_session="))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .filter(|c| !c.is_empty())
}

/// Signs in on `/login` with this browser; the session cookie set.
pub(crate) async fn sign_in_for_cookie(app: &TestApp, browser: &Browser, number: &str) -> String {
    let response = browser.sign_in_response(app, number, PASSWORD, None).await;
    session_cookie(&response).expect("a session cookie")
}

/// Whether a bare request with this session cookie reaches the personal space.
pub(crate) async fn cookie_opens_the_account(app: &TestApp, cookie: &str) -> bool {
    let html = reqwest::Client::new()
        .get(app.url("/account"))
        .header("cookie", format!("etupass_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The sign-in page asks for a name; the personal space has password forms too.
    !html.contains("name=\"username\"")
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_ends_the_previous_session() {
    let app = TestApp::spawn().await;
    app.add_identity("21900018").await;
    app.add_identity("21900019").await;
    let lab_computer = Browser::new();
    let first = sign_in_for_cookie(&app, &lab_computer, "21900018").await;
    assert!(cookie_opens_the_account(&app, &first).await);
    // The next student signs in on the same computer: the first session is over.
    let second = sign_in_for_cookie(&app, &lab_computer, "21900019").await;
    assert_ne!(first, second);
    assert!(!cookie_opens_the_account(&app, &first).await);
    assert!(cookie_opens_the_account(&app, &second).await);
}

#[tokio::test]
async fn a_sign_in_proof_is_not_extended_by_passing_the_pages_again() {
    let app = TestApp::spawn().await;
    app.add_identity("21900020").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    app.store
        .publish_charter("Charte v3".into(), app.clock.now())
        .await
        .unwrap();
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let mut auth = rp::authorization(&oidc, &[], true);
    auth.url
        .query_pairs_mut()
        .append_pair("prompt", "login")
        .append_pair("max_age", "0");
    let (_, sign_in) = browser.get(auth.url.as_str()).await.page();
    let (_, charter) = browser
        .sign_in(&app, &sign_in, "21900020", PASSWORD)
        .await
        .page();
    let request = rp::form_field(&charter, "request").unwrap();
    assert!(request.contains("etupass_signed_in="));
    // Nine minutes later the request goes through the pipeline again (another form):
    // the charter page comes back, with the same proof, not a fresh one.
    app.clock.advance(9 * 60);
    let (_, again) = browser
        .submit(
            &app,
            &charter,
            "/account/second-factor/continue",
            &[("request", &request)],
        )
        .await
        .page();
    assert_eq!(rp::form_field(&again, "request").unwrap(), request);
    // Past the proof's ten minutes the charter is accepted, but the sign-in is stale.
    app.clock.advance(2 * 60);
    let version = rp::form_field(&again, "version").unwrap();
    let landing = browser
        .submit(
            &app,
            &again,
            "/charter/accept",
            &[
                ("request", &request),
                ("version", &version),
                ("accept_charter", "yes"),
            ],
        )
        .await;
    match landing {
        Landing::Page(_, html) => assert!(html.contains("name=\"password\"")),
        Landing::Redirect(redirect) => assert!(
            redirect.param("code").is_none(),
            "no code eleven minutes after a max_age=0 sign-in"
        ),
    }
}
