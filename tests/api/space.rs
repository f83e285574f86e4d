//! The personal space (`/account`): the overview with recent sign-ins, connected
//! applications, sessions, and the password change.

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, form_field, Browser, Landing};

const NUMBER: &str = "21900400";
const STRONG: &str = "Seven violet lanterns drift over the quiet harbour";

/// Signs in through /account and returns the page.
async fn open_account(app: &TestApp, browser: &Browser, password: &str) -> String {
    let sign_in = browser.open(&app.url("/account")).await;
    assert!(
        sign_in.contains("name=\"password\""),
        "signing in comes first"
    );
    let back = browser
        .sign_in(app, &sign_in, NUMBER, password)
        .await
        .redirect();
    assert_eq!(back.location.path(), "/account");
    browser.open(back.location.as_str()).await
}

#[tokio::test]
async fn the_overview_shows_the_account_and_every_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let sign_in = browser.open(&app.url("/account")).await;
    let (status, again) = browser
        .sign_in(&app, &sign_in, NUMBER, "not my password")
        .await
        .page();
    assert_eq!(status, 401);
    let back = browser
        .sign_in(&app, &again, NUMBER, PASSWORD)
        .await
        .redirect();
    let page = browser.open(back.location.as_str()).await;
    assert!(page.contains(NUMBER));
    assert!(page.contains("21900400@personal.example"));
    assert!(page.contains("student"));
    assert!(page.contains("actif"));
    assert!(
        page.contains("mot de passe erroné"),
        "the failed attempt is listed"
    );
    assert!(page.contains("127.0.0.1"));
    assert!(
        page.contains("ce navigateur"),
        "the current session is marked"
    );
    // Without a session, the page is the sign-in form, never the data.
    let stranger = Browser::new().open(&app.url("/account")).await;
    assert!(!stranger.contains("21900400@personal.example"));
}

#[tokio::test]
async fn disconnecting_an_application_revokes_its_tokens_and_consent() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let client = app.add_client(ClientOptions::default()).await;
    let browser = Browser::new();
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let redirect = browser.authorize(&app, &auth.url, NUMBER, PASSWORD).await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let access_token = rp::access_token(&signed_in.tokens).secret().clone();

    let page = browser.open(&app.url("/account")).await;
    assert!(page.contains("Test RP"), "{page}");
    let back = browser
        .submit(
            &app,
            &page,
            "/account/apps/disconnect",
            &[("client_id", &client.client_id)],
        )
        .await
        .redirect();
    assert_eq!(back.location.path(), "/account");
    let page = browser.open(&app.url("/account")).await;
    assert!(!page.contains("Test RP"));
    let userinfo = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status().as_u16(), 401, "the token was revoked");
    // The next sign-in to it asks for consent again.
    let auth = rp::authorization(&oidc, &["profile"], true);
    let (_, html) = browser.get(auth.url.as_str()).await.page();
    assert!(html.contains("name=\"decision\""));
}

