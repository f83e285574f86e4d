//! Debian's Chromium, headless, driven through ChromeDriver's W3C WebDriver API: the real
//! browser the tests that walk pages use. A handful of WebDriver calls over the HTTP
//! client the tests already use; a WebDriver crate would add its own HTTP stack for the
//! same few endpoints.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::install_debian_packages;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct ChromeDriver {
    child: Child,
    base: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_chromedriver() -> ChromeDriver {
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
pub struct Chromium {
    http: reqwest::Client,
    session: String,
    shots: std::path::PathBuf,
}

impl Chromium {
    pub async fn open(driver: &ChromeDriver) -> Chromium {
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

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
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

    /// The text the page shows.
    pub async fn body_text(&self) -> String {
        self.script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn path(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", None).await;
        url::Url::parse(url.as_str().unwrap())
            .unwrap()
            .path()
            .to_string()
    }

    /// Waits until the page at `expected` has loaded (a click's navigation is not waited
    /// for by WebDriver).
    pub async fn arrive_at(&self, expected: &str) {
        for _ in 0..300 {
            let ready = self.script("return document.readyState").await;
            if self.path().await == expected && ready == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {expected} (at {})", self.path().await);
    }

    pub async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Checks what every page owes its readers, then photographs it.
    pub async fn page(&self, name: &str) {
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

    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
