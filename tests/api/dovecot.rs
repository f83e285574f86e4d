//! The webmail's IMAP server: a real Dovecot whose `oauth2` passdb validates bearer
//! tokens through Etupass's introspection endpoint. The test logs in with SASL XOAUTH2 and
//! OAUTHBEARER; a revoked token, a garbage token and someone else's name are refused.
//! Dovecot comes from Debian's `dovecot-imapd` (`.ci/run` installs it; as root, the test
//! installs it when missing).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use openidconnect::OAuth2TokenResponse;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, Browser};
use etupass::domain::client::GrantType;

pub(crate) struct Dovecot {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ensure_installed() {
    crate::helpers::install_debian_packages(
        Command::new("dovecot").arg("--version").output().is_ok(),
        &["dovecot-imapd"],
    );
}

async fn start_dovecot(
    app: &TestApp,
    introspection_id: &str,
    introspection_secret: &str,
) -> Dovecot {
    let dir = app.dir.path().join("dovecot");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let issuer = app.issuer.trim_start_matches("http://");
    std::fs::write(
        dir.join("oauth2.conf"),
        format!(
            "introspection_mode = post\n\
             introspection_url = http://{introspection_id}:{introspection_secret}@{issuer}/introspect\n\
             username_attribute = username\n\
             active_attribute = active\n\
             active_value = true\n"
        ),
    )
    .unwrap();
    let passdb = format!(
        "passdb {{\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n  args = {d}/oauth2.conf\n}}\n"
    );
    launch_dovecot(app, "oauthbearer xoauth2", &passdb).await
}

/// A Dovecot on a free loopback port with this passdb, in the app's directory.
pub(crate) async fn launch_dovecot(app: &TestApp, mechanisms: &str, passdb: &str) -> Dovecot {
    ensure_installed();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = app.dir.path().join("dovecot");
    for sub in ["run", "state", "home"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // Dovecot's unprivileged login and mail processes must reach the sockets and homes.
    for path in [
        app.dir.path().to_path_buf(),
        dir.clone(),
        dir.join("run"),
        dir.join("state"),
    ] {
        Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .unwrap();
    }
    Command::new("chmod")
        .arg("777")
        .arg(dir.join("home"))
        .status()
        .unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("dovecot.conf"),
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols = imap\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = {mechanisms}\nauth_failure_delay = 0\n\
             mail_location = maildir:{d}/home/%u/Maildir\nfirst_valid_uid = 1\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             {passdb}\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/home/%u\n}}\n"
        ),
    )
    .unwrap();
    let dovecot = Dovecot {
        child: Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot starts"),
        port,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return dovecot;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "dovecot did not listen: {}",
        std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
    );
}

/// AUTHENTICATE with an initial response; true when logged in.
async fn imap_login(port: u16, source: u8, mechanism: &str, initial: &[u8]) -> bool {
    let encoded = base64::engine::general_purpose::STANDARD.encode(initial);
    imap_try(
        port,
        source,
        &format!("a AUTHENTICATE {mechanism} {encoded}"),
    )
    .await
}

/// One IMAP connection from the loopback address `127.0.0.<source>` (Dovecot slows down
/// an address after failed logins, so each refusal is tried from its own address): sends
/// the command tagged `a`, answers a server challenge with an empty line; true on `a OK`.
pub(crate) async fn imap_try(port: u16, source: u8, command: &str) -> bool {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, source], 0).into()).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    lines.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("* OK"), "{line}");
    write
        .write_all(format!("{command}\r\n").as_bytes())
        .await
        .unwrap();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap() == 0 {
            return false;
        }
        if line.starts_with('+') {
            // The server's error challenge (RFC 7628 §3.2.3): answer with an empty line.
            write.write_all(b"\r\n").await.unwrap();
            continue;
        }
        if line.starts_with("a ") {
            let _ = write.write_all(b"b LOGOUT\r\n").await;
            return line.starts_with("a OK");
        }
    }
}

fn xoauth2(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

fn oauthbearer(user: &str, port: u16, token: &str) -> Vec<u8> {
    format!("n,a={user},\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {token}\x01\x01")
        .into_bytes()
}

#[tokio::test]
async fn dovecot_logs_students_in_with_etupass_bearer_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900400").await;
    let webmail = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let dovecot_client = app
        .add_client(ClientOptions {
            grant_types: vec![GrantType::ClientCredentials],
            introspect: true,
            ..ClientOptions::default()
        })
        .await;
    let dovecot = start_dovecot(
        &app,
        &dovecot_client.client_id,
        dovecot_client.client_secret.as_deref().unwrap(),
    )
    .await;

    let oidc = rp::oidc_client(&app, &webmail).await;
    let auth = rp::authorization(&oidc, &["profile", "email"], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900400", PASSWORD)
        .await;
    let tokens = rp::exchange(&oidc, &webmail, auth, &redirect).await.tokens;
    let token = tokens.access_token().secret().clone();

    assert!(
        imap_login(dovecot.port, 2, "XOAUTH2", &xoauth2("21900400", &token)).await,
        "XOAUTH2"
    );
    assert!(
        imap_login(
            dovecot.port,
            2,
            "OAUTHBEARER",
            &oauthbearer("21900400", dovecot.port, &token)
        )
        .await,
        "OAUTHBEARER"
    );
    assert!(
        !imap_login(dovecot.port, 3, "XOAUTH2", &xoauth2("21900400", "garbage")).await,
        "garbage token"
    );
    assert!(
        !imap_login(dovecot.port, 4, "XOAUTH2", &xoauth2("21900999", &token)).await,
        "someone else's name with this token"
    );

    let revoked = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth(&webmail.client_id, webmail.client_secret.as_deref())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(
        !imap_login(dovecot.port, 5, "XOAUTH2", &xoauth2("21900400", &token)).await,
        "revoked token"
    );
    assert!(
        !imap_login(
            dovecot.port,
            6,
            "OAUTHBEARER",
            &oauthbearer("21900400", dovecot.port, &token)
        )
        .await,
        "revoked token (OAUTHBEARER)"
    );
}
