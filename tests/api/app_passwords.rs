//! App passwords: created in the personal space, checked by a service over
//! `/api/app-passwords/{purpose}/check`, and by a real Dovecot through its
//! `checkpassword` passdb (a script calling that endpoint) with an IMAP LOGIN.

use etupass::domain::app_password::Purpose;
use etupass::domain::client::GrantType;

use crate::helpers::{documented, etupass, ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{form_field, Browser};

pub(crate) const NUMBER: &str = "21900600";

/// Signs in to /account (as `NUMBER`) and creates an app password; returns it.
pub(crate) async fn create(app: &TestApp, browser: &Browser, name: &str, purpose: &str) -> String {
    let mut page = browser.open(&app.url("/account")).await;
    if page.contains("name=\"username\"") {
        let back = browser
            .sign_in(app, &page, NUMBER, PASSWORD)
            .await
            .redirect();
        page = browser.open(back.location.as_str()).await;
    }
    create_signed_in(app, browser, &page, name, purpose).await
}

/// Creates an app password from the personal space `page`, just signed in; returns it.
pub(crate) async fn create_signed_in(
    app: &TestApp,
    browser: &Browser,
    page: &str,
    name: &str,
    purpose: &str,
) -> String {
    let page = page.to_string();
    let (status, html) = browser
        .submit(
            app,
            &page,
            "/account/app-passwords",
            &[("name", name), ("purpose", purpose)],
        )
        .await
        .page();
    assert_eq!(status, 200, "{html}");
    let start = html.find("id=\"new-app-password\">").expect("shown once") + 22;
    html[start..start + 24].to_string()
}

async fn check(
    app: &TestApp,
    service: &TestClient,
    purpose: &str,
    user: &str,
    password: &str,
) -> u16 {
    check_from(app, service, purpose, user, password, "198.51.100.1").await
}

/// A check for a person connecting from `end_user` (as the service saw them).
async fn check_from(
    app: &TestApp,
    service: &TestClient,
    purpose: &str,
    user: &str,
    password: &str,
    end_user: &str,
) -> u16 {
    reqwest::Client::new()
        .post(app.url(&format!("/api/app-passwords/{purpose}/check")))
        .basic_auth(&service.client_id, service.client_secret.as_deref())
        .form(&[
            ("username", user),
            ("password", password),
            ("end_user", end_user),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A service an administrator allowed to check app passwords of both purposes.
fn service() -> ClientOptions {
    ClientOptions {
        grant_types: vec![GrantType::ClientCredentials],
        app_password_purposes: vec![Purpose::Mail, Purpose::Wifi],
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn app_passwords_work_once_per_purpose_and_never_the_account_password() {
    // Many refusals on one name below: throttling is tested at the end, not on the way.
    let app = TestApp::builder()
        .with_config(|s| s.throttle_account_free_attempts = 20)
        .spawn()
        .await;
    app.add_identity(NUMBER).await;
    let radius = app.add_client(service()).await;
    let browser = Browser::new();
    let wifi = create(&app, &browser, "Laptop wifi", "wifi").await;
    let mail = create(&app, &browser, "Phone mail", "mail").await;
    assert_ne!(wifi, mail);

    assert_eq!(check(&app, &radius, "wifi", NUMBER, &wifi).await, 200);
    // Another service, not marked by an administrator, learns nothing; nor does a
    // service marked for the other purpose.
    let other = app
        .add_client(ClientOptions {
            grant_types: vec![GrantType::ClientCredentials],
            ..ClientOptions::default()
        })
        .await;
    assert_eq!(check(&app, &other, "wifi", NUMBER, &wifi).await, 400);
    let mail_only = app
        .add_client(ClientOptions {
            app_password_purposes: vec![Purpose::Mail],
            ..service()
        })
        .await;
    assert_eq!(check(&app, &mail_only, "wifi", NUMBER, &wifi).await, 400);
    // Typed without dashes, in capitals, with the institutional address: still it.
    let identity = app
        .store
        .find_identity_by_number(&etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap())
        .await
        .unwrap()
        .unwrap();
    let email = identity.institutional_email.clone().unwrap();
    assert_eq!(
        check(
            &app,
            &radius,
            "wifi",
            &email,
            &wifi.replace('-', "").to_uppercase()
        )
        .await,
        200
    );
    for (purpose, password, why) in [
        ("wifi", mail.as_str(), "a mail password"),
        ("wifi", PASSWORD, "the account password"),
        ("wifi", "abcd-efgh-jkmn-pqrs-tuvw", "a wrong one"),
        ("mail", wifi.as_str(), "a wifi password"),
    ] {
        assert_eq!(
            check(&app, &radius, purpose, NUMBER, password).await,
            401,
            "{why}"
        );
    }
    assert_eq!(check(&app, &radius, "mail", NUMBER, &mail).await, 200);
    // The page says when each was last used.
    let page = browser.open(&app.url("/account")).await;
    assert!(page.contains("dernière utilisation"), "{page}");

    // Only an authenticated service may ask.
    let stranger = TestClient {
        client_secret: Some("guess".into()),
        ..radius.clone()
    };
    assert_eq!(check(&app, &stranger, "wifi", NUMBER, &wifi).await, 401);
    let public_app = app
        .add_client(ClientOptions {
            public: true,
            ..ClientOptions::default()
        })
        .await;
    assert_eq!(check(&app, &public_app, "wifi", NUMBER, &wifi).await, 401);

    // Revoked: refused.
    let page = browser.open(&app.url("/account")).await;
    let id_start = page.find("name=\"id\" value=\"").unwrap() + 17;
    let id = &page[id_start..id_start + 36];
    browser
        .submit(&app, &page, "/account/app-passwords/revoke", &[("id", id)])
        .await
        .redirect();
    let revoked_count = [
        check(&app, &radius, "wifi", NUMBER, &wifi).await,
        check(&app, &radius, "mail", NUMBER, &mail).await,
    ];
    assert!(
        revoked_count.contains(&401),
        "the revoked one is refused: {revoked_count:?}"
    );

    // Guessing is slowed down per account and end user: junk logins from one place make
    // that place wait, even with the right password, but not the owner elsewhere.
    let wifi_again = create(&app, &browser, "Tablet wifi", "wifi").await;
    assert_eq!(check(&app, &radius, "wifi", NUMBER, &wifi_again).await, 200);
    let junk = "abcd-efgh-jkmn-pqrs-tuvw";
    for _ in 0..25 {
        check_from(&app, &radius, "wifi", NUMBER, junk, "203.0.113.66").await;
    }
    assert_eq!(
        check_from(&app, &radius, "wifi", NUMBER, &wifi_again, "203.0.113.66").await,
        401,
        "the guessing address waits"
    );
    assert_eq!(
        check(&app, &radius, "wifi", NUMBER, &wifi_again).await,
        200,
        "the owner's own device is not switched off"
    );
    // Per account alone a higher ceiling holds, whatever addresses the guesses claim.
    for n in 0..40 {
        check_from(
            &app,
            &radius,
            "wifi",
            NUMBER,
            junk,
            &format!("203.0.113.{n}"),
        )
        .await;
    }
    assert_eq!(
        check_from(&app, &radius, "wifi", NUMBER, &wifi_again, "198.51.100.77").await,
        401,
        "past the account's ceiling, a place never seen before waits"
    );
    // …but not a place the owner used before: made-up station ids cannot switch the
    // owner's own devices off.
    assert_eq!(
        check(&app, &radius, "wifi", NUMBER, &wifi_again).await,
        200,
        "the owner's known device"
    );
    // Mail has a ceiling of its own: the wifi guesses did not switch the phone's mail off.
    let mail_again = create(&app, &browser, "Phone mail 2", "mail").await;
    assert_eq!(
        check_from(&app, &radius, "mail", NUMBER, &mail_again, "198.51.100.78").await,
        200
    );
    // A lock revokes every app password: unlocked later, the account has none left.
    assert!(etupass(&app, &["identity", "lock", NUMBER], None)
        .status
        .success());
    let number = etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap();
    let identity = app
        .store
        .find_identity_by_number(&number)
        .await
        .unwrap()
        .unwrap();
    assert!(app
        .store
        .app_passwords(&identity.id)
        .await
        .unwrap()
        .is_empty());
    assert!(form_field(&browser.open(&app.url("/account")).await, "csrf_token").is_some());
}

/// `a LOGIN user password` from the loopback address 127.0.0.<source>; true when logged in.
async fn imap_plain_login(port: u16, source: u8, user: &str, password: &str) -> bool {
    crate::dovecot::imap_try(port, source, &format!("a LOGIN \"{user}\" \"{password}\"")).await
}

#[tokio::test]
async fn dovecot_accepts_a_mail_app_password_with_imap_login() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let dovecot_client = app.add_client(service()).await;
    let dir = app.dir.path().join("dovecot");
    std::fs::create_dir_all(&dir).unwrap();
    // Dovecot's checkpassword protocol: "user\0password\0" on fd 3, exec the next program
    // on success. The script asks Etupass, authenticated as the Dovecot client.
    let script = dir.join("etupass-checkpassword");
    // The script of docs/relying-parties.md, as an administrator would install it.
    std::fs::write(
        &script,
        documented("dovecot-checkpassword")
            .replace(
                "DOVECOT_CLIENT_ID:DOVECOT_CLIENT_SECRET",
                &format!(
                    "{}:{}",
                    dovecot_client.client_id,
                    dovecot_client.client_secret.as_deref().unwrap()
                ),
            )
            .replace("https://id.univ.example", app.issuer.trim_end_matches('/')),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    let passdb = format!(
        "passdb {{\n  driver = checkpassword\n  args = {}\n}}\n",
        script.display()
    );
    let dovecot = crate::dovecot::launch_dovecot(&app, "plain login", &passdb).await;

    let browser = Browser::new();
    let mail = create(&app, &browser, "Phone mail", "mail").await;
    let wifi = create(&app, &browser, "Laptop wifi", "wifi").await;
    assert!(
        imap_plain_login(dovecot.port, 2, NUMBER, &mail).await,
        "the mail app password"
    );
    assert!(
        !imap_plain_login(dovecot.port, 3, NUMBER, &wifi).await,
        "a wifi app password"
    );
    assert!(
        !imap_plain_login(dovecot.port, 4, NUMBER, PASSWORD).await,
        "the account password"
    );
    assert!(
        !imap_plain_login(dovecot.port, 5, "21999999", &mail).await,
        "someone else"
    );
    // Junk logins from other addresses do not switch the owner's phone off: Dovecot
    // passes each client's address on, and the throttle counts per account and address.
    let junk = (10..18)
        .map(|source| imap_plain_login(dovecot.port, source, NUMBER, "abcd-efgh-jkmn-pqrs-tuvw"));
    for accepted in futures_util::future::join_all(junk).await {
        assert!(!accepted);
    }
    assert!(
        imap_plain_login(dovecot.port, 2, NUMBER, &mail).await,
        "the owner's phone still syncs"
    );
}

#[tokio::test]
async fn an_app_password_needs_a_recent_sign_in_or_the_password_and_is_mailed() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = Browser::new();
    create(&app, &browser, "Phone mail", "mail").await;
    app.mailbox
        .wait_for("21900600@personal.example", "Phone mail")
        .await;
    // A session left open for a while (a lab computer) no longer suffices.
    app.clock.advance(6 * 60);
    let page = browser.open(&app.url("/account")).await;
    let attempt = |current: &'static str| {
        let (browser, app, page) = (&browser, &app, page.clone());
        async move {
            browser
                .submit(
                    app,
                    &page,
                    "/account/app-passwords",
                    &[
                        ("name", "Tablet"),
                        ("purpose", "mail"),
                        ("current_password", current),
                    ],
                )
                .await
                .page()
        }
    };
    for current in ["", "not my password at all"] {
        let (status, html) = attempt(current).await;
        assert_eq!(status, 400, "{html}");
        assert!(!html.contains("id=\"new-app-password\""), "none created");
    }
    let (status, html) = attempt(PASSWORD).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"new-app-password\""));
    app.mailbox
        .wait_for("21900600@personal.example", "Tablet")
        .await;
}
