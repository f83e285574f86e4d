//! `etupass identity graduate`: students become alumni, keep their account and personal
//! address, and reach only the relying parties opened to alumni.

use etupass::domain::client::GrantType;
use serde_json::Value;

use crate::helpers::{etupass, ClientOptions, TestApp, TestClient, PASSWORD, REDIRECT_URI};
use crate::rp::{Browser, Landing};

fn refreshing(open_to_alumni: bool) -> ClientOptions {
    ClientOptions {
        first_party: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        open_to_alumni,
        ..ClientOptions::default()
    }
}

fn authorize_url(app: &TestApp, client: &TestClient) -> String {
    format!(
        "{}?response_type=code&client_id={}&redirect_uri={REDIRECT_URI}&scope=openid",
        app.url("/authorize"),
        client.client_id
    )
}

/// Through the sign-in page if needed, to the redirect back.
async fn authorize(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    number: &str,
) -> url::Url {
    let mut landing = browser.get(&authorize_url(app, client)).await;
    if let Landing::Page(200, html) = &landing {
        landing = browser.sign_in(app, html, number, PASSWORD).await;
    }
    landing.redirect().location
}

async fn token(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn refresh_token(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    number: &str,
) -> String {
    let back = authorize(app, browser, client, number).await;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let (_, body) = token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    body["refresh_token"].as_str().unwrap().to_string()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test]
async fn graduates_reach_only_the_services_open_to_alumni() {
    let app = TestApp::spawn().await;
    app.add_identity("21900500").await;
    let webmail = app.add_client(refreshing(false)).await;
    let alumni_portal = app.add_client(refreshing(true)).await;
    let browser = Browser::new();
    let webmail_refresh = refresh_token(&app, &browser, &webmail, "21900500").await;
    let portal_refresh = refresh_token(&app, &browser, &alumni_portal, "21900500").await;

    let report = stdout(&etupass(&app, &["identity", "graduate", "21900500"], None));
    assert_eq!(report, "1 graduated, 0 already alumni, 0 rejected");
    let shown: Value = serde_json::from_str(&stdout(&etupass(
        &app,
        &["identity", "show", "21900500"],
        None,
    )))
    .unwrap();
    assert_eq!(shown["affiliations"], serde_json::json!(["alumni"]));
    assert_eq!(shown["personal_email"], "21900500@personal.example", "kept");
    assert_eq!(shown["status"], "active");

    // The webmail's refresh token was revoked; the alumni portal's still works.
    let (status, body) = token(
        &app,
        &webmail,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &webmail_refresh),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = token(
        &app,
        &alumni_portal,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &portal_refresh),
        ],
    )
    .await;
    assert_eq!(status, 200);
    // A new sign-in: refused by the webmail, accepted by the portal.
    let back = authorize(&app, &browser, &webmail, "21900500").await;
    assert!(
        back.query().unwrap().contains("error=access_denied"),
        "{back}"
    );
    let back = authorize(&app, &browser, &alumni_portal, "21900500").await;
    assert!(back.query().unwrap().contains("code="), "{back}");

    let again = stdout(&etupass(&app, &["identity", "graduate", "21900500"], None));
    assert_eq!(again, "0 graduated, 1 already alumni, 0 rejected");
    let audit = stdout(&etupass(&app, &["audit", "--event", "graduated"], None));
    assert!(
        audit.contains("21900500") || audit.contains("alumni"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_graduates_file_reports_unknown_numbers_and_keeps_other_ties() {
    let app = TestApp::spawn().await;
    app.add_identity("21900501").await;
    app.add_identity("21900502").await;
    // A student who also works for the university stays staff.
    assert!(etupass(
        &app,
        &[
            "identity",
            "add",
            "--number",
            "21900503",
            "--family-name",
            "Moniteur",
            "--given-name",
            "Paul",
            "--birth-date",
            "2001-03-04",
            "--affiliation",
            "student,staff",
            "--password-stdin"
        ],
        Some(&format!("{PASSWORD}\n"))
    )
    .status
    .success());
    let file = app.dir.path().join("diplomes.csv");
    std::fs::write(
        &file,
        "Numéro;Nom\n21900501;Martin\n99999999;Inconnu\n21900503;Moniteur\n",
    )
    .unwrap();
    let output = etupass(
        &app,
        &["identity", "graduate", "--file", file.to_str().unwrap()],
        None,
    );
    assert_eq!(stdout(&output), "2 graduated, 0 already alumni, 1 rejected");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 3: no identity has number 99999999")
    );
    let staff: Value = serde_json::from_str(&stdout(&etupass(
        &app,
        &["identity", "show", "21900503"],
        None,
    )))
    .unwrap();
    assert_eq!(
        staff["affiliations"],
        serde_json::json!(["staff", "alumni"])
    );
    let untouched: Value = serde_json::from_str(&stdout(&etupass(
        &app,
        &["identity", "show", "21900502"],
        None,
    )))
    .unwrap();
    assert_eq!(untouched["affiliations"], serde_json::json!(["student"]));
    // Staff still reach the services closed to alumni.
    let webmail = app.add_client(refreshing(false)).await;
    let back = authorize(&app, &Browser::new(), &webmail, "21900503").await;
    assert!(back.query().unwrap().contains("code="), "{back}");
    // Nothing named: a one-line reason.
    let output = etupass(&app, &["identity", "graduate"], None);
    assert!(!output.status.success());
}
