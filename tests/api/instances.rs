//! Two `etupass serve` processes on one database, as behind a load balancer: nothing that
//! matters lives in one instance's memory. A code issued by one is redeemed once on the
//! other and its replay on either revokes what it gave; a session started on one is
//! seen by the other; failed sign-ins are counted across both; a thousand queued mails
//! are delivered exactly once between them. (On PostgreSQL in CI's
//! second run, the production setup; on SQLite in the first, one file shared.)

use base64::Engine;
use serde_json::Value;

use crate::crash::message_id;
use crate::helpers::{
    introspected_active, ClientOptions, TestApp, TestClient, PASSWORD, REDIRECT_URI,
};
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

/// `code` (with `VERIFIER`) redeemed at the token endpoint of the instance at `base`.
async fn redeem_at(
    http: &reqwest::Client,
    base: String,
    client: &TestClient,
    code: &str,
) -> reqwest::Response {
    http.post(format!("{base}/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
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
    let redeem = |base: String| redeem_at(&http, base, &client, &code);
    let response = redeem(second.base.clone()).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    let introspect = |base: String| {
        let (client, token) = (&client, &access_token);
        async move { introspected_active(&base, client, token).await }
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
    // The workers queue the activation mails in batches as they come due, so the outbox
    // can be empty between two batches: wait for every student's mail, then for an empty
    // outbox (a mail delivered twice would still be counted below).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let distinct = || {
        app.mailbox
            .all()
            .iter()
            .filter_map(|m| message_id(&m.text))
            .collect::<std::collections::HashSet<String>>()
            .len()
    };
    while distinct() < PEOPLE || app.store.undelivered_mail_count().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {PEOPLE} mails received, {} undelivered",
            distinct(),
            app.store.undelivered_mail_count().await.unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Every row is marked sent only after the relay took it: every mail is in the sink.
    assert_eq!(distinct(), PEOPLE, "one mail per student");
    assert_eq!(app.mailbox.all().len(), PEOPLE, "none delivered twice");
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

/// The kid of a JWT, if the JWKS holds a key of that kid whose signature checks.
fn verified_kid(jwks: &Value, token: &str) -> Option<String> {
    use josekit::jws::{EdDSA, JwsVerifier, ES256, RS256};
    let header = josekit::jwt::decode_header(token).ok()?;
    let kid = header.claim("kid")?.as_str()?.to_string();
    let key = jwks["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == kid.as_str())?;
    let jwk = josekit::jwk::Jwk::from_bytes(serde_json::to_vec(key).ok()?).ok()?;
    let verifier: Box<dyn JwsVerifier> = match key["alg"].as_str()? {
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).ok()?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&jwk).ok()?),
        _ => return None,
    };
    josekit::jwt::decode_with_verifier(token, verifier.as_ref()).ok()?;
    Some(kid)
}

async fn jwks_of(base: &str) -> Value {
    reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn instances_started_together_on_an_empty_database_make_one_key_set() {
    const INSTANCES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let database = crate::helpers::EmptyDatabase::create(dir.path());
    let env = [
        ("ETUPASS_DATABASE_URL", database.url.clone()),
        (
            "ETUPASS_KEYS_DIR",
            dir.path().join("keys").display().to_string(),
        ),
    ];
    // All started before any answers: they migrate, make the key-encryption key and the
    // key set at the same moment.
    let instances: Vec<Serve> = (0..INSTANCES)
        .map(|_| Serve::spawn(dir.path(), crate::serve::free_port(), &env))
        .collect();
    for instance in &instances {
        instance.ready().await;
    }
    let first = kids(&jwks_of(&instances[0].base).await);
    assert_eq!(first.len(), 3, "one key per algorithm: {first:?}");
    for instance in &instances[1..] {
        assert_eq!(
            kids(&jwks_of(&instance.base).await),
            first,
            "{}",
            instance.base
        );
    }
}

#[tokio::test]
async fn a_key_rotated_through_one_instance_is_served_by_both_and_every_token_verifies_on_each() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let (receiver, logout_tokens) = crate::helpers::http_recorder("/backchannel").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            access_token_format: etupass::domain::client::AccessTokenFormat::Jwt,
            backchannel_logout_uri: Some(receiver),
            ..ClientOptions::default()
        })
        .await;
    // Short intervals, as a test may: reload every second, JWKS cached two seconds.
    let timing = [
        ("ETUPASS_KEYS_RELOAD_INTERVAL", "1s"),
        ("ETUPASS_JWKS_MAX_AGE", "2s"),
    ];
    let (first, second) = two_instances(&app, &timing).await;
    let bases = [first.base.clone(), second.base.clone()];
    let http = reqwest::Client::new();
    // A code flow through one instance, redeemed on the other (which signs): the ID
    // token and the JWT access token.
    let tokens_from = |signing: usize| {
        let (http, bases, client) = (http.clone(), bases.clone(), client.clone());
        async move {
            let browser = Browser::new();
            let code = code_at(&browser, &bases[1 - signing], &client.client_id, "openid").await;
            let tokens: Value = redeem_at(&http, bases[signing].clone(), &client, &code)
                .await
                .json()
                .await
                .unwrap();
            (
                browser,
                [
                    tokens["id_token"].as_str().unwrap().to_string(),
                    tokens["access_token"].as_str().unwrap().to_string(),
                ],
            )
        }
    };
    // Every token verifies against both instances' JWKS, and names the key that did.
    let verify_everywhere = |tokens: Vec<String>| {
        let bases = bases.clone();
        async move {
            let mut signed_by = Vec::new();
            for base in &bases {
                let jwks = jwks_of(base).await;
                for token in &tokens {
                    let kid = verified_kid(&jwks, token)
                        .unwrap_or_else(|| panic!("a token does not verify against {base}/jwks"));
                    signed_by.push(kid);
                }
            }
            signed_by
        }
    };
    let mut before = Vec::new();
    for signing in [0, 1] {
        before.extend(tokens_from(signing).await.1);
    }
    let old_kids = verify_everywhere(before.clone()).await;
    assert!(
        old_kids.windows(2).all(|w| w[0] == w[1]),
        "one RS256 key signs"
    );

    // Rotated with the instances' configuration, as an operator would.
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(["keys", "rotate", "--alg", "RS256"])
        .env("ETUPASS_DATABASE_URL", app.settings.database_url.expose())
        .env("ETUPASS_KEYS_DIR", &app.settings.keys_dir)
        .envs(timing)
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let now = etupass::domain::clock::Clock::now(&etupass::domain::clock::SystemClock);
    let listing = app.server.keys.list(now).await.unwrap();
    let new_key = listing
        .iter()
        .find(|k| k.life.state == etupass::crypto::key_set::KeyState::Next)
        .expect("the rotation's key, not yet signing");
    assert!(
        new_key.signs_from - new_key.published_at >= 2,
        "published at least max-age"
    );

    // Published by both within the reload interval (a bounded wait, not a timing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for base in &bases {
        while !kids(&jwks_of(base).await).contains(&new_key.kid) {
            assert!(
                std::time::Instant::now() < deadline,
                "{base} never published it"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // Signing on, through and after the switch: every token verifies on both, and no
    // token carries the new kid before its time.
    let mut switched = [false, false];
    while switched != [true, true] {
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        for signing in [0, 1] {
            let (_, tokens) = tokens_from(signing).await;
            let iat = josekit::jwt::decode_header(&tokens[0]).ok().and(
                serde_json::from_slice::<Value>(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(tokens[0].split('.').nth(1).unwrap())
                        .unwrap(),
                )
                .ok(),
            );
            let iat = iat.unwrap()["iat"].as_i64().unwrap();
            for kid in verify_everywhere(tokens.to_vec()).await {
                if kid == new_key.kid {
                    assert!(iat >= new_key.signs_from, "signed before its time");
                    switched[signing] = true;
                }
            }
        }
    }
    // Tokens from before the rotation still verify on both.
    verify_everywhere(before).await;

    // A logout token, signed by the instance the person signs out on.
    let (browser, _) = tokens_from(1).await;
    let (_, home) = browser.get(&format!("{}/", bases[1])).await.page();
    browser
        .post_form(
            &format!("{}/logout", bases[1]),
            &[("csrf_token", &form_field(&home, "csrf_token").unwrap())],
        )
        .await;
    let logout_token = loop {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(10));
        let body = logout_tokens.lock().unwrap().first().cloned();
        if let Some(body) = body {
            let token = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "logout_token")
                .map(|(_, v)| v.into_owned())
                .expect("a logout_token parameter");
            break token;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let kids_seen = verify_everywhere(vec![logout_token]).await;
    assert!(
        kids_seen.iter().all(|kid| *kid == new_key.kid),
        "{kids_seen:?}"
    );
}

/// Each instance remembers a service's client for its client_credentials tokens; a client
/// removed by the command line (another process) gets no token from either, from the
/// first request after.
#[tokio::test]
async fn a_client_removed_by_the_command_line_gets_no_token_from_either_instance() {
    let app = TestApp::spawn().await;
    let service = app
        .add_client(ClientOptions {
            grant_types: vec![etupass::domain::client::GrantType::ClientCredentials],
            ..ClientOptions::default()
        })
        .await;
    let (first, second) = two_instances(&app, &[]).await;
    let http = reqwest::Client::new();
    let token_status = |base: String| {
        let (http, service) = (http.clone(), service.clone());
        async move {
            http.post(format!("{base}/token"))
                .basic_auth(&service.client_id, service.client_secret.as_deref())
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for base in [&first.base, &second.base, &first.base, &second.base] {
        assert_eq!(token_status(base.clone()).await, 200, "{base}");
    }
    let removed = std::process::Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(["client", "remove", &service.client_id])
        .env("ETUPASS_DATABASE_URL", app.settings.database_url.expose())
        .env("ETUPASS_KEYS_DIR", &app.settings.keys_dir)
        .output()
        .unwrap();
    assert!(removed.status.success(), "{removed:?}");
    for base in [&first.base, &second.base] {
        assert_eq!(token_status(base.clone()).await, 401, "{base}");
    }
}
