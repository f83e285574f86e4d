//! What an authorization request can carry besides the basics: pushed requests
//! (RFC 9126), the `claims` parameter and `acr_values` (OIDC Core §5.5, §3.1.2.1), and
//! the claims of the `address` and `etupass` scopes; and per-client refresh lifetimes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use etupass::domain::client::{GrantType, RefreshLifetimes};
use serde_json::{json, Value};

use crate::helpers::{etupass, ClientOptions, TestApp, TestClient, PASSWORD, REDIRECT_URI};
use crate::rp::{Browser, Landing, Redirect};

async fn post_form(
    app: &TestApp,
    path: &str,
    client: Option<&TestClient>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(app.url(path)).form(form);
    if let Some(client) = client {
        request = request.basic_auth(&client.client_id, client.client_secret.as_deref());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn authorize_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}?{query}", app.url("/authorize"))
}

/// Follows the pages (sign-in, consent) to the redirect back to the client.
async fn through_pages(app: &TestApp, browser: &Browser, url: &str, number: &str) -> Redirect {
    let mut landing = browser.get(url).await;
    if let Landing::Page(200, html) = &landing {
        if html.contains("name=\"password\"") {
            landing = browser.sign_in(app, html, number, PASSWORD).await;
        }
    }
    if let Landing::Page(200, html) = &landing {
        if html.contains("name=\"decision\"") {
            landing = browser.consent(app, html, "allow").await;
        }
    }
    landing.redirect()
}

