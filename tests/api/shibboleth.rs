//! A research-federation service behind SAML: a real Apache httpd with Debian's
//! Shibboleth Service Provider 3 (`shibd` and `mod_shib`) protects a page. The SP loads
//! Etupass's metadata; its own metadata (from its `/Shibboleth.sso/Metadata` handler) is
//! registered with the command line. Chromium signs in through Etupass and out again; a
//! browser-like client repeats it step by step, and the page sees `eppn`, `affiliation`, `pairwise-id` and `persistent-id` as Shibboleth
//! delivers them. The SP signs its AuthnRequests (Etupass checks them) and Etupass
//! encrypts the assertion to the SP's key (the SP decrypts it and checks its signature).
//! Signing out of Etupass ends the SP's session too (single logout on its SOAP service).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::apache::{free_port, open_to_apache, run_apache};
use crate::chromium::{start_chromedriver, Chromium};
use crate::helpers::{documented, etupass, install_debian_packages, TestApp, PASSWORD};
use crate::rp::{form_field, Browser, Landing};

const NUMBER: &str = "21900950";

struct Shibd(Child);

impl Drop for Shibd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form") + 8;
    html[start..start + html[start..].find('"').unwrap()]
        .replace("&#x3D;", "=")
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
}

#[tokio::test]
async fn shibboleth_sp_signs_a_student_in_with_federation_attributes() {
    install_debian_packages(
        std::path::Path::new("/usr/lib/apache2/modules/mod_shib.so").exists(),
        &["apache2", "libapache2-mod-shib"],
    );
    let app = TestApp::builder()
        .with_config(|settings| settings.eppn_domain = "univ.example".into())
        .spawn()
        .await;
    app.add_identity(NUMBER).await;
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let dir = app.dir.path().join("shibboleth");
    for sub in ["htdocs/protected", "cache", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("htdocs/protected/index.shtml"),
        "<p>federation service</p>\n<pre><!--#printenv --></pre>\n",
    )
    .unwrap();
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=sp",
        ])
        .arg("-keyout")
        .arg(dir.join("sp-key.pem"))
        .arg("-out")
        .arg(dir.join("sp-cert.pem"))
        .output()
        .unwrap();
    assert!(made.status.success());
    // Debian's attribute map with `mail` mapped, as the documentation says to.
    let attribute_map = std::fs::read_to_string("/etc/shibboleth/attribute-map.xml")
        .unwrap()
        .replace(
            "<!--\n    <Attribute name=\"urn:oid:2.5.4.3\" id=\"cn\"/>",
            "<Attribute name=\"urn:oid:0.9.2342.19200300.100.1.3\" id=\"mail\"/>\n    <!--\n    <Attribute name=\"urn:oid:2.5.4.3\" id=\"cn\"/>",
        );
    assert!(
        attribute_map.contains("id=\"mail\"/>\n    <!--"),
        "the map has a mail line to uncomment"
    );
    std::fs::write(dir.join("attribute-map.xml"), attribute_map).unwrap();
    let d = dir.display();
    // The documented ApplicationDefaults, pointed at this test's hosts and files (plain
    // http on this machine: no https handler or cookies).
    let application = documented("shibboleth2")
        .replace("https://bu.univ.example", &site)
        .replace(
            "https://etupass.univ.example",
            app.issuer.trim_end_matches('/'),
        )
        .replace(
            "handlerSSL=\"true\" cookieProps=\"https\"",
            "handlerSSL=\"false\" cookieProps=\"http\"",
        )
        .replace(
            "showAttributeValues=\"false\"",
            "showAttributeValues=\"true\"",
        )
        .replace("/var/cache/shibboleth/", &format!("{d}/run/"))
        .replace(
            "/etc/shibboleth/attribute-map.xml",
            &format!("{d}/attribute-map.xml"),
        )
        .replace("/etc/shibboleth/sp-", &format!("{d}/sp-"));
    let shibboleth2 = format!(
        r#"<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config" xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config" clockSkew="180">
  <OutOfProcess logger="{d}/shibd.logger"/>
  <UnixListener address="{d}/run/shibd.sock"/>
  {application}
  <SecurityPolicyProvider type="XML" validate="true" path="/etc/shibboleth/security-policy.xml"/>
  <ProtocolProvider type="XML" validate="true" reloadChanges="false" path="/etc/shibboleth/protocols.xml"/>
</SPConfig>
"#
    );
    std::fs::write(dir.join("shibboleth2.xml"), shibboleth2).unwrap();
    // A file appender (the console one is buffered when it is not a terminal).
    std::fs::write(
        dir.join("shibd.logger"),
        format!(
            "log4j.rootCategory=INFO, file\nlog4j.category.OpenSAML=DEBUG\nlog4j.category.XMLTooling.Decrypter=DEBUG\n\
             log4j.appender.file=org.apache.log4j.FileAppender\nlog4j.appender.file.fileName={d}/run/shibd-file.log\n\
             log4j.appender.file.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.file.layout.ConversionPattern=%d %p %c: %m%n\n"
        ),
    )
    .unwrap();
    open_to_apache(&app, &dir, "a+rwX");
    let shibd = Shibd(
        Command::new("shibd")
            .args(["-F", "-f", "-c"])
            .arg(dir.join("shibboleth2.xml"))
            .arg("-p")
            .arg(dir.join("run/shibd.pid"))
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("run/shibd.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("run/shibd.err")).unwrap(),
            ))
            .spawn()
            .expect("shibd starts"),
    );
    for _ in 0..100 {
        if dir.join("run/shibd.sock").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir.join("run/shibd.sock").exists(), "shibd listens");
    Command::new("chmod")
        .args(["a+rw"])
        .arg(dir.join("run/shibd.sock"))
        .status()
        .unwrap();
    let modules = "/usr/lib/apache2/modules";
    let documented = documented("mod_shib").replace(
        "/etc/shibboleth/shibboleth2.xml",
        &format!("{d}/shibboleth2.xml"),
    );
    let conf = format!(
        "ServerRoot {d}\nListen 127.0.0.1:{port}\nServerName 127.0.0.1:{port}\nUseCanonicalName On\n\
         PidFile {d}/httpd.pid\nErrorLog {d}/error.log\nLogLevel warn\n\
         User www-data\nGroup www-data\n\
         LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
         LoadModule authn_core_module {modules}/mod_authn_core.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule mime_module {modules}/mod_mime.so\n\
         LoadModule dir_module {modules}/mod_dir.so\n\
         LoadModule include_module {modules}/mod_include.so\n\
         TypesConfig /etc/mime.types\nDirectoryIndex index.shtml\nDocumentRoot {d}/htdocs\n\
         <Directory {d}/htdocs>\n  Options +Includes\n  AddOutputFilter INCLUDES .shtml\n</Directory>\n\
         {documented}"
    );
    std::fs::write(dir.join("httpd.conf"), conf).unwrap();
    let apache = run_apache(&dir, port).await;
    let logs = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("run/shibd-file.log")).unwrap_or_default()
        )
    };

    // The SP's own metadata, registered as an administrator would.
    let sp_metadata = reqwest::get(format!("{site}/Shibboleth.sso/Metadata"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sp_metadata.contains("EntityDescriptor"),
        "{sp_metadata}\n{}",
        logs()
    );
    // First with its POST logout service only, then with the Redirect one too, never SOAP
    // (as many SPs have none): Etupass then logs it out on the front channel, in the
    // browser, on the binding it has.
    let without = |bindings: &[&str]| -> String {
        sp_metadata
            .lines()
            .filter(|line| {
                !line.contains("SingleLogoutService")
                    || !bindings
                        .iter()
                        .any(|binding| line.contains(&format!("bindings:{binding}\" Location=\"")))
            })
            .map(|line| format!("{line}\n"))
            .collect()
    };
    let post_only = without(&["SOAP", "HTTP-Redirect", "HTTP-Artifact"]);
    let front_channel_only = without(&["SOAP"]);
    assert!(
        post_only.contains("bindings:HTTP-POST\" Location=\"")
            && post_only.len() < front_channel_only.len()
    );
    assert!(
        front_channel_only.len() < sp_metadata.len(),
        "the SP has a SOAP logout service"
    );
    let path = dir.join("sp-metadata.xml");
    std::fs::write(&path, &post_only).unwrap();
    let output = etupass(
        &app,
        &[
            "saml",
            "sp",
            "add",
            "--metadata",
            path.to_str().unwrap(),
            "--attribute",
            "eduPersonPrincipalName",
            "--attribute",
            "eduPersonScopedAffiliation",
            "--attribute",
            "pairwise-id",
            "--attribute",
            "mail",
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A real browser: Chromium signs in through Etupass, its auto-submitting form carries
    // the assertion to the SP, and the page sees what Shibboleth made of it. Signing out
    // of Etupass ends the SP's session too: the signed-out page loads the SP's logout
    // (a signed LogoutRequest on its Redirect binding) in a frame, then goes on.
    let driver = start_chromedriver().await;
    let chromium = Chromium::open(&driver).await;
    chromium.go(&format!("{site}/protected/")).await;
    for (round, metadata) in [&post_only, &front_channel_only].into_iter().enumerate() {
        if round > 0 {
            std::fs::write(&path, metadata).unwrap();
            let output = etupass(
                &app,
                &["saml", "sp", "refresh", &format!("{site}/shibboleth")],
                None,
            );
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            chromium.go(&format!("{site}/protected/")).await;
        }
        chromium.arrive_at("/saml/sso").await;
        chromium.type_into("#username", NUMBER).await;
        chromium.type_into("#password", PASSWORD).await;
        chromium.click("button.primary").await;
        chromium.arrive_at("/protected/").await;
        let page = chromium.body_text().await;
        assert!(page.contains("federation service"), "{page}\n{}", logs());
        for expected in [
            format!("REMOTE_USER={NUMBER}@univ.example"),
            format!("eppn={NUMBER}@univ.example"),
            "pairwise-id=".to_string(),
            "persistent-id=".to_string(),
            "mail=".to_string(),
        ] {
            assert!(page.contains(&expected), "{expected} in {page}");
        }
        chromium.go(&app.url("/account")).await;
        chromium.click("form[action='/logout'] button").await;
        chromium.arrive_at("/").await;
        chromium.go(&format!("{site}/protected/")).await;
        assert_eq!(
            chromium.path().await,
            "/saml/sso",
            "round {round}: the SP forgot the session: {}",
            logs()
        );
    }
    // The other way round: the SP's own logout link signs the person out of Etupass too
    // (its signed LogoutRequest on the Redirect binding, Etupass's LogoutResponse back).
    chromium.type_into("#username", NUMBER).await;
    chromium.type_into("#password", PASSWORD).await;
    chromium.click("button.primary").await;
    chromium.arrive_at("/protected/").await;
    chromium.go(&format!("{site}/Shibboleth.sso/Logout")).await;
    let page = chromium.body_text().await;
    assert!(
        chromium.path().await.starts_with("/Shibboleth.sso/"),
        "back at the SP: {page}\n{}",
        logs()
    );
    assert!(
        page.contains("Logout completed successfully"),
        "the SP reports a complete global logout: {page}\n{}",
        logs()
    );
    chromium.go(&app.url("/account")).await;
    assert_eq!(
        chromium
            .script("return document.querySelector('#password') !== null")
            .await,
        true,
        "the Etupass session ended: the personal space asks to sign in\n{page}"
    );
    chromium.close().await;

    // Now with its SOAP logout service: the rest goes on the back channel.
    std::fs::write(&path, &sp_metadata).unwrap();
    let output = etupass(
        &app,
        &["saml", "sp", "refresh", &format!("{site}/shibboleth")],
        None,
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("logout_services"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same, step by step, looking at what travels.
    let browser = Browser::new();
    let to_etupass = browser.get(&format!("{site}/protected/")).await.redirect();
    assert!(
        to_etupass
            .location
            .as_str()
            .starts_with(&app.url("/saml/sso")),
        "{}",
        to_etupass.location
    );
    assert!(
        to_etupass.param("Signature").is_some(),
        "the SP signs its AuthnRequest"
    );
    let (status, sign_in) = browser.get(to_etupass.location.as_str()).await.page();
    assert_eq!(status, 200, "{sign_in}");
    let (status, post) = browser
        .sign_in(&app, &sign_in, NUMBER, PASSWORD)
        .await
        .page();
    assert_eq!(status, 200, "{post}");
    let consumer = form_action(&post);
    assert!(consumer.starts_with(&site), "{consumer}");
    let saml_response = form_field(&post, "SAMLResponse").unwrap();
    let xml = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &saml_response).unwrap(),
    )
    .unwrap();
    assert!(
        xml.contains("<saml:EncryptedAssertion") && !xml.contains(NUMBER),
        "encrypted to the key of the SP's metadata: {xml}"
    );
    let mut fields = vec![("SAMLResponse", saml_response)];
    if let Some(relay) = form_field(&post, "RelayState") {
        fields.push(("RelayState", relay));
    }
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut landing = browser.post_form(&consumer, &form).await;
    for _ in 0..5 {
        match landing {
            Landing::Redirect(next) => landing = browser.get(next.location.as_str()).await,
            Landing::Page(..) => break,
        }
    }
    let (status, page) = landing.page();
    if status != 200 {
        // shibd writes its log after it answers.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, 200, "{page}\n{}", logs());
    assert!(page.contains("federation service"), "{page}");
    assert!(
        page.contains(&format!("REMOTE_USER={NUMBER}@univ.example")),
        "{page}\n{}",
        logs()
    );
    assert!(
        page.contains(&format!("eppn={NUMBER}@univ.example")),
        "{page}"
    );
    assert!(
        page.contains("affiliation=member@univ.example;student@univ.example")
            || page.contains("affiliation=student@univ.example;member@univ.example"),
        "scoped affiliations pass the SP's scope check: {page}"
    );
    assert!(page.contains("pairwise-id="), "{page}");
    assert!(page.contains("persistent-id="), "{page}");

    // Signing out of Etupass (here through CAS's logout link): the SP is told on its
    // SOAP logout service and forgets its session; its page asks Etupass again.
    let (status, _) = browser.get(&app.url("/cas/logout")).await.page();
    assert_eq!(status, 200);
    let mut forgotten = false;
    for _ in 0..100 {
        if let Landing::Redirect(next) = browser.get(&format!("{site}/protected/")).await {
            assert!(next.location.as_str().starts_with(&app.url("/saml/sso")));
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        forgotten,
        "the SP's session ends with Etupass's: {}",
        logs()
    );
    drop(apache);
    drop(shibd);
}
