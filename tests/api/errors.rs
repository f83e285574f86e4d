//! The error paths: what must be refused, and how.

use base64::Engine;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier};

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD, REDIRECT_URI};
use crate::rp::{self, Browser, Landing, Redirect};

/// Signs in and returns the redirect carrying a fresh code (PKCE verifier kept).
async fn code_for(
    app: &TestApp,
    client: &TestClient,
    number: &str,
) -> (rp::Authorization, Redirect) {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let redirect = Browser::new()
        .authorize(app, &auth.url, number, PASSWORD)
        .await;
    (auth, redirect)
}

async fn post_token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(app.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn unknown_client_shows_a_page_and_never_redirects() {
    let app = TestApp::spawn().await;
    let url = format!(
        "{}?response_type=code&client_id=nope&redirect_uri={}&scope=openid&state=s",
        app.url("/authorize"),
        REDIRECT_URI
    );
    let (status, html) = Browser::new().get(&url).await.page();
    assert_eq!(status, 400);
    assert!(html.contains("pas enregistrée auprès d"), "{html}");
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_a_page_and_never_redirects() {
    let app = TestApp::spawn().await;
    let client = app.add_client(ClientOptions::default()).await;
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callback?x=1",
    ] {
        let url = format!(
            "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid",
            app.url("/authorize"),
            client.client_id,
            urlencode(uri)
        );
        let (status, _) = Browser::new().get(&url).await.page();
        assert_eq!(status, 400, "{uri} must not be redirected to");
    }
}

#[tokio::test]
async fn bad_requests_from_a_known_client_go_back_with_an_error() {
    let app = TestApp::spawn().await;
    let public = app
        .add_client(ClientOptions {
            public: true,
            ..ClientOptions::default()
        })
        .await;
    let base = format!(
        "{}?client_id={}&redirect_uri={}&state=xyz",
        app.url("/authorize"),
        public.client_id,
        urlencode(REDIRECT_URI)
    );
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let cases = [
        ("&response_type=code&scope=openid", "invalid_request"), // public client without PKCE
        (&*format!("&response_type=code&scope=openid&code_challenge={challenge}&code_challenge_method=plain"), "invalid_request"),
        (&*format!("&response_type=token&scope=openid&code_challenge={challenge}&code_challenge_method=S256"), "unsupported_response_type"),
        (&*format!("&response_type=code&scope=email&code_challenge={challenge}&code_challenge_method=S256"), "invalid_scope"),
        (&*format!("&response_type=code&scope=openid&scope=openid&code_challenge={challenge}&code_challenge_method=S256"), "invalid_request"),
        (&*format!("&response_type=code&scope=openid&request=x&code_challenge={challenge}&code_challenge_method=S256"), "request_not_supported"),
    ];
    for (extra, expected) in cases {
        let redirect = Browser::new()
            .get(&format!("{base}{extra}"))
            .await
            .redirect();
        assert_eq!(
            redirect.param("error").as_deref(),
            Some(expected),
            "{extra}"
        );
        assert_eq!(redirect.param("state").as_deref(), Some("xyz"));
        assert!(redirect.location.as_str().starts_with(REDIRECT_URI));
    }
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_refused() {
    let app = TestApp::spawn().await;
    app.add_identity("21900020").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;

    let (_, redirect) = code_for(&app, &client, "21900020").await;
    let wrong = PkceCodeVerifier::new("a".repeat(64));
    let result = oidc
        .exchange_code(AuthorizationCode::new(redirect.param("code").unwrap()))
        .unwrap()
        .set_pkce_verifier(wrong)
        .request_async(&rp::http_client())
        .await;
    assert!(result.is_err(), "a wrong verifier must fail");

    let (_, redirect) = code_for(&app, &client, "21900020").await;
    let code = redirect.param("code").unwrap();
    let secret = client.client_secret.as_deref().unwrap();
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
        Some((&client.client_id, secret)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900021").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let (auth, redirect) = code_for(&app, &client, "21900021").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let access_token = signed_in.tokens.access_token().clone();
    rp::userinfo(&oidc, &access_token).await;

    let secret = client.client_secret.as_deref().unwrap();
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
        Some((&client.client_id, secret)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    let response = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "tokens from a replayed code are revoked"
    );
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_refused() {
    let app = TestApp::spawn().await;
    app.add_identity("21900022").await;
    let victim = app.add_client(ClientOptions::default()).await;
    let thief = app.add_client(ClientOptions::default()).await;
    let (auth, redirect) = code_for(&app, &victim, "21900022").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
        Some((&thief.client_id, thief.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    // The stranger's attempt did not burn the code: its own client still redeems it.
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
        Some((&victim.client_id, victim.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_a_basic_challenge() {
    let app = TestApp::spawn().await;
    app.add_identity("21900023").await;
    let client = app.add_client(ClientOptions::default()).await;
    let (auth, redirect) = code_for(&app, &client, "21900023").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body, headers) =
        post_token(&app, &form, Some((&client.client_id, "wrong-secret"))).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // The same secret sent by the wrong method (post for a basic client) fails too.
    let mut with_post = form.to_vec();
    with_post.push(("client_id", &client.client_id));
    with_post.push(("client_secret", client.client_secret.as_deref().unwrap()));
    let (status, body, _) = post_token(&app, &with_post, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn wrong_redirect_uri_and_expired_code_are_invalid_grant() {
    let app = TestApp::spawn().await;
    app.add_identity("21900024").await;
    let client = app.add_client(ClientOptions::default()).await;
    let secret = client.client_secret.clone().unwrap();

    let (auth, redirect) = code_for(&app, &client, "21900024").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", &verifier),
        ],
        Some((&client.client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (auth, redirect) = code_for(&app, &client, "21900024").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    app.clock.advance(61);
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
        Some((&client.client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn token_endpoint_rejects_malformed_requests() {
    let app = TestApp::spawn().await;
    let client = app.add_client(ClientOptions::default()).await;
    let secret = client.client_secret.clone().unwrap();
    let (status, body, _) = post_token(
        &app,
        &[("grant_type", "password")],
        Some((&client.client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body, _) = post_token(
        &app,
        &[("grant_type", "authorization_code")],
        Some((&client.client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "forged"),
            ("redirect_uri", REDIRECT_URI),
        ],
        Some((&client.client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body, _) = post_token(&app, &[("grant_type", "authorization_code")], None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "JSON bodies are not accepted");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.add_identity("21900025").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let browser = Browser::new();
    let (_, page) = browser.get(auth.url.as_str()).await.page();

    let (status_wrong, wrong) = browser
        .sign_in(&app, &page, "21900025", "not the password")
        .await
        .page();
    let (status_unknown, unknown) = browser
        .sign_in(&app, &page, "29999999", "not the password")
        .await
        .page();
    assert_eq!(status_wrong, 401);
    assert_eq!(status_wrong, status_unknown);
    assert!(wrong.contains("Identifiant ou mot de passe incorrect"));
    assert_eq!(
        wrong.replace("21900025", "NUMBER"),
        unknown.replace("29999999", "NUMBER"),
        "the pages differ only by the name typed"
    );
    // The right password still works from the re-shown form.
    let landing = browser.sign_in(&app, &wrong, "21900025", PASSWORD).await;
    assert!(matches!(landing, Landing::Page(200, ref html) if html.contains("name=\"decision\"")));
}

#[tokio::test]
async fn a_pending_account_cannot_sign_in() {
    let app = TestApp::spawn().await;
    app.add_identity_with("21900026", "Martin", "Paul", None)
        .await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let browser = Browser::new();
    let (_, page) = browser.get(auth.url.as_str()).await.page();
    let (status, _) = browser
        .sign_in(&app, &page, "21900026", "anything at all")
        .await
        .page();
    assert_eq!(
        status, 401,
        "no password set: the same refusal as a wrong password"
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    app.add_identity("21900027").await;
    let browser = Browser::new();
    let (status, _) = browser
        .post_form(
            &app.url("/login"),
            &[
                ("username", "21900027"),
                ("password", PASSWORD),
                ("request", ""),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400);
    let (status, _) = browser
        .post_form(
            &app.url("/consent"),
            &[
                ("csrf_token", "forged"),
                ("request", ""),
                ("decision", "allow"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn userinfo_requires_a_valid_bearer_token() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let response = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"etupass\""
    );
    let response = http
        .get(app.url("/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let basic = base64::engine::general_purpose::STANDARD.encode("a:b");
    let response = http
        .get(app.url("/userinfo"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn an_access_token_expires() {
    let app = TestApp::spawn().await;
    app.add_identity("21900028").await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let (auth, redirect) = code_for(&app, &client, "21900028").await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let token = signed_in.tokens.access_token().secret().clone();
    app.clock.advance(3601);
    let response = reqwest::Client::new()
        .post(app.url("/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_replay_revokes_the_refresh_token_saved_with_the_code_spend() {
    use etupass::crypto::token;
    use etupass::domain::clock::Clock;
    use etupass::domain::grant::{
        AccessToken, CodeLookup, CodeRedemption, IssuedTokens, RefreshToken,
    };

    let app = TestApp::spawn().await;
    let identity = app.add_identity("21900029").await;
    let client = app.add_client(ClientOptions::default()).await;
    let (_, redirect) = code_for(&app, &client, "21900029").await;
    let code_hash = token::digest(&redirect.param("code").unwrap());
    let now = app.clock.now();
    let (lookup, _) = app
        .store
        .find_authorization_code(&code_hash, &client.client_id)
        .await
        .unwrap();
    assert!(matches!(lookup, CodeLookup::Unspent(_)));
    let family = "family-of-the-code".to_string();
    let tokens = |n: &str| IssuedTokens {
        access: AccessToken {
            token_hash: token::digest(&format!("access {n}")),
            client_id: client.client_id.clone(),
            identity_id: Some(identity.id.clone()),
            session_id: None,
            code_hash: Some(code_hash.clone()),
            scope: "openid".into(),
            created_at: now,
            expires_at: now + 60,
            revoked_at: None,
            family_id: Some(family.clone()),
            claims: None,
            signing_kid: None,
        },
        refresh: Some(RefreshToken {
            token_hash: token::digest(&format!("refresh {n}")),
            family_id: family.clone(),
            client_id: client.client_id.clone(),
            identity_id: identity.id.clone(),
            session_id: None,
            scope: "openid".into(),
            auth_time: now,
            acr: "urn:etupass:acr:password".into(),
            amr: vec!["pwd".into()],
            created_at: now,
            idle_expires_at: now + 600,
            expires_at: now + 600,
            used_at: None,
            revoked_at: None,
            claims: None,
        }),
    };
    // The code is spent and both tokens saved in one transaction: no replay can fall
    // between the access token and the refresh token any more.
    let first = app
        .store
        .redeem_authorization_code(&code_hash, &client.client_id, tokens("1"), now)
        .await
        .unwrap();
    assert!(matches!(first, CodeRedemption::Redeemed));
    // A racing redemption that passed its checks before the spend loses, and its own
    // tokens are never saved.
    let late = app
        .store
        .redeem_authorization_code(&code_hash, &client.client_id, tokens("2"), now)
        .await
        .unwrap();
    assert!(matches!(
        late,
        CodeRedemption::Replayed { revoked_tokens: 1 }
    ));
    let refresh = app
        .store
        .find_refresh_token(&token::digest("refresh 1"))
        .await
        .unwrap()
        .expect("the winner's refresh token was saved");
    assert!(refresh.revoked_at.is_some(), "and revoked by the replay");
    assert!(app
        .store
        .find_refresh_token(&token::digest("refresh 2"))
        .await
        .unwrap()
        .is_none());
    assert!(app
        .store
        .find_access_token(&token::digest("access 2"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_leave_no_token_standing() {
    let app = TestApp::spawn().await;
    app.add_identity("21900030").await;
    let client = app
        .add_client(ClientOptions {
            grant_types: vec![
                etupass::domain::client::GrantType::AuthorizationCode,
                etupass::domain::client::GrantType::RefreshToken,
            ],
            ..ClientOptions::default()
        })
        .await;
    let secret = client.client_secret.clone().unwrap();
    for _ in 0..3 {
        let (auth, redirect) = code_for(&app, &client, "21900030").await;
        let code = redirect.param("code").unwrap();
        let verifier = auth.verifier.as_ref().unwrap().secret().clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        let basic = Some((client.client_id.as_str(), secret.as_str()));
        let answers =
            futures_util::future::join_all((0..6).map(|_| post_token(&app, &form, basic))).await;
        let winners: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
        assert_eq!(winners.len(), 1, "exactly one redemption wins");
        assert!(answers
            .iter()
            .all(|(s, b, _)| *s == 200 || b["error"] == "invalid_grant"));
        let body = &winners[0].1;
        // Every loser was a replay: whatever the interleaving, nothing stays valid.
        let refresh = body["refresh_token"].as_str().expect("a refresh token");
        let (status, _, _) = post_token(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            basic,
        )
        .await;
        assert_eq!(status, 400, "the refresh token went with the replay");
        let userinfo = reqwest::Client::new()
            .get(app.url("/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 401);
    }
}

#[tokio::test]
async fn a_request_without_the_verifier_or_with_another_redirect_uri_does_not_burn_the_code() {
    let app = TestApp::spawn().await;
    app.add_identity("21900031").await;
    let client = app
        .add_client(ClientOptions {
            public: true,
            ..ClientOptions::default()
        })
        .await;
    let (auth, redirect) = code_for(&app, &client, "21900031").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let client_id = client.client_id.as_str();
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
            (
                "code_verifier",
                "a-wrong-verifier-a-wrong-verifier-a-wrong-verifier-0123",
            ),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ],
    ] {
        let (status, body, _) = post_token(&app, &form, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let right = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body, _) = post_token(&app, &right, None).await;
    assert_eq!(status, 200, "the real client still redeems it: {body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    // A true replay is still a replay, and revokes.
    let (status, body, _) = post_token(&app, &right, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let userinfo = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
}

#[tokio::test]
async fn a_spent_code_without_its_verifier_revokes_nothing() {
    let app = TestApp::spawn().await;
    app.add_identity("21900032").await;
    let client = app
        .add_client(ClientOptions {
            public: true,
            ..ClientOptions::default()
        })
        .await;
    let (auth, redirect) = code_for(&app, &client, "21900032").await;
    let code = redirect.param("code").unwrap();
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let with_verifier = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body, _) = post_token(&app, &with_verifier, None).await;
    assert_eq!(status, 200);
    let access = body["access_token"].as_str().unwrap().to_string();
    let userinfo = |token: String| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .get(app.url("/userinfo"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Someone who found the used code (a log, a history) but lacks the verifier.
    let (status, _, _) = post_token(&app, &with_verifier[..4], None).await;
    assert_eq!(status, 400);
    assert_eq!(userinfo(access.clone()).await, 200, "the grant stands");
    // The real client's own replay still revokes.
    let (status, _, _) = post_token(&app, &with_verifier, None).await;
    assert_eq!(status, 400);
    assert_eq!(userinfo(access).await, 401);
}