async fn redeem(app: &TestApp, client: &TestClient, redirect: &Redirect) -> Value {
    let code = redirect.param("code").expect("a code");
    let (status, body) = post_form(
        app,
        "/token",
        Some(client),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn first_party() -> ClientOptions {
    ClientOptions {
        first_party: true,
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn a_pushed_request_is_used_once_and_cannot_be_altered() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = app.add_client(first_party()).await;
    let pushed = [
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
    ];
    let (status, body) = post_form(&app, "/par", Some(&client), &pushed).await;
    assert_eq!(status, 201, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(body["expires_in"], 600);

    // Parameters sent beside the request_uri are ignored (RFC 9126 §4).
    let url = authorize_url(
        &app,
        &[
            ("client_id", &client.client_id),
            ("request_uri", &request_uri),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("state", "tampered"),
        ],
    );
    let browser = Browser::new();
    let redirect = through_pages(&app, &browser, &url, "21900001").await;
    assert!(redirect.location.as_str().starts_with(REDIRECT_URI));
    assert_eq!(redirect.param("state").as_deref(), Some("pushed-state"));
    let tokens = redeem(&app, &client, &redirect).await;
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "pushed-nonce");

    // Spent: the same request_uri gives an error page, never a second code.
    let (status, html) = browser.get(&url).await.page();
    assert_eq!(status, 400);
    assert!(html.contains("a expiré ou a déjà servi"), "{html}");

    // Another client cannot use a pushed request, even one not yet spent.
    let (_, body) = post_form(&app, "/par", Some(&client), &pushed).await;
    let fresh = body["request_uri"].as_str().unwrap();
    let other = app.add_client(first_party()).await;
    let url = authorize_url(
        &app,
        &[("client_id", &other.client_id), ("request_uri", fresh)],
    );
    assert_eq!(browser.get(&url).await.page().0, 400);
    // Nor does one outlive its lifetime.
    app.clock.advance(601);
    let url = authorize_url(
        &app,
        &[("client_id", &client.client_id), ("request_uri", fresh)],
    );
    assert_eq!(browser.get(&url).await.page().0, 400);
}

#[tokio::test]
async fn pushing_checks_the_request_and_the_client() {
    let app = TestApp::spawn().await;
    let client = app.add_client(first_party()).await;
    let id = client.client_id.as_str();
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
        ];
        for (name, value) in extra {
            form.retain(|(n, _)| n != name);
            form.push((name, value));
        }
        form
    };
    let (status, body) = post_form(&app, "/par", None, &base(&[])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let wrong_secret = TestClient {
        client_secret: Some("wrong".into()),
        ..client.clone()
    };
    assert_eq!(
        post_form(&app, "/par", Some(&wrong_secret), &base(&[]))
            .await
            .0,
        401
    );
    for (extra, error) in [
        (
            vec![("redirect_uri", "http://127.0.0.1:9/unregistered")],
            "invalid_request",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (vec![("scope", "profile")], "invalid_scope"),
        (
            vec![
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (vec![("claims", "{not json")], "invalid_request"),
    ] {
        let (status, body) = post_form(&app, "/par", Some(&client), &base(&extra)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{extra:?}: {body}"
        );
    }
    // A client_id in the form must be the authenticated client.
    let mut form = base(&[]);
    form.push(("client_id", "someone-else"));
    assert_eq!(post_form(&app, "/par", Some(&client), &form).await.0, 401);
    // The request_uri of another provider, or a made-up one: an error page.
    let browser = Browser::new();
    for request_uri in [
        "https://rp.example/request.jwt",
        "urn:ietf:params:oauth:request_uri:made-up",
    ] {
        let url = authorize_url(&app, &[("client_id", id), ("request_uri", request_uri)]);
        assert_eq!(browser.get(&url).await.page().0, 400, "{request_uri}");
    }
}

#[tokio::test]
async fn a_client_that_requires_par_cannot_skip_it() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = app
        .add_client(ClientOptions {
            require_par: true,
            ..first_party()
        })
        .await;
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", "s"),
        ],
    );
    let redirect = Browser::new().get(&url).await.redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(redirect.param("state").as_deref(), Some("s"));
    // Pushed, it goes through.
    let (_, body) = post_form(
        &app,
        "/par",
        Some(&client),
        &[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
        ],
    )
    .await;
    let url = authorize_url(
        &app,
        &[
            ("client_id", &client.client_id),
            ("request_uri", body["request_uri"].as_str().unwrap()),
        ],
    );
    let redirect = through_pages(&app, &Browser::new(), &url, "21900001").await;
    assert!(redirect.param("code").is_some());
}

/// An active identity whose registrar record carries an address and groups.
async fn identity_with_address_and_groups(app: &TestApp, number: &str) {
    app.add_identity(number).await;
    let csv = app.dir.path().join("registrar.csv");
    std::fs::write(
        &csv,
        format!(
            "number;family_name;given_names;birth_date;affiliation;personal_email;adresse;groupes\n\
             {number};Martin;Alice;17/05/2004;student;{number}@personal.example;\"12 rue des Écoles / 75005 Paris\";L3-INFO|TD-2B\n"
        ),
    )
    .unwrap();
    let output = etupass(app, &["identity", "import", csv.to_str().unwrap()], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn address_and_groups_are_released_by_their_scopes() {
    let app = TestApp::spawn().await;
    identity_with_address_and_groups(&app, "21900001").await;
    let client = app.add_client(first_party()).await;
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid address etupass"),
        ],
    );
    let redirect = through_pages(&app, &Browser::new(), &url, "21900001").await;
    let tokens = redeem(&app, &client, &redirect).await;
    let info = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        info["address"]["formatted"],
        "12 rue des Écoles\n75005 Paris"
    );
    assert_eq!(info["groups"], json!(["L3-INFO", "TD-2B"]));
    assert_eq!(info["eduPersonAffiliation"], json!(["student"]));
    assert!(info.get("name").is_none(), "profile was not asked for");
    // Scope claims stay in userinfo unless asked for in the ID token.
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert!(id_token.get("groups").is_none());
}

#[tokio::test]
async fn the_claims_parameter_places_claims_and_needs_consent() {
    let app = TestApp::spawn().await;
    identity_with_address_and_groups(&app, "21900001").await;
    let client = app.add_client(ClientOptions::default()).await;
    let claims = json!({
        "id_token": {"groups": {"essential": true}, "given_name": null, "unknown_claim": null},
        "userinfo": {"address": null}
    })
    .to_string();
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("claims", &claims),
            ("ui_locales", "en"),
        ],
    );
    let browser = Browser::new();
    let page = browser.get(&url).await.page().1;
    let consent = browser
        .sign_in(&app, &page, "21900001", PASSWORD)
        .await
        .page()
        .1;
    // The consent page names what the claims asked for by name reveal.
    assert!(consent.contains("Your postal address"), "{consent}");
    assert!(consent.contains("Your name and student number"));
    assert!(consent.contains("groups"));
    let redirect = browser.consent(&app, &consent, "allow").await.redirect();
    let tokens = redeem(&app, &client, &redirect).await;
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["groups"], json!(["L3-INFO", "TD-2B"]));
    assert_eq!(id_token["given_name"], "Alice");
    assert!(id_token.get("unknown_claim").is_none());
    assert!(
        id_token.get("address").is_none(),
        "address was asked for in userinfo"
    );
    let info = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        info["address"]["formatted"],
        "12 rue des Écoles\n75005 Paris"
    );
    assert!(
        info.get("groups").is_none(),
        "groups was asked for in the ID token"
    );

    // The consent given covers the next request: no page this time.
    let redirect = through_pages(&app, &browser, &url, "21900001").await;
    assert!(redirect.param("code").is_some());
}