#[tokio::test]
async fn other_sessions_can_be_ended_but_not_someone_elses() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    app.add_identity("21900401").await;
    let (laptop, phone) = (Browser::new(), Browser::new());
    open_account(&app, &phone, PASSWORD).await;
    let page = open_account(&app, &laptop, PASSWORD).await;
    // Someone else's session, named in the form, is left alone.
    let other_person = Browser::new();
    let sign_in = other_person.open(&app.url("/account")).await;
    other_person
        .sign_in(&app, &sign_in, "21900401", PASSWORD)
        .await;
    let theirs = app
        .store
        .live_session_ids(
            &app.store
                .find_identity_by_number(
                    &etupass::domain::identity::StudentNumber::parse("21900401").unwrap(),
                )
                .await
                .unwrap()
                .unwrap()
                .id,
            etupass::domain::clock::Clock::now(&app.clock),
        )
        .await
        .unwrap();
    laptop
        .submit(
            &app,
            &page,
            "/account/sessions/end",
            &[("session_id", &theirs[0])],
        )
        .await;
    assert!(other_person
        .open(&app.url("/account"))
        .await
        .contains("21900401"));

    assert!(page.contains("Fermer toutes les autres sessions"));
    let landing = laptop
        .submit(&app, &page, "/account/sessions/end", &[])
        .await;
    assert!(matches!(landing, Landing::Redirect(_)));
    let phone_page = phone.open(&app.url("/account")).await;
    assert!(
        phone_page.contains("name=\"password\""),
        "the phone is signed out"
    );
    let laptop_page = laptop.open(&app.url("/account")).await;
    assert!(laptop_page.contains(NUMBER), "this browser stays signed in");
    // A form without its CSRF token does nothing.
    let (status, _) = laptop
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf_token", "forged")],
        )
        .await
        .page();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_password_changes_with_the_current_one_and_the_policy() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let (laptop, phone) = (Browser::new(), Browser::new());
    open_account(&app, &phone, PASSWORD).await;
    let page = open_account(&app, &laptop, PASSWORD).await;
    let change = |current: &'static str, new: &'static str| {
        let laptop = &laptop;
        let app = &app;
        let page = page.clone();
        async move {
            laptop
                .submit(
                    app,
                    &page,
                    "/account/password",
                    &[
                        ("current_password", current),
                        ("password", new),
                        ("confirmation", new),
                    ],
                )
                .await
                .page()
        }
    };
    let (status, html) = change("wrong current password", STRONG).await;
    assert_eq!(status, 400);
    assert!(html.contains("le mot de passe actuel est erroné"), "{html}");
    let (status, html) = change(PASSWORD, "short").await;
    assert_eq!(status, 400);
    assert!(html.contains("trop court"), "{html}");
    let (status, html) = change(PASSWORD, STRONG).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Votre mot de passe a été changé"));
    app.mailbox
        .wait_for("21900400@personal.example", "mot de passe")
        .await;
    assert!(phone
        .open(&app.url("/account"))
        .await
        .contains("name=\"password\""));
    // The new password signs in; the old one no longer does.
    let fresh = Browser::new();
    let sign_in = fresh.open(&app.url("/account")).await;
    let (status, again) = fresh.sign_in(&app, &sign_in, NUMBER, PASSWORD).await.page();
    assert_eq!(status, 401);
    assert!(form_field(&again, "csrf_token").is_some());
    fresh.sign_in(&app, &again, NUMBER, STRONG).await.redirect();
}

#[tokio::test]
async fn contact_details_are_checked_then_saved() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let page = open_account(&app, &browser, PASSWORD).await;
    let (status, html) = browser
        .submit(
            &app,
            &page,
            "/account/contact",
            &[
                ("phone", "call me maybe"),
                ("postal_address", "1 rue X"),
                ("keep_in_touch_email", "alice@"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(html.contains("le numéro de téléphone n"), "{html}");
    assert!(html.contains("garder le contact n"), "{html}");
    let number = etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap();
    let before = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        before.postal_address, None,
        "nothing saved while anything is refused"
    );

    let back = browser
        .submit(
            &app,
            &page,
            "/account/contact",
            &[
                ("phone", "+33 6 12 34 56 78"),
                ("postal_address", "12 rue des Écoles\r\n75005 Paris"),
                ("keep_in_touch_email", "alice.martin@example.org"),
            ],
        )
        .await
        .redirect();
    assert_eq!(back.location.path(), "/account");
    let after = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.phone.as_deref(), Some("+33 6 12 34 56 78"));
    assert_eq!(
        after.postal_address.as_deref(),
        Some("12 rue des Écoles\n75005 Paris")
    );
    assert_eq!(
        after.keep_in_touch_email.as_deref(),
        Some("alice.martin@example.org")
    );
    let page = browser.open(&app.url("/account")).await;
    assert!(page.contains("alice.martin@example.org"));
    // Emptying a field removes it.
    let back = browser
        .submit(
            &app,
            &page,
            "/account/contact",
            &[
                ("phone", ""),
                ("postal_address", ""),
                ("keep_in_touch_email", ""),
            ],
        )
        .await
        .redirect();
    assert_eq!(back.location.path(), "/account");
    let cleared = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cleared.phone, cleared.postal_address), (None, None));
}

