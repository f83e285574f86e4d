//! Two `etupass serve` processes on one database, as behind a load balancer: nothing that
//! matters lives in one instance's memory. A code issued by one is redeemed once on the
//! other and its replay on either revokes what it gave; a session started on one is
//! seen by the other; failed sign-ins are counted across both; a thousand queued mails
//! are delivered exactly once between them. (On PostgreSQL in CI's
//! second run, the production setup; on SQLite in the first, one file shared.)

use base64::Engine;
use serde_json::Value;

use crate::crash::message_id;
use crate::helpers::{ClientOptions, TestApp, PASSWORD, REDIRECT_URI};
use crate::rp::{form_field, Browser, Landing};
use crate::serve::Serve;

const NUMBER: &str = "21901100";

/// Two instances sharing the app's database, keys and public address (the first's).
async fn two_instances(app: &TestApp, extra: &[(&str, &str)]) -> (Serve, Serve) {
    app.stop_server().await;
    let first = Serve::start(app, extra).await;
    let mut shared = vec![("ETUPASS_ISSUER", first.base.as_str())];
    shared.extend_from_slice(extra);
    let second = Serve::start(app, &shared).await;
    (first, second)
}

const VERIFIER: &str = "a-code-verifier-of-forty-three-characters-xx";

/// An authorization code for `client_id`, the browser signing in on the instance at
/// `base` (PKCE S256 with `VERIFIER`).
async fn code_at(browser: &Browser, base: &str, client_id: &str, scope: &str) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(VERIFIER.as_bytes()));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .append_pair("state", "s-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let (status, page) = browser
        .get(&format!("{base}/authorize?{query}"))
        .await
        .page();
    assert_eq!(status, 200, "{page}");
    sign_in_at(browser, base, &page, PASSWORD)
        .await
        .redirect()
        .param("code")
        .expect("a code")
}

/// The sign-in page's form posted to `base`.
async fn sign_in_at(browser: &Browser, base: &str, page: &str, password: &str) -> Landing {
    browser
        .post_form(
            &format!("{base}/login"),
            &[
                ("csrf_token", &form_field(page, "csrf_token").unwrap()),
                ("request", &form_field(page, "request").unwrap_or_default()),
                ("username", NUMBER),
                ("password", password),
            ],
        )
        .await
}

