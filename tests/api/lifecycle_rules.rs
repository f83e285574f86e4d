//! The lifecycle's rules one by one: delivery survives a crash, no enumeration, links
//! expire, throttling slows guessing, gates stop the flow before the relying party.

use etupass::domain::clock::Clock;

use crate::helpers::{etupass, ClientOptions, TestApp, TestClient, PASSWORD};
use crate::lifecycle::CSV;
use crate::rp::{self, Browser, Landing};

const STRONG: &str = "Violet piano marches under seven quiet lanterns";

async fn post_form_page(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let browser = Browser::new();
    let page = browser.open(&app.url(path)).await;
    browser.submit(app, &page, path, fields).await.page()
}

#[tokio::test]
async fn mails_queued_during_an_smtp_outage_are_delivered_once_after_a_restart() {
    let app = TestApp::builder().with_smtp_down().spawn().await;
    app.add_identity("21900100").await;
    let (status, _) = post_form_page(&app, "/password/forgot", &[("username", "21900100")]).await;
    assert_eq!(status, 200, "the request is accepted while SMTP is down");
    for _ in 0..100 {
        if app.store.undelivered_mail_attempts().await.unwrap() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        app.store.undelivered_mail_attempts().await.unwrap() > 0,
        "a delivery was tried and failed"
    );
    assert_eq!(
        app.store.undelivered_mail_count().await.unwrap(),
        1,
        "the mail is kept"
    );

    let app = app.restart().await;
    app.clock.advance(3600);
    let mail = app
        .mailbox
        .wait_for("21900100@personal.example", "/password/reset?token=")
        .await;
    assert!(mail.link_token("/password/reset").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.mailbox.count_for("21900100@personal.example"),
        1,
        "delivered once"
    );
    assert_eq!(app.store.undelivered_mail_count().await.unwrap(), 0);
}