#[tokio::test]
async fn a_new_personal_address_counts_once_confirmed_and_the_old_one_is_told() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let page = open_account(&app, &browser, PASSWORD).await;
    for (typed, refusal) in [
        ("not an address", "n&#x27;est pas une adresse"),
        ("21900400@personal.example", "c&#x27;est déjà votre adresse"),
    ] {
        let (status, html) = browser
            .submit(
                &app,
                &page,
                "/account/email",
                &[("current_password", PASSWORD), ("personal_email", typed)],
            )
            .await
            .page();
        assert_eq!(status, 400, "{typed}");
        assert!(html.contains(refusal), "{typed}: {html}");
    }
    let (status, html) = browser
        .submit(
            &app,
            &page,
            "/account/email",
            &[
                ("current_password", "not my password"),
                ("personal_email", "alice@evil.example"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400, "the current password is required");
    assert!(html.contains("le mot de passe actuel est erroné"));
    let (status, html) = browser
        .submit(
            &app,
            &page,
            "/account/email",
            &[
                ("current_password", PASSWORD),
                ("personal_email", "Alice.New@Example.org"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        html.contains("Un lien de confirmation a été envoyé"),
        "{html}"
    );
    let notice = app
        .mailbox
        .wait_for("21900400@personal.example", "alice.new@example.org")
        .await;
    assert!(
        notice.link_token("/account/email/confirm").is_none(),
        "the old address gets no link"
    );
    let mail = app
        .mailbox
        .wait_for("alice.new@example.org", "/account/email/confirm?token=")
        .await;
    let token = mail.link_token("/account/email/confirm").unwrap();
    let number = etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap();
    let unchanged = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unchanged.personal_email.as_deref(),
        Some("21900400@personal.example")
    );

    // Following the link shows a button; only the button changes the address.
    let reader = Browser::new();
    let confirm = reader
        .open(&app.url(&format!("/account/email/confirm?token={token}")))
        .await;
    let (status, done) = reader
        .submit(
            &app,
            &confirm,
            "/account/email/confirm",
            &[("token", &token)],
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        done.contains("Votre adresse personnelle a été changée"),
        "{done}"
    );
    let changed = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        changed.personal_email.as_deref(),
        Some("alice.new@example.org")
    );
    // Once only.
    let (status, _) = reader
        .get(&app.url(&format!("/account/email/confirm?token={token}")))
        .await
        .page();
    assert_eq!(status, 410);
    let (status, _) = reader
        .submit(
            &app,
            &confirm,
            "/account/email/confirm",
            &[("token", &token)],
        )
        .await
        .page();
    assert_eq!(status, 410);
    let (status, _) = reader
        .submit(
            &app,
            &confirm,
            "/account/email/confirm",
            &[("token", "made-up")],
        )
        .await
        .page();
    assert_eq!(status, 410);
}

#[tokio::test]
async fn other_systems_push_attributes_shown_as_tiles_and_released_to_chosen_clients() {
    use etupass::domain::client::GrantType;
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let printing = app
        .add_client(ClientOptions {
            grant_types: vec![GrantType::ClientCredentials],
            attribute_writer: true,
            ..ClientOptions::default()
        })
        .await;
    let curious = app
        .add_client(ClientOptions {
            grant_types: vec![GrantType::ClientCredentials],
            ..ClientOptions::default()
        })
        .await;
    let http = reqwest::Client::new();
    let service_token = |client: crate::helpers::TestClient, scope: &'static str| {
        let http = http.clone();
        let url = app.url("/token");
        async move {
            let response = http
                .post(url)
                .basic_auth(&client.client_id, client.client_secret.as_deref())
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = service_token(curious.clone(), "etupass:attributes").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "not a writer"
    );
    let (_, plain) = service_token(curious, "").await;
    let (status, body) = service_token(printing.clone(), "etupass:attributes").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "etupass:attributes");
    let writer = body["access_token"].as_str().unwrap().to_string();

    let put = |token: String, name: &'static str, body: serde_json::Value| {
        let http = http.clone();
        let url = app.url(&format!("/api/attributes/{NUMBER}/{name}"));
        async move {
            let response = http
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    let credit = serde_json::json!({"label": "Crédit d'impression", "value": "12,40 €", "link": "https://print.univ.example/"});
    assert_eq!(
        put(
            plain["access_token"].as_str().unwrap().to_string(),
            "print_credit",
            credit.clone()
        )
        .await,
        403
    );
    assert_eq!(
        put("garbage".into(), "print_credit", credit.clone()).await,
        401
    );
    assert_eq!(
        put(writer.clone(), "Print Credit", credit.clone()).await,
        400
    );
    assert_eq!(
        put(
            writer.clone(),
            "print_credit",
            serde_json::json!({"label": "x", "value": "y", "link": "javascript:alert(1)"})
        )
        .await,
        400
    );
    assert_eq!(put(writer.clone(), "print_credit", credit).await, 200);
    assert_eq!(
        put(
            writer.clone(),
            "exam_results",
            serde_json::json!({"label": "Résultats", "value": "S5 publiés"})
        )
        .await,
        200
    );

    // The person sees them as tiles.
    let browser = Browser::new();
    let page = open_account(&app, &browser, PASSWORD).await;
    assert!(
        page.contains("12,40 €") && page.contains("S5 publiés"),
        "{page}"
    );
    assert!(page.contains("https://print.univ.example/"));

    // A relying party chosen for print_credit receives it, and only it, under `etupass`.
    let lms = app
        .add_client(ClientOptions {
            first_party: true,
            released_attributes: vec!["print_credit".into()],
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &lms).await;
    let auth = rp::authorization(&oidc, &["etupass"], true);
    let redirect = browser.authorize(&app, &auth.url, NUMBER, PASSWORD).await;
    let signed_in = rp::exchange(&oidc, &lms, auth, &redirect).await;
    let info: serde_json::Value = http
        .get(app.url("/userinfo"))
        .bearer_auth(rp::access_token(&signed_in.tokens).secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["etupass_attributes"]["print_credit"]["value"],
        "12,40 €"
    );
    assert!(info["etupass_attributes"].get("exam_results").is_none());

    // Removing one.
    let gone = http
        .delete(app.url(&format!("/api/attributes/{NUMBER}/exam_results")))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 204);
    let again = http
        .delete(app.url(&format!("/api/attributes/{NUMBER}/exam_results")))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404);
}

