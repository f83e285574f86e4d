//! A real browser walks the personal space from outside: Debian's Chromium, headless,
//! driven through ChromeDriver's W3C WebDriver API. It signs in, looks at the personal
//! space (on a desktop and on a phone-sized screen), sets up two-factor sign-in with a
//! code from `oathtool`, signs out and back in with the second step, creates an app
//! password and invites a parent, whose invitation page it opens. Every page is
//! checked for labelled fields and a language, and photographed: into
//! `target/screenshots/`, or `docs/screenshots/` with `SCREENSHOTS=docs` (how the
//! screenshots in the docs are made).

use std::process::Command;

use etupass::domain::clock::Clock;

use crate::chromium::{start_chromedriver, Chromium};
use crate::helpers::{TestApp, PASSWORD};

const NUMBER: &str = "21900800";

fn authenticator_code(key: &str, at: i64) -> String {
    let key: String = key.split_whitespace().collect();
    let output = Command::new("oathtool")
        .args(["--totp", "--base32", "--now", &format!("@{at}"), &key])
        .output()
        .expect("oathtool runs (apt-get install oathtool)");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn chromium_walks_the_personal_space_and_signs_in_with_two_factors() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let driver = start_chromedriver().await;
    let browser = Chromium::open(&driver).await;

    // Signing in, from the personal space's address.
    browser.go(&app.url("/account")).await;
    browser.page("01-sign-in").await;
    browser.type_into("#username", NUMBER).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button.primary").await;
    browser.arrive_at("/account").await;
    browser.page("02-personal-space").await;
    browser.resize(390, 844).await;
    browser.page("03-personal-space-phone").await;
    browser.resize(1280, 1000).await;

    // Two-factor set-up, with a code from an authenticator outside this repository.
    browser.click("a[href='/account/second-factor']").await;
    browser.arrive_at("/account/second-factor").await;
    browser.page("04-second-factor-set-up").await;
    let key = browser.text("#second-factor-key").await;
    browser.type_into("#current_password", PASSWORD).await;
    let code = authenticator_code(&key, app.clock.now());
    browser.type_into("#code", &code).await;
    browser.click("button.primary").await;
    browser.find("#recovery-codes").await;
    assert_eq!(
        browser
            .script("return document.querySelectorAll('#recovery-codes li').length")
            .await,
        10,
        "{}",
        browser.script("return document.body.innerText").await
    );
    browser.page("05-recovery-codes").await;
    browser.click("button.primary").await;
    browser.arrive_at("/account").await;
    assert!(browser
        .text("#second-factor-status")
        .await
        .contains("activée"));

    // Out, and back in: the password, then the code.
    browser.click("form[action='/logout'] button").await;
    browser.arrive_at("/").await;
    browser.go(&app.url("/account")).await;
    browser.type_into("#username", NUMBER).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button.primary").await;
    browser.find("form[action='/login/second-factor']").await;
    browser.page("06-second-step").await;
    app.clock.advance(30);
    let code = authenticator_code(&key, app.clock.now());
    browser.type_into("#code", &code).await;
    browser.click("button.primary").await;
    browser.arrive_at("/account").await;
    assert!(browser
        .text("#second-factor-status")
        .await
        .contains("activée"));

    // An app password for the phone, shown once.
    browser.type_into("#app_password_name", "Téléphone").await;
    browser
        .click("form[action='/account/app-passwords'] button")
        .await;
    browser.find("#new-app-password").await;
    browser.page("07-app-password").await;

    // A parent invited, and the invitation page the parent opens.
    browser
        .type_into("#parent_email", "parent@famille.example")
        .await;
    browser
        .click("form[action='/account/parents'] button")
        .await;
    let mail = app
        .mailbox
        .wait_for("parent@famille.example", "/parents/accept?token=")
        .await;
    let token = mail.link_token("/parents/accept").unwrap();
    browser.click("form[action='/logout'] button").await;
    browser.arrive_at("/").await;
    browser
        .go(&app.url(&format!("/parents/accept?token={token}")))
        .await;
    browser.page("08-parent-invitation").await;
    browser.close().await;
}