#[tokio::test]
async fn known_and_unknown_accounts_get_the_same_answers() {
    let app = TestApp::spawn().await;
    app.add_identity("21900101").await;
    for path in ["/password/forgot", "/theft"] {
        let known = [("username", "21900101")];
        let unknown = [("username", "29999999")];
        let (status_known, known_page) = post_form_page(&app, path, &known).await;
        let (status_unknown, unknown_page) = post_form_page(&app, path, &unknown).await;
        assert_eq!(status_known, status_unknown, "{path}");
        assert_eq!(known_page, unknown_page, "{path}: identical bodies");
    }
    let civil = |family: &'static str| {
        [
            ("family_name", family),
            ("given_names", "Élodie"),
            ("birth_date", "2004-05-17"),
        ]
    };
    let (_, known_page) = post_form_page(&app, "/number/forgot", &civil("Dupont")).await;
    let (_, unknown_page) = post_form_page(&app, "/number/forgot", &civil("Nobody")).await;
    assert_eq!(known_page, unknown_page, "number recovery answers the same");
    assert!(!known_page.contains("21900101"));
    app.mailbox
        .wait_for("21900101@personal.example", "21900101")
        .await;
    // A malformed date is said to be malformed, without looking anything up.
    let (status, page) = post_form_page(
        &app,
        "/number/forgot",
        &[
            ("family_name", "Dupont"),
            ("given_names", "Élodie"),
            ("birth_date", "17/05"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("AAAA-MM-JJ"));
}

#[tokio::test]
async fn expired_and_used_links_explain_themselves_and_offer_a_new_one() {
    let app = TestApp::spawn().await;
    app.add_identity("21900102").await;
    post_form_page(&app, "/password/forgot", &[("username", "21900102")]).await;
    let mail = app
        .mailbox
        .wait_for("21900102@personal.example", "/password/reset?token=")
        .await;
    let token = mail.link_token("/password/reset").unwrap();
    app.clock.advance(31 * 60);
    let (status, html) = Browser::new()
        .get(&app.url(&format!("/password/reset?token={token}")))
        .await
        .page();
    assert_eq!(status, 410);
    assert!(html.contains("a expiré") && html.contains("/password/forgot"));
    let (status, html) = Browser::new()
        .get(&app.url("/password/reset?token=forged"))
        .await
        .page();
    assert_eq!(status, 410);
    assert!(html.contains("inconnu"));

    // An expired activation link offers a new one (number + birth date).
    let file = app.dir.path().join("import.csv");
    std::fs::write(&file, CSV).unwrap();
    assert!(
        etupass(&app, &["identity", "import", file.to_str().unwrap()], None)
            .status
            .success()
    );
    // The import ran a moment after the server started, on the system clock: leave margin.
    app.clock.advance(24 * 3600 + 120);
    let mail = app
        .mailbox
        .wait_for("elodie@perso.example", "/activate?token=")
        .await;
    let token = mail.link_token("/activate").unwrap();
    app.clock.advance(8 * 24 * 3600);
    let browser = Browser::new();
    let (status, page) = browser
        .get(&app.url(&format!("/activate?token={token}")))
        .await
        .page();
    assert_eq!(status, 410);
    assert!(page.contains("/activate/resend"));
    let mark = app.mailbox.mark();
    let (status, wrong) = browser
        .submit(
            &app,
            &page,
            "/activate/resend",
            &[("number", "21904242"), ("birth_date", "2000-01-01")],
        )
        .await
        .page();
    assert_eq!(status, 200);
    let (_, right) = browser
        .submit(
            &app,
            &page,
            "/activate/resend",
            &[("number", "21904242"), ("birth_date", "2004-05-17")],
        )
        .await
        .page();
    assert_eq!(
        wrong, right,
        "the same answer whether the data match or not"
    );
    let fresh = app
        .mailbox
        .wait_for_new(mark, "elodie@perso.example", "/activate?token=")
        .await;
    assert_ne!(fresh.link_token("/activate").unwrap(), token);
    assert_eq!(
        app.mailbox.count_for("elodie@perso.example"),
        2,
        "one new link, for the matching data only"
    );
}

#[tokio::test]
async fn repeated_failures_slow_down_sign_in_without_locking_for_good() {
    let app = TestApp::spawn().await;
    app.add_identity("21900103").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let browser = Browser::new();
    let mut page = browser.open(auth.url.as_str()).await;
    for _ in 0..5 {
        let (status, html) = browser
            .sign_in(&app, &page, "21900103", "wrong guess")
            .await
            .page();
        assert_eq!(status, 401);
        page = html;
    }
    let (status, html) = browser
        .sign_in(&app, &page, "21900103", PASSWORD)
        .await
        .page();
    assert_eq!(
        status, 429,
        "even the right password waits while the delay runs"
    );
    assert!(html.contains("Trop de tentatives"));
    app.clock.advance(2);
    let landing = browser.sign_in(&app, &html, "21900103", PASSWORD).await;
    assert!(
        matches!(landing, Landing::Redirect(_)),
        "after the delay, the right password works"
    );
}

async fn signed_in_flow(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    password: &str,
) -> Landing {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let page = browser.open(auth.url.as_str()).await;
    browser.sign_in(app, &page, "21900104", password).await
}

#[tokio::test]
async fn a_new_charter_and_a_required_password_change_come_before_the_relying_party() {
    let app = TestApp::spawn().await;
    app.add_identity("21900104").await;
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
    let (status, charter) = signed_in_flow(&app, &client, &browser, PASSWORD)
        .await
        .page();
    assert_eq!(status, 200);
    assert!(charter.contains("Charte v2"));
    // Meanwhile a silent request cannot show the page: interaction_required.
    let oidc = rp::oidc_client(&app, &client).await;
    let mut silent = rp::authorization(&oidc, &[], true);
    silent.url.query_pairs_mut().append_pair("prompt", "none");
    let redirect = browser.get(silent.url.as_str()).await.redirect();
    assert_eq!(
        redirect.param("error").as_deref(),
        Some("interaction_required")
    );
    let version = rp::form_field(&charter, "version").unwrap();
    let request = rp::form_field(&charter, "request").unwrap();
    let (status, _) = browser
        .submit(
            &app,
            &charter,
            "/charter/accept",
            &[("request", &request), ("version", &version)],
        )
        .await
        .page();
    assert_eq!(status, 400, "the box must be ticked");
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
    assert!(
        redirect.param("code").is_some(),
        "then on to the relying party"
    );

    // An administrator requires a new password.
    let output = etupass(
        &app,
        &["identity", "require-password-change", "21900104"],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let browser = Browser::new();
    let (status, change) = signed_in_flow(&app, &client, &browser, PASSWORD)
        .await
        .page();
    assert_eq!(status, 200);
    assert!(change.contains("/password/change"));
    let request = rp::form_field(&change, "request").unwrap();
    let (status, refused) = browser
        .submit(
            &app,
            &change,
            "/password/change",
            &[
                ("request", &request),
                ("password", PASSWORD),
                ("confirmation", PASSWORD),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400, "the policy applies: {refused}");
    let redirect = browser
        .submit(
            &app,
            &change,
            "/password/change",
            &[
                ("request", &request),
                ("password", STRONG),
                ("confirmation", STRONG),
            ],
        )
        .await
        .redirect();
    assert!(redirect.param("code").is_some());
    app.mailbox
        .wait_for("21900104@personal.example", "être changé")
        .await;
    assert!(matches!(
        signed_in_flow(&app, &client, &Browser::new(), STRONG).await,
        Landing::Redirect(_)
    ));
}

#[tokio::test]
async fn strict_import_is_all_or_nothing_and_admins_lock_and_unlock() {
    let app = TestApp::spawn().await;
    let file = app.dir.path().join("strict.csv");
    std::fs::write(&file, CSV).unwrap();
    let output = etupass(
        &app,
        &["identity", "import", "--strict", file.to_str().unwrap()],
        None,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing imported"));
    assert!(
        etupass(&app, &["identity", "show", "21904242"], None)
            .status
            .code()
            != Some(0)
    );
    let missing = app.dir.path().join("missing.csv");
    std::fs::write(&missing, "nom;prenom\nA;B\n").unwrap();
    let output = etupass(
        &app,
        &["identity", "import", missing.to_str().unwrap()],
        None,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("birth_date"));

    app.add_identity("21900105").await;
    assert!(etupass(&app, &["identity", "lock", "21900105"], None)
        .status
        .success());
    let shown: serde_json::Value =
        serde_json::from_slice(&etupass(&app, &["identity", "show", "21900105"], None).stdout)
            .unwrap();
    assert_eq!(shown["status"], "suspended");
    assert!(etupass(&app, &["identity", "unlock", "21900105"], None)
        .status
        .success());
    let shown: serde_json::Value =
        serde_json::from_slice(&etupass(&app, &["identity", "show", "21900105"], None).stdout)
            .unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(
        shown["must_change_password"], true,
        "an unlocked account picks a new password"
    );
}

#[tokio::test]
async fn a_reset_link_cannot_reopen_an_account_an_administrator_locked() {
    let app = TestApp::spawn().await;
    app.add_identity("21900106").await;
    post_form_page(&app, "/password/forgot", &[("username", "21900106")]).await;
    let mail = app
        .mailbox
        .wait_for("21900106@personal.example", "/password/reset?token=")
        .await;
    let token = mail.link_token("/password/reset").unwrap();
    assert!(etupass(&app, &["identity", "lock", "21900106"], None)
        .status
        .success());
    let (status, _) = Browser::new()
        .get(&app.url(&format!("/password/reset?token={token}")))
        .await
        .page();
    assert_eq!(status, 410, "links sent before the lock are void");
    let before = app.mailbox.mark();
    post_form_page(&app, "/password/forgot", &[("username", "21900106")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        app.mailbox.mark(),
        before,
        "no reset link for a locked account"
    );
    let shown: serde_json::Value =
        serde_json::from_slice(&etupass(&app, &["identity", "show", "21900106"], None).stdout)
            .unwrap();
    assert_eq!(shown["status"], "suspended");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_a_password_cannot_be_changed_without_a_gate() {
    let app = TestApp::spawn().await;
    app.add_identity("21900107").await;
    let browser = Browser::new();
    let login = browser.open(&app.url("/login")).await;
    let landing = browser.sign_in(&app, &login, "21900107", PASSWORD).await;
    assert!(matches!(landing, Landing::Redirect(_)));
    let home = browser.open(&app.url("/")).await;
    assert!(home.contains("21900107") && home.contains("/logout"));

    // A session alone does not allow a password change: no gate is pending.
    let landing = browser
        .submit(
            &app,
            &home,
            "/password/change",
            &[
                ("request", ""),
                ("password", STRONG),
                ("confirmation", STRONG),
            ],
        )
        .await;
    assert!(
        matches!(landing, Landing::Redirect(_)),
        "ignored: straight back home"
    );
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let other = Browser::new();
    let page = other.open(auth.url.as_str()).await;
    assert!(
        matches!(
            other.sign_in(&app, &page, "21900107", PASSWORD).await,
            Landing::Redirect(_)
        ),
        "the old password still works"
    );

    let landing = browser.submit(&app, &home, "/logout", &[]).await;
    assert!(matches!(landing, Landing::Redirect(_)));
    let home = browser.open(&app.url("/")).await;
    assert!(!home.contains("21900107"), "signed out");
    let auth = rp::authorization(&oidc, &[], true);
    let page = browser.open(auth.url.as_str()).await;
    assert!(
        page.contains("name=\"password\""),
        "the next relying party asks for the password"
    );
}

#[tokio::test]
async fn the_mail_forms_do_the_accounts_work_after_answering_whoever_is_named() {
    let app = TestApp::spawn().await;
    app.add_identity("21900110").await;
    app.add_identity_with("21900111", "Martin", "Paul", None)
        .await; // awaiting activation
    for (page, path, known, unknown) in [
        (
            "/theft",
            "/theft",
            vec![("username", "21900110")],
            vec![("username", "21999110")],
        ),
        (
            "/password/forgot",
            "/password/forgot",
            vec![("username", "21900110")],
            vec![("username", "21999111")],
        ),
        (
            // The form of a new activation link is on the page of a dead link.
            "/activate?token=expired-or-unknown",
            "/activate/resend",
            vec![("number", "21900111"), ("birth_date", "2004-05-17")],
            vec![("number", "21999112"), ("birth_date", "2004-05-17")],
        ),
    ] {
        let mut answers = Vec::new();
        for fields in [&known, &unknown] {
            let queued = app.server.background.queued();
            let browser = Browser::new();
            let (_, form) = browser.get(&app.url(page)).await.page();
            let (status, html) = browser.submit(&app, &form, path, fields).await.page();
            // Whoever is named, the request queues the same one piece of work and
            // answers without waiting for it: its time cannot depend on the account.
            assert_eq!(app.server.background.queued(), queued + 1, "{path}");
            let csrf = crate::rp::form_field(&html, "csrf_token").unwrap_or_default();
            answers.push((status, html.replace(&csrf, "")));
        }
        assert_eq!(answers[0], answers[1], "{path}: the same answer");
    }
    app.server.background.idle().await;
    // The work was done for the real accounts only.
    app.mailbox
        .wait_for("21900110@personal.example", "/theft/confirm?token=")
        .await;
    app.mailbox
        .wait_for("21900110@personal.example", "/password/reset?token=")
        .await;
    app.mailbox
        .wait_for("21900111@personal.example", "/activate?token=")
        .await;
}