#[tokio::test]
async fn address_change_mails_cannot_flood_mailboxes() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let page = open_account(&app, &browser, PASSWORD).await;
    let mut statuses = Vec::new();
    for n in 0..8 {
        let address = format!("target{n}@example.org");
        let (status, html) = browser
            .submit(
                &app,
                &page,
                "/account/email",
                &[("current_password", PASSWORD), ("personal_email", &address)],
            )
            .await
            .page();
        statuses.push((status, html.contains("Trop de tentatives")));
    }
    assert_eq!(statuses[0], (200, false));
    assert_eq!(statuses[7], (400, true), "{statuses:?}");
}

/// Signs in to a relying party that gets refresh tokens; its access and refresh tokens.
async fn connect_application(app: &TestApp, browser: &Browser) -> (String, String) {
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            grant_types: vec![
                etupass::domain::client::GrantType::AuthorizationCode,
                etupass::domain::client::GrantType::RefreshToken,
            ],
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(app, &client).await;
    let auth = rp::authorization(&oidc, &["profile", "offline_access"], true);
    let redirect = browser.authorize(app, &auth.url, NUMBER, PASSWORD).await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    use openidconnect::OAuth2TokenResponse;
    let refresh = signed_in
        .tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    (
        rp::access_token(&signed_in.tokens).secret().clone(),
        refresh,
    )
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_password_change_ends_what_the_old_password_opened_unless_the_person_keeps_it() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let (access, _) = connect_application(&app, &browser).await;
    let page = browser.open(&app.url("/account")).await;
    // First with the box ticked: applications stay connected.
    let (status, html) = browser
        .submit(
            &app,
            &page,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", STRONG),
                ("confirmation", STRONG),
                ("keep_access", "yes"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200, "{html}");
    assert_eq!(userinfo_status(&app, &access).await, 200, "kept on request");

    // By default (the box unticked), everything issued before the change ends.
    let stolen = Browser::new();
    let page = open_account(&app, &stolen, STRONG).await;
    let wifi = crate::app_passwords::create_signed_in(&app, &stolen, &page, "Laptop", "wifi").await;
    let (status, html) = browser
        .submit(
            &app,
            &browser.open(&app.url("/account")).await,
            "/account/password",
            &[
                ("current_password", STRONG),
                ("password", "Nine amber foxes sleep beneath the winter oak"),
                (
                    "confirmation",
                    "Nine amber foxes sleep beneath the winter oak",
                ),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "the access token"
    );
    let number = etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap();
    let identity = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    let app_passwords = app.store.app_passwords(&identity.id).await.unwrap();
    assert!(
        app_passwords.is_empty(),
        "the app password {wifi} is revoked"
    );
    assert!(
        stolen
            .open(&app.url("/account"))
            .await
            .contains("name=\"username\""),
        "the other browser is signed out"
    );
    assert!(
        browser.open(&app.url("/account")).await.contains(NUMBER),
        "this one stays"
    );
}

#[tokio::test]
async fn a_password_change_revokes_refresh_tokens_by_default() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    let (_, refresh) = connect_application(&app, &browser).await;
    let page = browser.open(&app.url("/account")).await;
    let (status, _) = browser
        .submit(
            &app,
            &page,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", STRONG),
                ("confirmation", STRONG),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    let revoked_at = app
        .store
        .find_refresh_token(&etupass::crypto::token::digest(&refresh))
        .await
        .unwrap()
        .expect("the refresh token row")
        .revoked_at;
    assert!(revoked_at.is_some(), "the refresh token is revoked");
}
