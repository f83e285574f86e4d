//! The command line as administrators and scripts use it: the real binary.

use std::process::Output;

use crate::helpers::TestClient;
use crate::helpers::{etupass, TestApp, PASSWORD};
use crate::rp::{self, Browser};
use etupass::domain::client::{AuthMethod, SigningAlg};

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on standard output")
}

#[tokio::test]
async fn an_administrator_provisions_a_client_and_an_identity_from_the_command_line() {
    let app = TestApp::spawn().await;
    let added = json(&etupass(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Webmail",
            "--redirect-uri",
            "http://127.0.0.1:9/mail",
            "--id-token-alg",
            "ES256",
        ],
        None,
    ));
    let client_id = added["client_id"].as_str().unwrap().to_string();
    let secret = added["client_secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 43, "256-bit secret");
    let shown = json(&etupass(&app, &["client", "show", &client_id], None));
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is printed once only"
    );
    let listed = json(&etupass(&app, &["client", "list"], None));
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let identity = json(&etupass(
        &app,
        &[
            "identity",
            "add",
            "--number",
            "21905555",
            "--family-name",
            "Le Fèvre",
            "--given-name",
            "Élodie",
            "--birth-date",
            "2003-01-31",
            "--affiliation",
            "student",
            "--personal-email",
            "elodie@personal.example",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    assert_eq!(identity["status"], "active");
    assert_eq!(
        identity["institutional_email"],
        "elodie.le-fevre@univ.example"
    );
    assert!(identity.get("password_hash").is_none());
    let shown = json(&etupass(&app, &["identity", "show", "21905555"], None));
    assert_eq!(shown["subject"], identity["subject"]);

    // The relying party registered by the CLI signs that student in.
    let client = TestClient {
        client_id,
        client_secret: Some(secret),
        redirect_uri: "http://127.0.0.1:9/mail".into(),
        alg: SigningAlg::ES256,
        auth_method: AuthMethod::ClientSecretBasic,
    };
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21905555", PASSWORD)
        .await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(signed_in.claims.subject().as_str(), identity["subject"]);
}

#[tokio::test]
async fn bad_input_fails_with_a_one_line_reason() {
    let app = TestApp::spawn().await;
    let cases: [&[&str]; 4] = [
        &[
            "client",
            "add",
            "--name",
            "x",
            "--redirect-uri",
            "http://rp.example/cb",
        ],
        &[
            "client",
            "add",
            "--name",
            "x",
            "--redirect-uri",
            "https://rp.example/cb#frag",
        ],
        &[
            "identity",
            "add",
            "--number",
            "1",
            "--family-name",
            "A",
            "--given-name",
            "B",
            "--birth-date",
            "2003-02-30",
            "--affiliation",
            "student",
        ],
        &[
            "identity",
            "add",
            "--number",
            "1",
            "--family-name",
            "A",
            "--given-name",
            "B",
            "--birth-date",
            "2003-02-03",
            "--affiliation",
            "wizard",
        ],
    ];
    for args in cases {
        let output = etupass(&app, args, None);
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("etupass: "), "{stderr}");
    }
    let first = etupass(
        &app,
        &[
            "identity",
            "add",
            "--number",
            "7",
            "--family-name",
            "A",
            "--given-name",
            "B",
            "--birth-date",
            "2003-02-03",
            "--affiliation",
            "staff",
        ],
        None,
    );
    assert!(first.status.success());
    let again = etupass(
        &app,
        &[
            "identity",
            "add",
            "--number",
            "7",
            "--family-name",
            "C",
            "--given-name",
            "D",
            "--birth-date",
            "2003-02-03",
            "--affiliation",
            "staff",
        ],
        None,
    );
    assert!(!again.status.success(), "a number is unique");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let missing = etupass(&app, &["client", "show", "nope"], None);
    assert!(!missing.status.success());
}

#[tokio::test]
async fn charters_are_published_and_bad_ones_refused() {
    let app = TestApp::spawn().await;
    let charter = app.dir.path().join("charte.md");
    std::fs::write(&charter, "# Charte\nUsage loyal.\n").unwrap();
    let output = etupass(
        &app,
        &["charter", "publish", charter.to_str().unwrap()],
        None,
    );
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "published version 1"
    );
    let shown = json(&etupass(&app, &["charter", "show"], None));
    assert_eq!(shown["version"], 1);
    let empty = app.dir.path().join("empty.md");
    std::fs::write(&empty, "  \n").unwrap();
    let output = etupass(&app, &["charter", "publish", empty.to_str().unwrap()], None);
    assert!(!output.status.success(), "an empty charter is refused");
    let output = etupass(
        &app,
        &["charter", "publish", "/nonexistent/charte.md"],
        None,
    );
    assert!(!output.status.success());
}

#[tokio::test]
async fn a_temporary_password_must_not_be_short() {
    let app = TestApp::spawn().await;
    app.add_identity("21905556").await;
    let output = etupass(
        &app,
        &["identity", "set-password", "21905556", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12 characters"));
}

#[tokio::test]
async fn clients_with_keys_pushed_requests_and_their_own_refresh_lifetimes() {
    let app = TestApp::spawn().await;
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let jwks = app.dir.path().join("lms-jwks.json");
    let public = serde_json::to_value(pair.to_jwk_public_key().as_ref()).unwrap();
    std::fs::write(&jwks, serde_json::json!({ "keys": [public] }).to_string()).unwrap();
    let added = json(&etupass(
        &app,
        &[
            "client",
            "add",
            "--name",
            "LMS",
            "--redirect-uri",
            "https://lms.univ.example/auth/oidc/",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            jwks.to_str().unwrap(),
            "--require-par",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--refresh-idle-lifetime",
            "1h",
            "--refresh-absolute-lifetime",
            "12h",
        ],
        None,
    ));
    assert!(
        added.get("client_secret").is_none(),
        "a key client has no secret"
    );
    assert_eq!(added["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(added["require_pushed_authorization_requests"], true);
    assert_eq!(added["refresh_token_lifetimes"]["idle"], 3600);
    assert_eq!(added["refresh_token_lifetimes"]["absolute"], 43200);
    assert!(added["jwks"]["keys"][0].get("d").is_none());

    let wifi = json(&etupass(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Wifi portal",
            "--public",
            "--grant-type",
            "device_code",
        ],
        None,
    ));
    assert_eq!(
        wifi["grant_types"],
        serde_json::json!(["urn:ietf:params:oauth:grant-type:device_code"])
    );

    // Refused, each with its reason: a private key in the file, keys for a secret client,
    // one refresh lifetime without the other.
    let private = app.dir.path().join("private.json");
    let leaked = serde_json::to_value(pair.to_jwk_private_key().as_ref()).unwrap();
    std::fs::write(
        &private,
        serde_json::json!({ "keys": [leaked] }).to_string(),
    )
    .unwrap();
    let base = [
        "client",
        "add",
        "--name",
        "x",
        "--redirect-uri",
        "https://rp.example/cb",
    ];
    let cases: [&[&str]; 4] = [
        &[
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            private.to_str().unwrap(),
        ],
        &["--jwks-uri", "https://rp.example/jwks.json"],
        &["--auth-method", "private_key_jwt"],
        &["--refresh-idle-lifetime", "1h"],
    ];
    for extra in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let output = etupass(&app, &args, None);
        assert!(!output.status.success(), "{extra:?} must fail");
        assert!(!String::from_utf8_lossy(&output.stderr).trim().is_empty());
    }
    assert_eq!(app.store.list_clients().await.unwrap().len(), 2);
}