#[tokio::test]
async fn a_code_from_one_instance_is_redeemed_once_on_the_other_and_sessions_are_shared() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let (first, second) = two_instances(&app, &[]).await;

    let browser = Browser::new();
    let code = code_at(&browser, &first.base, &client.client_id, "openid").await;

    // Redeemed on the second instance.
    let http = reqwest::Client::new();
    let redeem = |base: String| {
        let http = http.clone();
        let code = code.clone();
        let client = client.clone();
        async move {
            http.post(format!("{base}/token"))
                .basic_auth(&client.client_id, client.client_secret.as_deref())
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let response = redeem(second.base.clone()).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    let introspect = |base: String| {
        let http = http.clone();
        let client = client.clone();
        let token = access_token.clone();
        async move {
            let answer: Value = http
                .post(format!("{base}/introspect"))
                .basic_auth(&client.client_id, client.client_secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["active"] == true
        }
    };
    assert!(introspect(first.base.clone()).await, "valid on both");
    assert!(introspect(second.base.clone()).await);

    // Replayed on the first: refused, and what the code gave is revoked on both.
    let replay = redeem(first.base.clone()).await;
    assert_eq!(replay.status(), 400);
    let error: Value = replay.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant");
    assert!(!introspect(first.base.clone()).await, "revoked at once");
    assert!(!introspect(second.base.clone()).await);

    // The session started on the first instance is the second's too (one cookie for the
    // public address; here both listen on 127.0.0.1).
    let (status, space) = browser
        .get(&format!("{}/account", second.base))
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        space.contains(NUMBER) && !space.contains("name=\"username\""),
        "the personal space, not the sign-in page: {space}"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_counted_across_both_instances() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let throttling = [
        ("ETUPASS_THROTTLE_ACCOUNT_FREE_ATTEMPTS", "2"),
        ("ETUPASS_THROTTLE_BASE_DELAY", "10m"),
    ];
    let (first, second) = two_instances(&app, &throttling).await;
    let status_of = |landing: Landing| match landing {
        Landing::Page(status, _) => status,
        Landing::Redirect(_) => 303,
    };
    // One wrong password on each instance: the two free attempts of the account.
    for base in [&first.base, &second.base] {
        let browser = Browser::new();
        let (_, page) = browser.get(&format!("{base}/login")).await.page();
        let landing = sign_in_at(&browser, base, &page, "wrong password").await;
        assert_eq!(status_of(landing), 401, "{base}: a wrong password");
    }
    // The wait the second failure imposed holds on both: neither checks the password.
    for base in [&first.base, &second.base] {
        let browser = Browser::new();
        let (_, page) = browser.get(&format!("{base}/login")).await.page();
        let landing = sign_in_at(&browser, base, &page, PASSWORD).await;
        assert_eq!(
            status_of(landing),
            429,
            "{base}: throttled by both instances' count"
        );
    }
}

#[tokio::test]
async fn a_thousand_queued_mails_are_delivered_exactly_once_between_two_instances() {
    const PEOPLE: usize = 1000;
    let app = TestApp::spawn().await;
    app.stop_server().await;
    crate::crash::import_with_mails_due_now(&app, PEOPLE);
    let fast = [("ETUPASS_MAIL_POLL_INTERVAL", "10ms")];
    let (_first, _second) = two_instances(&app, &fast).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while app.store.undelivered_mail_count().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} mails still undelivered",
            app.store.undelivered_mail_count().await.unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Every row is marked sent only after the relay took it: every mail is in the sink.
    let mails = app.mailbox.all();
    let ids: std::collections::HashSet<String> =
        mails.iter().filter_map(|m| message_id(&m.text)).collect();
    assert_eq!(ids.len(), PEOPLE, "one mail per student");
    assert_eq!(mails.len(), PEOPLE, "none delivered twice");
}

#[tokio::test]
async fn two_refreshes_racing_on_the_two_instances_get_the_same_successor() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            grant_types: vec![
                etupass::domain::client::GrantType::AuthorizationCode,
                etupass::domain::client::GrantType::RefreshToken,
            ],
            ..ClientOptions::default()
        })
        .await;
    let (first, second) =
        two_instances(&app, &[("ETUPASS_REFRESH_TOKEN_REUSE_GRACE", "10s")]).await;
    let browser = Browser::new();
    let code = code_at(
        &browser,
        &first.base,
        &client.client_id,
        "openid offline_access",
    )
    .await;
    let http = reqwest::Client::new();
    let token = |base: String, form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let client = client.clone();
        async move {
            let response = http
                .post(format!("{base}/token"))
                .basic_auth(&client.client_id, client.client_secret.as_deref())
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = token(
        first.base.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.into()),
            ("code_verifier", VERIFIER.into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let refresh = |base: &str| {
        token(
            base.to_string(),
            vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", refresh_token.clone()),
            ],
        )
    };
    // Two tabs refreshing at once, each answered by another instance.
    let (laptop, phone) = tokio::join!(refresh(&first.base), refresh(&second.base));
    assert_eq!(laptop.0, 200, "{}", laptop.1);
    assert_eq!(phone.0, 200, "{}", phone.1);
    assert_eq!(
        laptop.1["refresh_token"], phone.1["refresh_token"],
        "the same successor from both instances"
    );
    let successor = laptop.1["refresh_token"].as_str().unwrap().to_string();
    let (status, _) = token(
        second.base.clone(),
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", successor),
        ],
    )
    .await;
    assert_eq!(status, 200, "the shared successor works");
    // Once it is used, the old token's reuse is real reuse, on either instance.
    let (status, _) = refresh(&first.base).await;
    assert_eq!(status, 400);
}
