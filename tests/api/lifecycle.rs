//! The life of an account, end to end through real mail: import → activation with the
//! charter → sign-in → forgotten password → forgotten number → identity theft → recovery.

use etupass::domain::clock::Clock;
use openidconnect::OAuth2TokenResponse;

use crate::helpers::{etupass, ClientOptions, TestApp, TestClient};
use crate::rp::{self, Browser, Landing};

const PERSONAL: &str = "elodie@perso.example";
const NUMBER: &str = "21904242";
const FIRST: &str = "Violet piano marches under seven quiet lanterns";
const SECOND: &str = "Orange kettles whistle beside nine sleepy harbours";
const THIRD: &str = "Granite owls juggle twelve purple umbrellas slowly";

pub const CSV: &str = "\u{feff}nom;prenom;date_naissance;affiliation;mail_perso;numero\r\n\
Le Fèvre;Élodie;2004-05-17;student;elodie@perso.example;21904242\r\n\
Martin;Paul;2004-02-30;student;paul@perso.example;\r\n\
Durand;Zoé;09/11/2003;student,staff;zoe@perso.example;\r\n";

/// Signs in through a relying party; returns the token response (panics on failure).
async fn sign_in(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    password: &str,
) -> openidconnect::core::CoreTokenResponse {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let redirect = browser.authorize(app, &auth.url, NUMBER, password).await;
    rp::exchange(&oidc, client, auth, &redirect).await.tokens
}

