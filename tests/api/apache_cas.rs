//! A campus application behind CAS: a real Apache httpd with Debian's mod_auth_cas
//! protects a page, configured as `docs/relying-parties.md` says. Chromium signs in
//! through Etupass and out again; a browser-like client then repeats it step by step; the page sees the number as `REMOTE_USER` and as a header, and
//! is served only because a released attribute (`eduPersonAffiliation` = `member`) says
//! so: an alumnus, whose attributes lack it, is refused by Apache itself. A ticket used twice, a ticket for another service and an
//! unregistered service get nothing; logout reaches the module by single logout.
//!
//! mod_auth_cas validates over https only: the same Apache serves, on a second port, a
//! TLS front of Etupass with a certificate made for the test, which the module trusts.

use std::process::Command;
use std::time::Duration;

use etupass::domain::cas::NewCasService;
use etupass::domain::clock::Clock;

use crate::apache::{browse, free_port, open_to_apache, run_apache};
use crate::chromium::{start_chromedriver, Chromium};
use crate::helpers::{documented, install_debian_packages, TestApp, PASSWORD};
use crate::rp::{Browser, Landing};

const NUMBER: &str = "21900500";

fn self_signed_certificate(dir: &std::path::Path) {
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

async fn register(app: &TestApp, name: &str, pattern: String, open_to_alumni: bool) {
    let service = NewCasService {
        name: name.into(),
        url_pattern: pattern,
        attributes: vec!["displayName".into(), "eduPersonAffiliation".into()],
        proxy_allowed: false,
        logout_url: None,
        open_to_alumni,
        open_to_parents: false,
    };
    service.validate().unwrap();
    app.store
        .add_cas_service(service, app.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn apache_mod_auth_cas_signs_a_student_in_and_out() {
    install_debian_packages(
        std::path::Path::new("/usr/lib/apache2/modules/mod_auth_cas.so").exists(),
        &["apache2", "libapache2-mod-auth-cas"],
    );
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let (port, tls_port) = (free_port(), free_port());
    let site = format!("http://127.0.0.1:{port}");
    // Open to alumni on Etupass's side: Apache's own rule keeps them out.
    register(&app, "Intranet", format!("{site}/protected/"), true).await;
    register(&app, "Elsewhere", format!("{site}/elsewhere/"), false).await;
    app.add_identity_affiliated("21900501", "alumni").await;

    let dir = app.dir.path().join("apache-cas");
    for sub in ["htdocs/protected", "htdocs/unregistered", "cache"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let page = "<p>intranet</p>\nREMOTE_USER=<!--#echo var=\"REMOTE_USER\" -->\n<pre><!--#printenv --></pre>\n";
    std::fs::write(dir.join("htdocs/protected/index.shtml"), page).unwrap();
    std::fs::write(dir.join("htdocs/unregistered/index.shtml"), page).unwrap();
    self_signed_certificate(&dir);
    open_to_apache(&app, &dir, "a+rX");
    let d = dir.display();
    let modules = "/usr/lib/apache2/modules";
    let etupass_port = url::Url::parse(&app.issuer).unwrap().port().unwrap();
    // The documented block, pointed at this test's Etupass, TLS front and directories.
    let documented = documented("mod_auth_cas")
        .replace(
            "https://etupass.univ.example/cas/login",
            &app.url("/cas/login"),
        )
        .replace(
            "https://etupass.univ.example/cas/samlValidate",
            &format!("https://127.0.0.1:{tls_port}/cas/samlValidate"),
        )
        .replace(
            "/etc/ssl/certs/ca-certificates.crt",
            &format!("{d}/cert.pem"),
        )
        .replace("/var/cache/apache2/mod_auth_cas/", &format!("{d}/cache/"))
        .replace(
            "<Location /protected>",
            "<LocationMatch \"^/(protected|unregistered)\">",
        )
        .replace("</Location>", "</LocationMatch>");
    let conf = format!(
        "ServerRoot {d}\nListen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port}\nServerName 127.0.0.1\n\
         PidFile {d}/httpd.pid\nErrorLog {d}/error.log\nLogLevel warn\n\
         User www-data\nGroup www-data\n\
         LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
         LoadModule authn_core_module {modules}/mod_authn_core.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule authz_user_module {modules}/mod_authz_user.so\n\
         LoadModule mime_module {modules}/mod_mime.so\n\
         LoadModule dir_module {modules}/mod_dir.so\n\
         LoadModule include_module {modules}/mod_include.so\n\
         LoadModule ssl_module {modules}/mod_ssl.so\n\
         LoadModule proxy_module {modules}/mod_proxy.so\n\
         LoadModule proxy_http_module {modules}/mod_proxy_http.so\n\
         TypesConfig /etc/mime.types\nDirectoryIndex index.shtml\nDocumentRoot {d}/htdocs\n\
         <Directory {d}/htdocs>\n  Options +Includes\n  AddOutputFilter INCLUDES .shtml\n</Directory>\n\
         <VirtualHost 127.0.0.1:{tls_port}>\n  SSLEngine on\n  SSLCertificateFile {d}/cert.pem\n\
           SSLCertificateKeyFile {d}/key.pem\n  ProxyPass / http://127.0.0.1:{etupass_port}/\n</VirtualHost>\n\
         {documented}"
    );
    std::fs::write(dir.join("httpd.conf"), conf).unwrap();
    let apache = run_apache(&dir, port).await;
    let error_log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();

    // A real browser: Chromium signs in through Etupass and reaches the page, which sees
    // the number and the released attributes; logging out of Etupass ends the module's
    // session too (single logout), so the page sends it back to Etupass.
    let driver = start_chromedriver().await;
    let chromium = Chromium::open(&driver).await;
    chromium.go(&format!("{site}/protected/")).await;
    chromium.arrive_at("/cas/login").await;
    chromium.type_into("#username", NUMBER).await;
    chromium.type_into("#password", PASSWORD).await;
    chromium.click("button.primary").await;
    chromium.arrive_at("/protected/").await;
    let page = chromium.body_text().await;
    assert!(page.contains("intranet"), "{page}\n{}", error_log());
    assert!(page.contains(&format!("REMOTE_USER={NUMBER}")), "{page}");
    assert!(page.contains(&format!("HTTP_CAS_USER={NUMBER}")), "{page}");
    assert!(
        page.contains("HTTP_CAS_EDUPERSONAFFILIATION=") && page.contains("member"),
        "the released attributes as headers: {page}"
    );
    chromium.go(&app.url("/cas/logout")).await;
    let mut signed_out = false;
    for _ in 0..100 {
        chromium.go(&format!("{site}/protected/")).await;
        if chromium.path().await == "/cas/login" {
            signed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        signed_out,
        "the module forgets the session: {}",
        error_log()
    );
    chromium.close().await;

    // The same, step by step: the ticket comes back to the module, which validates it once.
    let browser = Browser::new();
    let to_etupass = browser.get(&format!("{site}/protected/")).await.redirect();
    assert!(
        to_etupass
            .location
            .as_str()
            .starts_with(&app.url("/cas/login")),
        "{}",
        to_etupass.location
    );
    let (_, sign_in) = browser.get(to_etupass.location.as_str()).await.page();
    let back = browser
        .sign_in(&app, &sign_in, NUMBER, PASSWORD)
        .await
        .redirect();
    let ticket = back.param("ticket").expect("a service ticket");
    let (status, page, _) = browse(&app, &browser, back.location.as_str()).await;
    assert_eq!(status, 200, "{page}\n{}", error_log());
    assert!(page.contains("intranet"), "{page}");
    assert!(page.contains(&format!("REMOTE_USER={NUMBER}")), "{page}");
    assert!(
        page.contains(&format!("HTTP_CAS_USER={NUMBER}")),
        "the number as a header: {page}"
    );

    // An alumnus gets a ticket, but the released affiliation (`alum`) is no `member`.
    let alumnus = Browser::new();
    let to_etupass = alumnus.get(&format!("{site}/protected/")).await.redirect();
    let (_, sign_in) = alumnus.get(to_etupass.location.as_str()).await.page();
    let back = alumnus
        .sign_in(&app, &sign_in, "21900501", PASSWORD)
        .await
        .redirect();
    assert!(back.param("ticket").is_some());
    let mut url = back.location.to_string();
    let refused = loop {
        match alumnus.get(&url).await {
            Landing::Redirect(next) if next.location.as_str().starts_with(&site) => {
                url = next.location.to_string()
            }
            other => break other,
        }
    };
    assert!(
        !matches!(&refused, Landing::Page(200, html) if html.contains("intranet")),
        "Apache refuses by the released attribute"
    );

    // The same ticket from another browser: refused, the page is not served.
    let thief = Browser::new();
    let replay = thief
        .get(&format!("{site}/protected/?ticket={ticket}"))
        .await;
    assert!(
        !matches!(&replay, Landing::Page(200, html) if html.contains("intranet")),
        "a replayed ticket must not open the page"
    );
    // A ticket issued for another registered service: refused as well.
    let elsewhere = browser
        .get(&app.url(&format!(
            "/cas/login?service={}",
            urlencode(&format!("{site}/elsewhere/"))
        )))
        .await
        .redirect()
        .param("ticket")
        .unwrap();
    let misdirected = thief
        .get(&format!("{site}/protected/?ticket={elsewhere}"))
        .await;
    assert!(
        !matches!(&misdirected, Landing::Page(200, html) if html.contains("intranet")),
        "a ticket for another service must not open the page"
    );
    // A location whose URL is not registered: Etupass's error page, no ticket.
    let (status, page, landed) = browse(&app, &browser, &format!("{site}/unregistered/")).await;
    assert_eq!(status, 400, "{landed}: {page}");
    assert!(landed.starts_with(&app.url("/cas/login")));

    // Logout: the Etupass session ends and the module hears of it (single logout).
    let (status, _) = browser.get(&app.url("/cas/logout")).await.page();
    assert_eq!(status, 200);
    let mut forgotten = false;
    for _ in 0..100 {
        if let Landing::Redirect(_) = browser.get(&format!("{site}/protected/")).await {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(forgotten, "the module forgets the session: {}", error_log());
    drop(apache);
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