#[tokio::test]
async fn acr_requests_are_met_or_refused() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = app.add_client(first_party()).await;
    let request = |extra: (&'static str, String)| {
        authorize_url(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", &client.client_id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid"),
                (extra.0, &extra.1),
            ],
        )
    };
    let browser = Browser::new();
    let met = request((
        "acr_values",
        "urn:example:mfa urn:etupass:acr:password".into(),
    ));
    let redirect = through_pages(&app, &browser, &met, "21900001").await;
    let tokens = redeem(&app, &client, &redirect).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["acr"],
        "urn:etupass:acr:password"
    );

    // Voluntary and not available: answered with what the sign-in was.
    let voluntary = request(("acr_values", "urn:example:mfa".into()));
    let redirect = through_pages(&app, &browser, &voluntary, "21900001").await;
    assert!(redirect.param("code").is_some());

    // A claims request for another person's sub: this session may not answer.
    let someone_else = json!({"id_token": {"sub": {"value": "another-subject"}}}).to_string();
    let silent = format!("{}&prompt=none", request(("claims", someone_else)));
    let redirect = browser.get(&silent).await.redirect();
    assert_eq!(redirect.param("error").as_deref(), Some("login_required"));

    // Essential and not available: a failed authentication, told to the client.
    let essential =
        json!({"id_token": {"acr": {"essential": true, "values": ["urn:example:mfa"]}}});
    let redirect = through_pages(
        &app,
        &browser,
        &request(("claims", essential.to_string())),
        "21900001",
    )
    .await;
    assert_eq!(
        redirect.param("error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert!(redirect.param("code").is_none());
}

#[tokio::test]
async fn refresh_lifetimes_can_be_set_per_client() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let refreshing = |lifetimes| ClientOptions {
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        refresh_lifetimes: lifetimes,
        ..first_party()
    };
    let kiosk = app
        .add_client(refreshing(Some(RefreshLifetimes {
            idle: 300,
            absolute: 3600,
        })))
        .await;
    let webmail = app.add_client(refreshing(None)).await;
    let browser = Browser::new();
    let mut refresh_tokens = Vec::new();
    for client in [&kiosk, &webmail] {
        let url = authorize_url(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", &client.client_id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid offline_access"),
            ],
        );
        let redirect = through_pages(&app, &browser, &url, "21900001").await;
        let tokens = redeem(&app, client, &redirect).await;
        refresh_tokens.push(tokens["refresh_token"].as_str().unwrap().to_string());
    }
    app.clock.advance(600);
    let (status, body) = post_form(
        &app,
        "/token",
        Some(&kiosk),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_tokens[0]),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "idle for 10 minutes"
    );
    let (status, _) = post_form(
        &app,
        "/token",
        Some(&webmail),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_tokens[1]),
        ],
    )
    .await;
    assert_eq!(status, 200, "the default idle lifetime is two weeks");
}
