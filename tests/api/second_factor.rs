//! Two-factor sign-in, with codes from `oathtool` (Debian's OATH Toolkit), an
//! authenticator that is not part of this repository: set-up with a QR code and a key,
//! the second step after the password, replays, recovery codes, turning it off, the
//! reset path, and requirements by affiliation and by relying party (`acr_values`).

use etupass::domain::clock::Clock;

use crate::helpers::{etupass, install_debian_packages, ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, form_field, Browser, Landing};

const NUMBER: &str = "21900500";
const MFA: &str = "urn:etupass:acr:mfa";

/// The code an authenticator app shows at `at` for the key printed on the set-up page.
fn authenticator_code(key: &str, at: i64) -> String {
    let present = std::process::Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    install_debian_packages(present, &["oathtool"]);
    let key: String = key.split_whitespace().collect();
    let output = std::process::Command::new("oathtool")
        .args(["--totp", "--base32", "--now", &format!("@{at}"), &key])
        .output()
        .expect("oathtool runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The text of the element with this id.
fn element_text(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start + id.len() + 6..];
    rest[..rest.find('<').unwrap()].to_string()
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .map(|part| part[..part.find("</code>").unwrap()].to_string())
        .collect()
}

/// Signs in to the personal space with the password only.
async fn signed_in_browser(app: &TestApp, number: &str) -> Browser {
    let browser = Browser::new();
    let page = browser.open(&app.url("/account")).await;
    let landing = browser.sign_in(app, &page, number, PASSWORD).await;
    assert_eq!(landing.redirect().location.path(), "/account");
    browser
}

/// Sets up the authenticator from `page` (the set-up page); returns the key and the
/// recovery codes, and the page after them.
async fn set_up(app: &TestApp, browser: &Browser, page: &str) -> (String, Vec<String>, Landing) {
    assert!(page.contains("<svg"), "a QR code is shown");
    let key = element_text(page, "second-factor-key");
    assert_eq!(
        key.split_whitespace().collect::<String>().len(),
        32,
        "160 bits"
    );
    assert!(
        page.contains("otpauth://totp/"),
        "a link for the phone's app"
    );
    // A code of another time is refused, and nothing is turned on.
    let stale = authenticator_code(&key, app.clock.now() - 3600);
    let request = form_field(page, "request").unwrap();
    let (status, again) = browser
        .submit(
            app,
            page,
            "/account/second-factor",
            &[
                ("request", &request),
                ("current_password", PASSWORD),
                ("code", &stale),
            ],
        )
        .await
        .page();
    assert_eq!(status, 401);
    assert!(
        again.contains("aria-invalid=\"true\""),
        "the error is tied to the field"
    );
    assert_eq!(element_text(&again, "second-factor-key"), key, "same key");
    let code = authenticator_code(&key, app.clock.now());
    // Without the current password (a session left open on a lab computer), nothing.
    let (status, again) = browser
        .submit(
            app,
            &again,
            "/account/second-factor",
            &[
                ("request", &request),
                ("current_password", "not my password"),
                ("code", &code),
            ],
        )
        .await
        .page();
    assert_eq!(status, 401);
    let (status, codes_page) = browser
        .submit(
            app,
            &again,
            "/account/second-factor",
            &[
                ("request", &request),
                ("current_password", PASSWORD),
                ("code", &code),
            ],
        )
        .await
        .page();
    assert_eq!(status, 200, "{codes_page}");
    let codes = recovery_codes(&codes_page);
    assert_eq!(codes.len(), 10);
    let after = browser
        .submit(
            app,
            &codes_page,
            "/account/second-factor/continue",
            &[("request", &form_field(&codes_page, "request").unwrap())],
        )
        .await;
    (key, codes, after)
}

/// Posts a code on the second-step page.
async fn second_step(app: &TestApp, browser: &Browser, page: &str, code: &str) -> Landing {
    assert!(page.contains("action=\"/login/second-factor\""), "{page}");
    let request = form_field(page, "request").unwrap();
    browser
        .submit(
            app,
            page,
            "/login/second-factor",
            &[("request", &request), ("code", code)],
        )
        .await
}

#[tokio::test]
async fn an_authenticator_app_adds_a_second_step_that_the_id_token_reports() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let client = app.add_client(ClientOptions::default()).await;
    let browser = signed_in_browser(&app, NUMBER).await;
    let account = browser.open(&app.url("/account")).await;
    assert!(account.contains("/account/second-factor"), "offered");
    let page = browser.open(&app.url("/account/second-factor")).await;
    let (key, _, after) = set_up(&app, &browser, &page).await;
    assert_eq!(after.redirect().location.path(), "/account");
    let account = browser.open(&app.url("/account")).await;
    assert!(element_text(&account, "second-factor-status").contains("10"));
    app.mailbox
        .wait_for("21900500@personal.example", "deux facteurs")
        .await;
    // The code used to turn it on cannot be used again.
    let used = authenticator_code(&key, app.clock.now());

    // A relying party: the password, then the code, then consent.
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let other = Browser::new();
    let page = other.open(auth.url.as_str()).await;
    let (status, second) = other.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    assert_eq!(status, 200);
    assert!(second.contains("name=\"code\"") && !second.contains("name=\"decision\""));
    // Until the code is given, the session opens nothing.
    let (_, blocked) = other.get(&app.url("/account")).await.page();
    assert!(blocked.contains("action=\"/login/second-factor\""));
    assert!(!blocked.contains("21900500@personal.example"));
    let (status, refused) = second_step(&app, &other, &second, &used).await.page();
    assert_eq!(status, 401, "a replayed code is refused");
    let (status, refused) = second_step(&app, &other, &refused, "12345").await.page();
    assert_eq!(status, 401, "not a code");
    app.clock.advance(30);
    let fresh = authenticator_code(&key, app.clock.now());
    let (status, consent) = second_step(&app, &other, &refused, &fresh).await.page();
    assert_eq!(status, 200);
    let redirect = other.consent(&app, &consent, "allow").await.redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        signed_in.claims.auth_context_ref().map(|a| a.as_str()),
        Some(MFA)
    );
    let methods: Vec<String> = signed_in
        .claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.as_str().to_string())
        .collect();
    assert_eq!(methods, ["pwd", "otp", "mfa"]);

    // The same code in a third browser, within its 30 seconds: refused.
    let third = Browser::new();
    let page = third.open(&app.url("/account")).await;
    let (_, second) = third.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    let (status, _) = second_step(&app, &third, &second, &fresh).await.page();
    assert_eq!(status, 401);

    // Wrong codes slow down the account.
    let mut last = second;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (status, html) = second_step(&app, &third, &last, "000001").await.page();
        statuses.push(status);
        last = html;
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The next step's code: valid (one step ahead is accepted) and never used.
    let right = authenticator_code(&key, app.clock.now() + 30);
    let (status, _) = second_step(&app, &third, &last, &right).await.page();
    assert_eq!(status, 429, "even a right code waits");

    // Stored sealed: the key is nowhere in the database in clear.
    let identity = app
        .store
        .find_identity_by_number(&etupass::domain::identity::StudentNumber::parse(NUMBER).unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored = app
        .store
        .second_factor(&identity.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.secret_sealed.split('.').count() == 5,
        "a compact JWE"
    );
    assert!(!stored.secret_sealed.contains(&key.replace(' ', "")));
}

