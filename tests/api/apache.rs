//! The e-learning platform's stand-in: a real Apache httpd with mod_auth_openidc
//! protecting a page. A browser-like client signs in through it; the page's session sees
//! the user's claims; then logout goes through Etupass's end-session endpoint.
//! Apache and the module come from Debian (`.ci/run` installs them; as root, the test
//! installs them when missing).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{form_field, Browser, Landing};

pub(crate) struct Apache {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ensure_installed() {
    crate::helpers::install_debian_packages(
        std::path::Path::new("/usr/lib/apache2/modules/mod_auth_openidc.so").exists(),
        &["apache2", "libapache2-mod-auth-openidc"],
    );
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_apache(app: &TestApp, client: &TestClient, port: u16) -> Apache {
    ensure_installed();
    let dir = app.dir.path().join("apache");
    std::fs::create_dir_all(dir.join("htdocs/protected")).unwrap();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::write(
        dir.join("htdocs/protected/index.html"),
        "<p>course material</p>\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("htdocs/loggedout.html"),
        "<p>signed out of the LMS</p>\n",
    )
    .unwrap();
    open_to_apache(app, &dir, "a+rX");
    let d = dir.display();
    let modules = "/usr/lib/apache2/modules";
    let conf = format!(
        "ServerRoot {d}\nListen 127.0.0.1:{port}\nServerName 127.0.0.1\nPidFile {d}/httpd.pid\n\
         ErrorLog {d}/error.log\nLogLevel warn auth_openidc:info\n\
         User www-data\nGroup www-data\n\
         LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
         LoadModule authn_core_module {modules}/mod_authn_core.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule authz_user_module {modules}/mod_authz_user.so\n\
         LoadModule mime_module {modules}/mod_mime.so\n\
         LoadModule dir_module {modules}/mod_dir.so\n\
         LoadModule auth_openidc_module {modules}/mod_auth_openidc.so\n\
         TypesConfig /etc/mime.types\nDirectoryIndex index.html\nDocumentRoot {d}/htdocs\n\
         OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration\n\
         OIDCClientID {client_id}\nOIDCClientSecret {secret}\n\
         OIDCRedirectURI http://127.0.0.1:{port}/protected/redirect_uri\n\
         OIDCCryptoPassphrase etupass-test-passphrase\n\
         OIDCScope \"openid profile etupass\"\n\
         OIDCPKCEMethod S256\n\
         OIDCRemoteUserClaim preferred_username\n\
         OIDCInfoHook userinfo id_token\n\
         OIDCCacheType file\nOIDCCacheDir {d}/cache\n\
         <Location /protected>\n  AuthType openid-connect\n  Require valid-user\n</Location>\n",
        issuer = app.issuer,
        client_id = client.client_id,
        secret = client.client_secret.as_deref().unwrap(),
    );
    std::fs::write(dir.join("httpd.conf"), conf).unwrap();
    run_apache(&dir, port).await
}

/// Lets Apache's www-data user reach `dir` inside the test's directory: the directories
/// on the way open to all, and `dir` itself with `mode` (`a+rX`, or `a+rwX` where the
/// server writes).
pub(crate) fn open_to_apache(app: &TestApp, dir: &std::path::Path, mode: &str) {
    for path in [app.dir.path(), dir] {
        Command::new("chmod").arg("755").arg(path).status().unwrap();
    }
    Command::new("chmod")
        .args(["-R", mode])
        .arg(dir)
        .status()
        .unwrap();
}

/// Runs `dir/httpd.conf` in the foreground (its `cache` directory given to www-data) and
/// waits until it listens on `port`.
pub(crate) async fn run_apache(dir: &std::path::Path, port: u16) -> Apache {
    Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(dir.join("cache"))
        .status()
        .unwrap();
    let apache = Apache {
        child: Command::new("apache2")
            .args(["-X", "-f"])
            .arg(dir.join("httpd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("apache2 starts"),
        port,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return apache;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "apache did not listen: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// Follows redirects like a browser, posting the Etupass sign-in form when it shows up.
pub(crate) async fn browse(app: &TestApp, browser: &Browser, start: &str) -> (u16, String, String) {
    let mut url = start.to_string();
    for _ in 0..15 {
        match browser.get(&url).await {
            Landing::Redirect(redirect) => url = redirect.location.to_string(),
            Landing::Page(200, html)
                if html.contains("name=\"password\"")
                    && form_field(&html, "csrf_token").is_some() =>
            {
                match browser.sign_in(app, &html, "21900500", PASSWORD).await {
                    Landing::Redirect(redirect) => url = redirect.location.to_string(),
                    Landing::Page(status, html) => return (status, html, url),
                }
            }
            Landing::Page(status, html) => return (status, html, url),
        }
    }
    panic!("too many redirects from {start}");
}

#[tokio::test]
async fn apache_mod_auth_openidc_signs_a_student_in_and_out() {
    let app = TestApp::spawn().await;
    app.add_identity("21900500").await;
    let port = free_port();
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            redirect_uri: format!("http://127.0.0.1:{port}/protected/redirect_uri"),
            post_logout_redirect_uris: vec![format!("http://127.0.0.1:{port}/loggedout.html")],
            ..ClientOptions::default()
        })
        .await;
    let apache = start_apache(&app, &client, port).await;
    let lms = format!("http://127.0.0.1:{}", apache.port);
    let browser = Browser::new();

    let (status, page, _) = browse(&app, &browser, &format!("{lms}/protected/")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("course material"),
        "the protected page after signing in: {page}"
    );

    let (status, info, _) = browse(
        &app,
        &browser,
        &format!("{lms}/protected/redirect_uri?info=json"),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value =
        serde_json::from_str(&info).expect("mod_auth_openidc's session info");
    assert_eq!(info["userinfo"]["preferred_username"], "21900500", "{info}");
    assert_eq!(info["userinfo"]["student_number"], "21900500");
    assert_eq!(info["id_token"]["iss"], app.issuer.as_str());

    // Logout through the module: it calls Etupass's end-session endpoint and comes back.
    let logout = format!(
        "{lms}/protected/redirect_uri?logout={}",
        url::form_urlencoded::byte_serialize(format!("{lms}/loggedout.html").as_bytes())
            .collect::<String>()
    );
    let (status, page, landed) = browse(&app, &browser, &logout).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("signed out of the LMS"),
        "back at the LMS: {landed}"
    );
    // Both sessions are over: the protected page asks Etupass for the password again.
    let login = browser.get(&format!("{lms}/protected/")).await;
    let Landing::Redirect(to_etupass) = login else {
        panic!("the LMS session should be gone");
    };
    let (status, html) = browser.get(to_etupass.location.as_str()).await.page();
    assert_eq!(status, 200);
    assert!(
        html.contains("name=\"password\""),
        "the Etupass session is gone too"
    );
}