/// Tries to sign in and returns the status of the sign-in form's answer.
async fn sign_in_status(app: &TestApp, client: &TestClient, password: &str) -> u16 {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let browser = Browser::new();
    let page = browser.open(auth.url.as_str()).await;
    match browser.sign_in(app, &page, NUMBER, password).await {
        Landing::Page(status, _) => status,
        Landing::Redirect(_) => 303,
    }
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_life_of_an_account() {
    let app = TestApp::spawn().await;
    app.store
        .publish_charter(
            "Charte informatique v1 : usage loyal des ressources.".into(),
            app.clock.now(),
        )
        .await
        .unwrap();
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;

    // Enrollment: good rows imported, the bad one reported with its line.
    let file = app.dir.path().join("inscriptions.csv");
    std::fs::write(&file, CSV).unwrap();
    let output = etupass(&app, &["identity", "import", file.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected"),
        "{stdout}"
    );
    assert!(stderr.contains("line 3: birth_date"), "{stderr}");
    let again = etupass(&app, &["identity", "import", file.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 0 updated, 2 unchanged"));

    // Activation: nothing before the delay, then one mail with a link.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.mailbox.count_for(PERSONAL),
        0,
        "the activation mail waits a day"
    );
    // The import ran a moment after the server started, on the system clock: leave margin.
    app.clock.advance(24 * 3600 + 120);
    let mail = app.mailbox.wait_for(PERSONAL, "/activate?token=").await;
    assert!(mail.text.contains(NUMBER));
    let token = mail.link_token("/activate").unwrap();
    let browser = Browser::new();
    let activation_url = app.url(&format!("/activate?token={token}"));
    let page = browser.open(&activation_url).await;
    assert!(page.contains(NUMBER) && page.contains("Charte informatique v1"));
    let fields = |password: &'static str, accept: bool| {
        let mut f = vec![
            ("token", token.clone()),
            ("password", password.to_string()),
            ("confirmation", password.to_string()),
        ];
        if accept {
            f.push(("accept_charter", "yes".into()));
        }
        f
    };
    let post = |f: Vec<(&'static str, String)>| {
        let page = page.clone();
        let browser = &browser;
        let app = &app;
        async move {
            let borrowed: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser
                .submit(app, &page, "/activate", &borrowed)
                .await
                .page()
        }
    };
    let (status, html) = post(fields("court", true)).await;
    assert_eq!(status, 400);
    assert!(html.contains("trop court"), "the refusal says why");
    let (status, html) = post(fields("lefevre2004-05-17 is my password", true)).await;
    assert_eq!(status, 400);
    assert!(html.contains("contient votre nom"), "{html}");
    let (status, html) = post(fields(FIRST, false)).await;
    assert_eq!(status, 400);
    assert!(html.contains("accepter la charte"));
    let (status, html) = post(fields(FIRST, true)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Votre compte est activé"));
    let (status, html) = browser.get(&activation_url).await.page();
    assert_eq!(status, 410);
    assert!(html.contains("déjà été utilisé"));

    // Sign-in through the relying party.
    let tokens = sign_in(&app, &client, &browser, FIRST).await;
    let first_access = tokens.access_token().secret().clone();
    assert_eq!(userinfo_status(&app, &first_access).await, 200);

    // Forgotten password: a link, a new password, everything revoked, a notice mail.
    let mark = app.mailbox.mark();
    let forgot = browser.open(&app.url("/password/forgot")).await;
    let (status, html) = browser
        .submit(&app, &forgot, "/password/forgot", &[("username", NUMBER)])
        .await
        .page();
    assert_eq!(status, 200);
    assert!(html.contains("Si un compte correspond"));
    let mail = app
        .mailbox
        .wait_for_new(mark, PERSONAL, "/password/reset?token=")
        .await;
    let token = mail.link_token("/password/reset").unwrap();
    let reset = browser
        .open(&app.url(&format!("/password/reset?token={token}")))
        .await;
    let (status, html) = browser
        .submit(
            &app,
            &reset,
            "/password/reset",
            &[
                ("token", &token),
                ("password", SECOND),
                ("confirmation", SECOND),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200, "{html}");
    app.mailbox
        .wait_for_new(mark, PERSONAL, "être changé")
        .await;
    assert_eq!(
        userinfo_status(&app, &first_access).await,
        401,
        "tokens revoked by the reset"
    );
    let html = browser
        .open(
            rp::authorization(&rp::oidc_client(&app, &client).await, &[], true)
                .url
                .as_str(),
        )
        .await;
    assert!(
        html.contains("name=\"password\""),
        "the old session is gone"
    );
    assert_eq!(
        sign_in_status(&app, &client, FIRST).await,
        401,
        "the old password is refused"
    );
    let tokens = sign_in(&app, &client, &Browser::new(), SECOND).await;
    let second_access = tokens.access_token().secret().clone();

    // Forgotten number: mailed, never shown.
    let mark = app.mailbox.mark();
    let form = browser.open(&app.url("/number/forgot")).await;
    let (status, html) = browser
        .submit(
            &app,
            &form,
            "/number/forgot",
            &[
                ("family_name", "le fèvre"),
                ("given_names", "Élodie"),
                ("birth_date", "2004-05-17"),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        !html.contains(NUMBER),
        "the number is never shown on screen"
    );
    let mail = app.mailbox.wait_for_new(mark, PERSONAL, NUMBER).await;
    assert!(mail.text.contains("num"));

    // Identity theft: reported, confirmed by mail, the account locked at once.
    let mark = app.mailbox.mark();
    let form = browser.open(&app.url("/theft")).await;
    let (status, _) = browser
        .submit(&app, &form, "/theft", &[("username", NUMBER)])
        .await
        .page();
    assert_eq!(status, 200);
    let mail = app
        .mailbox
        .wait_for_new(mark, PERSONAL, "/theft/confirm?token=")
        .await;
    let token = mail.link_token("/theft/confirm").unwrap();
    let confirm = browser
        .open(&app.url(&format!("/theft/confirm?token={token}")))
        .await;
    assert_eq!(
        userinfo_status(&app, &second_access).await,
        200,
        "opening the link alone locks nothing"
    );
    let (status, html) = browser
        .submit(&app, &confirm, "/theft/confirm", &[("token", &token)])
        .await
        .page();
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        userinfo_status(&app, &second_access).await,
        401,
        "tokens revoked at once"
    );
    assert_eq!(
        sign_in_status(&app, &client, SECOND).await,
        403,
        "sign-in refused while suspended"
    );
    let alert = app
        .mailbox
        .wait_for_new(mark, "security@univ.example", NUMBER)
        .await;
    assert!(alert.text.contains("subject:"));
    let suspended = app
        .mailbox
        .wait_for_new(mark, PERSONAL, "/password/reset?token=")
        .await;
    let token = suspended.link_token("/password/reset").unwrap();

    // Recovery through the reset link.
    let reset = browser
        .open(&app.url(&format!("/password/reset?token={token}")))
        .await;
    let (status, _) = browser
        .submit(
            &app,
            &reset,
            "/password/reset",
            &[
                ("token", &token),
                ("password", THIRD),
                ("confirmation", THIRD),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200);
    sign_in(&app, &client, &Browser::new(), THIRD).await;

    // Every step is in the audit log.
    let output = etupass(&app, &["audit", "--number", NUMBER, "--limit", "100"], None);
    let log = String::from_utf8_lossy(&output.stdout);
    for event in [
        "activation",
        "charter_accepted",
        "sign_in",
        "sign_in_failed",
        "password_reset",
        "number_recovery",
        "theft_reported",
    ] {
        assert!(
            log.contains(&format!("\"event\":\"{event}\"")),
            "{event} missing from the audit log ({}):\n{log}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