#[tokio::test]
async fn recovery_codes_work_once_and_turning_off_needs_the_password_and_a_code() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = signed_in_browser(&app, NUMBER).await;
    let page = browser.open(&app.url("/account/second-factor")).await;
    let (key, codes, _) = set_up(&app, &browser, &page).await;

    // A lost phone: a recovery code, typed in capitals without dashes.
    let typed = codes[3].replace('-', "").to_uppercase();
    let lost = Browser::new();
    let page = lost.open(&app.url("/account")).await;
    let (_, second) = lost.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    let landing = second_step(&app, &lost, &second, &typed).await;
    assert_eq!(landing.redirect().location.path(), "/account");
    let account = lost.open(&app.url("/account")).await;
    assert!(element_text(&account, "second-factor-status").contains('9'));
    app.mailbox
        .wait_for("21900500@personal.example", "code de secours")
        .await;
    let again = Browser::new();
    let page = again.open(&app.url("/account")).await;
    let (_, second) = again.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    let (status, _) = second_step(&app, &again, &second, &codes[3]).await.page();
    assert_eq!(status, 401, "a recovery code works once");

    // Turning it off: the wrong password, then no valid code, are refused.
    app.clock.advance(30);
    let code = authenticator_code(&key, app.clock.now());
    let account = browser.open(&app.url("/account")).await;
    let (status, html) = browser
        .submit(
            &app,
            &account,
            "/account/second-factor/disable",
            &[("current_password", "not my password"), ("code", &code)],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(html.contains("second-factor-errors"));
    let (status, html) = browser
        .submit(
            &app,
            &html,
            "/account/second-factor/disable",
            &[("current_password", PASSWORD), ("code", "999999")],
        )
        .await
        .page();
    assert_eq!(status, 400);
    let (status, html) = browser
        .submit(
            &app,
            &html,
            "/account/second-factor/disable",
            &[("current_password", PASSWORD), ("code", &code)],
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(html.contains("est désactivée"), "{html}");
    app.mailbox
        .wait_for("21900500@personal.example", "désactivée")
        .await;
    // The password alone again.
    let plain = Browser::new();
    let page = plain.open(&app.url("/account")).await;
    let landing = plain.sign_in(&app, &page, NUMBER, PASSWORD).await;
    assert_eq!(landing.redirect().location.path(), "/account");

    // The reset path: on again, then a password reset by mail keeps it (a mailbox alone
    // must not undo two-factor sign-in).
    let page = browser.open(&app.url("/account/second-factor")).await;
    let (second_key, _, _) = set_up(&app, &browser, &page).await;
    let mark = app.mailbox.mark();
    let forgot = Browser::new();
    let form = forgot.open(&app.url("/password/forgot")).await;
    forgot
        .submit(&app, &form, "/password/forgot", &[("username", NUMBER)])
        .await;
    let mail = app
        .mailbox
        .wait_for_new(mark, "21900500@personal.example", "/password/reset?token=")
        .await;
    let token = mail.link_token("/password/reset").unwrap();
    let form = forgot
        .open(&app.url(&format!("/password/reset?token={token}")))
        .await;
    let new_password = "Seven violet lanterns drift over the quiet harbour";
    let landing = forgot
        .submit(
            &app,
            &form,
            "/password/reset",
            &[
                ("token", &token),
                ("password", new_password),
                ("confirmation", new_password),
            ],
        )
        .await;
    let (status, _) = landing.page();
    assert_eq!(status, 200);
    let page = plain.open(&app.url("/login")).await;
    let (status, second) = plain
        .sign_in(&app, &page, NUMBER, new_password)
        .await
        .page();
    assert_eq!(status, 200, "the second step still follows the password");
    assert!(second.contains("name=\"code\""), "{second}");
    app.clock.advance(30);
    let code = authenticator_code(&second_key, app.clock.now());
    let landing = second_step(&app, &plain, &second, &code).await;
    assert!(matches!(landing, Landing::Redirect(_)));
}

#[tokio::test]
async fn staff_must_set_it_up_and_a_relying_party_can_ask_for_it() {
    let app = TestApp::builder()
        .with_config(|settings| {
            settings.second_factor_required_for =
                vec![etupass::domain::identity::Affiliation::Staff];
        })
        .spawn()
        .await;
    app.add_identity_affiliated("21900501", "staff").await;
    app.add_identity(NUMBER).await;
    let client = app.add_client(ClientOptions::default()).await;
    let oidc = rp::oidc_client(&app, &client).await;

    // Staff: set-up comes right after the password, before the relying party.
    let staff = Browser::new();
    let auth = rp::authorization(&oidc, &["profile"], true);
    let page = staff.open(auth.url.as_str()).await;
    let (status, setup) = staff
        .sign_in(&app, &page, "21900501", PASSWORD)
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        setup.contains("exige la connexion à deux facteurs"),
        "{setup}"
    );
    let (_, _, after) = set_up(&app, &staff, &setup).await;
    let (_, consent) = after.page();
    let redirect = staff.consent(&app, &consent, "allow").await.redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        signed_in.claims.auth_context_ref().map(|a| a.as_str()),
        Some(MFA)
    );
    let account = staff.open(&app.url("/account")).await;
    assert!(account.contains("obligatoire"));
    assert!(!account.contains("/account/second-factor/disable"));
    // Posted anyway, with the password: refused, still on.
    let (status, html) = staff
        .submit(
            &app,
            &account,
            "/account/second-factor/disable",
            &[("current_password", PASSWORD), ("code", "123456")],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(element_text(&html, "second-factor-status").contains("activée"));

    // A student signs in with the password alone…
    let student = Browser::new();
    let auth = rp::authorization(&oidc, &["profile"], true);
    let redirect = student.authorize(&app, &auth.url, NUMBER, PASSWORD).await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        signed_in.claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:etupass:acr:password")
    );
    // …until a relying party asks for two factors with acr_values.
    let mut auth = rp::authorization(&oidc, &["profile"], true);
    auth.url.query_pairs_mut().append_pair("acr_values", MFA);
    let (status, setup) = student.get(auth.url.as_str()).await.page();
    assert_eq!(status, 200);
    assert!(
        setup.contains("demande la connexion à deux facteurs"),
        "{setup}"
    );
    let (_, _, after) = set_up(&app, &student, &setup).await;
    let redirect = after.redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        signed_in.claims.auth_context_ref().map(|a| a.as_str()),
        Some(MFA)
    );

    // The help desk removes it (lost phone, no recovery code left); staff set it up again.
    let output = etupass(
        &app,
        &["identity", "remove-second-factor", "21900501"],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    let output = etupass(
        &app,
        &["identity", "remove-second-factor", "21900501"],
        None,
    );
    assert!(!output.status.success(), "nothing left to remove");
    let again = Browser::new();
    let page = again.open(&app.url("/account")).await;
    let (_, setup) = again
        .sign_in(&app, &page, "21900501", PASSWORD)
        .await
        .page();
    assert!(setup.contains("action=\"/account/second-factor\""));
}

#[tokio::test]
async fn the_second_step_renews_the_session_cookie() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let browser = signed_in_browser(&app, NUMBER).await;
    let page = browser.open(&app.url("/account/second-factor")).await;
    let (key, _, _) = set_up(&app, &browser, &page).await;
    let next = Browser::new();
    let password_step = crate::sessions::sign_in_for_cookie(&app, &next, NUMBER).await;
    let (_, second) = next.get(&app.url("/account")).await.page();
    app.clock.advance(30);
    let code = authenticator_code(&key, app.clock.now());
    let landing = second_step(&app, &next, &second, &code).await;
    assert!(matches!(landing, Landing::Redirect(_)));
    assert!(
        next.open(&app.url("/account")).await.contains(NUMBER),
        "the browser holds the renewed cookie"
    );
    assert!(
        !crate::sessions::cookie_opens_the_account(&app, &password_step).await,
        "the cookie of the password step no longer opens anything"
    );
}
