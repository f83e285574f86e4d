//! A real browser walks the personal space from outside: Debian's Chromium, headless,
//! driven through ChromeDriver's W3C WebDriver API. It signs in, looks at the personal
//! space (on a desktop and on a phone-sized screen), sets up two-factor sign-in with a
//! code from `oathtool`, signs out and back in with the second step, creates an app
//! password and invites a parent, whose invitation page it opens. Every page is
//! checked for labelled fields and a language, and photographed: into
//! `target/screenshots/`, or `docs/screenshots/` with `SCREENSHOTS=docs` (how the
//! screenshots in the docs are made).
//!
//! A handful of WebDriver calls over the HTTP client the tests already use; a WebDriver
//! crate would add its own HTTP stack for the same six endpoints.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use etupass::domain::clock::Clock;
use serde_json::{json, Value};

use crate::helpers::{install_debian_packages, TestApp, PASSWORD};

const NUMBER: &str = "21900800";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct ChromeDriver {
    child: Child,
    base: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_chromedriver() -> ChromeDriver {
    let present = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok()
        && std::path::Path::new("/usr/bin/chromium").exists();
    install_debian_packages(present, &["chromium", "chromium-driver"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = ChromeDriver {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(format!("{}/status", driver.base)).await {
            let status: Value = response.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return driver;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// One browser window.
struct Chromium {
    http: reqwest::Client,
    session: String,
    shots: std::path::PathBuf,
}

impl Chromium {
    async fn open(driver: &ChromeDriver) -> Chromium {
        let http = reqwest::Client::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--lang=fr-FR",
                         "--window-size=1280,1000"],
                "prefs": {"intl.accept_languages": "fr-FR,fr"}
            }
        }}});
        let created: Value = http
            .post(format!("{}/session", driver.base))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"));
        let shots = match std::env::var("SCREENSHOTS").as_deref() {
            Ok("docs") => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
            _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"),
        };
        std::fs::create_dir_all(&shots).unwrap();
        let browser = Chromium {
            http,
            session: format!("{}/session/{session}", driver.base),
            shots,
        };
        // A form's answer may still be loading when the click returns: finding an element
        // waits for it (up to 15 s, a loaded CI machine) instead of failing at once.
        browser
            .call(
                reqwest::Method::POST,
                "/timeouts",
                Some(json!({"implicit": 15000})),
            )
            .await;
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            answer["value"]["error"].is_null(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap()
        .to_string()
    }

    async fn path(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", None).await;
        url::Url::parse(url.as_str().unwrap())
            .unwrap()
            .path()
            .to_string()
    }

    /// Waits until the page at `expected` has loaded (a click's navigation is not waited
    /// for by WebDriver).
    async fn arrive_at(&self, expected: &str) {
        for _ in 0..300 {
            let ready = self.script("return document.readyState").await;
            if self.path().await == expected && ready == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {expected} (at {})", self.path().await);
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Checks what every page owes its readers, then photographs it.
    async fn page(&self, name: &str) {
        let problems = self
            .script(
                "const p = [];\
                 if (!document.documentElement.lang) p.push('no lang');\
                 if (!document.title) p.push('no title');\
                 if (document.querySelectorAll('h1').length !== 1) p.push('not one h1');\
                 for (const f of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {\
                   if (f.labels.length === 0 && !f.getAttribute('aria-label')) p.push('unlabelled ' + (f.name || f.id));\
                 }\
                 for (const i of document.querySelectorAll('[aria-describedby]')) {\
                   for (const id of i.getAttribute('aria-describedby').split(' ')) {\
                     if (!document.getElementById(id)) p.push('missing #' + id);\
                   }\
                 }\
                 return p;",
            )
            .await;
        assert_eq!(problems, json!([]), "{name}");
        // The whole page, not just the window: the window grows to the page's height.
        let before = self.call(reqwest::Method::GET, "/window/rect", None).await;
        let height = self
            .script("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap();
        let width = before["width"].as_u64().unwrap() as u32;
        self.resize(width, (height as u32 + 100).min(8000)).await;
        let shot = self.call(reqwest::Method::GET, "/screenshot", None).await;
        self.resize(width, before["height"].as_u64().unwrap() as u32)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

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
