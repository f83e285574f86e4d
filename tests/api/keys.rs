//! The key set in the database: rotation without a restart, a key that signs only once
//! published for the JWKS cache lifetime, retirement, a compromised key, and the faults
//! of the key-encryption key.

use etupass::crypto::key_set::{KeyState, KEK_FILE};
use etupass::domain::client::{AccessTokenFormat, SigningAlg};
use etupass::domain::clock::Clock;
use openidconnect::core::CoreIdToken;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use std::process::Output;

use crate::helpers::{introspected_active, ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, Browser};

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = reqwest::get(app.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_rotated_key_is_published_at_once_and_signs_only_after_the_cache_lifetime() {
    let app = TestApp::spawn().await;
    app.add_identity("21900030").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let sign_in = |oidc| {
        let (app, client) = (&app, &client);
        async move {
            let oidc = oidc;
            let auth = rp::authorization(&oidc, &[], true);
            let nonce = auth.nonce.clone();
            let redirect = Browser::new()
                .authorize(app, &auth.url, "21900030", PASSWORD)
                .await;
            let signed = rp::exchange(&oidc, client, auth, &redirect).await;
            (signed, nonce)
        }
    };
    let oidc = rp::oidc_client(&app, &client).await;
    let (before, nonce) = sign_in(oidc.clone()).await;
    let old_token: CoreIdToken = before.tokens.id_token().unwrap().clone();
    let old_kid = before.kid.clone().unwrap();

    // Rotated through the key set, as `etupass keys rotate` does: no restart.
    let now = app.clock.now();
    let rotated = app
        .server
        .keys
        .rotate(&[SigningAlg::RS256], &app.clock)
        .await
        .unwrap();
    let new_kid = rotated[0].kid.clone();
    assert_eq!(rotated[0].life.state, KeyState::Next);
    let delay = app.server.keys.settings().publication_delay();
    assert_eq!(rotated[0].signs_from, now + delay);
    assert!(
        delay >= app.settings.jwks_max_age.as_secs() as i64,
        "a relying party that cached the JWKS just before the rotation is never surprised"
    );
    let kids = jwks_kids(&app).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let cache = reqwest::get(app.url("/jwks")).await.unwrap();
    assert_eq!(
        cache.headers()["cache-control"],
        format!("public, max-age={}", app.settings.jwks_max_age.as_secs()).as_str()
    );

    // Until its time, the old key signs.
    app.clock.advance(delay - 1);
    let (during, _) = sign_in(oidc.clone()).await;
    assert_eq!(during.kid.as_deref(), Some(old_kid.as_str()));
    // From then on the new one does, and the old token still verifies.
    app.clock.advance(1);
    let oidc = rp::oidc_client(&app, &client).await;
    assert!(old_token.claims(&oidc.id_token_verifier(), &nonce).is_ok());
    let (after, _) = sign_in(oidc.clone()).await;
    assert_eq!(after.kid.as_deref(), Some(new_kid.as_str()));

    // The old key is retired: published while its tokens may be valid, retiring it by
    // hand is refused, and it is removed once they have all expired.
    let listing = app.server.keys.list(app.clock.now()).await.unwrap();
    let old = listing.iter().find(|k| k.kid == old_kid).unwrap();
    assert_eq!(old.life.state, KeyState::Retired);
    let removed_at = old.life.removed_at.unwrap();
    // Kept while a session may still present an ID token it signed as a hint.
    assert_eq!(
        removed_at,
        rotated[0].signs_from + app.server.keys.settings().retention
    );
    assert!(
        app.server.keys.settings().retention
            > app
                .settings
                .session_lifetime
                .max(app.settings.id_token_lifetime)
                .as_secs() as i64
    );
    let refused = app
        .server
        .keys
        .retire(&old_kid, false, app.clock.now())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("stay valid until"), "{refused}");
    let active = app
        .server
        .keys
        .retire(&new_kid, false, app.clock.now())
        .await
        .unwrap_err()
        .to_string();
    assert!(active.contains("is the active RS256 key"), "{active}");
    app.clock.advance(removed_at - app.clock.now());
    app.server.keys.reload(app.clock.now()).await.unwrap();
    let kids = jwks_kids(&app).await;
    assert!(
        !kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    assert!(app
        .server
        .keys
        .list(app.clock.now())
        .await
        .unwrap()
        .iter()
        .all(|k| k.kid != old_kid));
}

#[tokio::test]
async fn a_compromised_key_retired_by_force_is_replaced_at_once_and_its_tokens_revoked() {
    let app = TestApp::spawn().await;
    app.add_identity("21900031").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            access_token_format: AccessTokenFormat::Jwt,
            ..ClientOptions::default()
        })
        .await;
    let dovecot = app
        .add_client(ClientOptions {
            grant_types: vec![etupass::domain::client::GrantType::ClientCredentials],
            introspect: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900031", PASSWORD)
        .await;
    let signed = rp::exchange(&oidc, &client, auth, &redirect).await;
    let compromised = signed.kid.clone().unwrap();
    let access = signed.tokens.access_token().secret().clone();
    let introspect = |token: String| {
        let (app, dovecot) = (&app, &dovecot);
        async move { introspected_active(&app.issuer, dovecot, &token).await }
    };
    assert!(introspect(access.clone()).await);

    let retired = app
        .server
        .keys
        .retire(&compromised, true, app.clock.now())
        .await
        .unwrap();
    assert_eq!(retired.revoked_tokens, 1, "the JWT access token it signed");
    let replacement = retired.replacement.expect("a key signs in its place");
    assert!(!introspect(access).await, "revoked at once");
    let kids = jwks_kids(&app).await;
    assert!(!kids.contains(&compromised) && kids.contains(&replacement));
    assert_eq!(
        app.server
            .keys
            .current()
            .active_kid(SigningAlg::RS256, app.clock.now()),
        Some(replacement.as_str()),
        "the replacement signs from now"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_key_encryption_key_stops_the_start_and_names_the_file() {
    let app = TestApp::spawn().await;
    app.stop_server().await;
    let kek = app.settings.keys_dir.join(KEK_FILE);
    let original = std::fs::read(&kek).unwrap();
    let start = || {
        let settings = app.settings.clone();
        async move {
            etupass::provider::Provider::open(
                settings,
                std::sync::Arc::new(etupass::domain::clock::SystemClock),
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
        }
    };
    std::fs::remove_file(&kek).unwrap();
    let missing = start().await.unwrap_err();
    assert!(
        missing.contains(&kek.display().to_string()) && missing.contains("missing"),
        "{missing}"
    );
    assert!(!kek.exists(), "never a silent new key-encryption key");
    std::fs::write(&kek, [9u8; 32]).unwrap();
    let wrong = start().await.unwrap_err();
    assert!(
        wrong.contains(&kek.display().to_string()) && wrong.contains("does not open"),
        "{wrong}"
    );
    std::fs::write(&kek, [9u8; 16]).unwrap();
    let short = start().await.unwrap_err();
    assert!(short.contains("32 bytes"), "{short}");
    std::fs::write(&kek, &original).unwrap();
    start().await.expect("the right key opens the set");
}

#[tokio::test]
async fn a_corrupted_sealed_key_is_refused_by_kid_and_the_others_keep_working() {
    let app = TestApp::spawn().await;
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 3, "one key per algorithm");
    let es256 = app
        .server
        .keys
        .current()
        .active_kid(SigningAlg::ES256, app.clock.now())
        .unwrap()
        .to_string();
    app.corrupt_sealed_key(&es256).await;
    app.server.keys.reload(app.clock.now()).await.unwrap();
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(!kids.contains(&es256));
    let keys = app.server.keys.current();
    assert!(keys
        .active_kid(SigningAlg::RS256, app.clock.now())
        .is_some());
    assert!(keys
        .active_kid(SigningAlg::EdDSA, app.clock.now())
        .is_some());
    assert!(keys
        .active_kid(SigningAlg::ES256, app.clock.now())
        .is_none());
}

#[tokio::test]
async fn rewrap_seals_the_set_under_a_new_key_encryption_key() {
    let app = TestApp::spawn().await;
    let kek = app.settings.keys_dir.join(KEK_FILE);
    let before = std::fs::read(&kek).unwrap();
    let kids = jwks_kids(&app).await;
    // A rewrap running (or one that stopped half-way) keeps a second one out.
    let pending = app.settings.keys_dir.join("key-encryption.key.new");
    std::fs::write(&pending, [1u8; 32]).unwrap();
    let refused = app.server.keys.rewrap().await.unwrap_err().to_string();
    assert!(
        refused.contains("rewrap is running or was interrupted"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&kek).unwrap(), before, "nothing changed");
    std::fs::remove_file(&pending).unwrap();
    let (secrets, keys) = app.server.keys.rewrap().await.unwrap();
    assert_eq!((secrets, keys), (3, 3));
    assert_ne!(std::fs::read(&kek).unwrap(), before);
    assert!(!pending.exists());
    let token_secret = app.server.token_secret.clone();
    let app = app.restart().await;
    assert_eq!(jwks_kids(&app).await, kids, "the same keys, sealed anew");
    assert_eq!(app.server.token_secret, token_secret);
}

/// `etupass` with this database and key directory.
fn etupass_keys(database_url: &str, keys_dir: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(args)
        .env("ETUPASS_DATABASE_URL", database_url)
        .env("ETUPASS_KEYS_DIR", keys_dir)
        .output()
        .expect("the etupass binary runs")
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[tokio::test]
async fn the_cli_makes_a_missing_key_directory_or_says_in_one_line_why_it_cannot() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let keys_dir = dir.path().join("not").join("there").join("keys");
    let rotated = etupass_keys(&database, &keys_dir, &["keys", "rotate"]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let printed = String::from_utf8_lossy(&rotated.stdout).into_owned();
    assert_eq!(printed.lines().count(), 3, "{printed}");
    assert!(printed
        .lines()
        .all(|l| l.contains(" published, signs from ")));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys_dir), 0o700);
    assert_eq!(mode(&keys_dir.join(KEK_FILE)), 0o600);

    let listed = etupass_keys(&database, &keys_dir, &["keys", "list"]);
    let listing: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let states = |state: &str| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == state)
            .count()
    };
    assert_eq!((states("active"), states("next")), (3, 3), "{listing}");
    let active = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "active" && k["alg"] == "RS256")
        .unwrap();
    assert!(active["stops_signing_at_utc"].is_string(), "{active}");
    let kid = active["kid"].as_str().unwrap();
    let refused = etupass_keys(&database, &keys_dir, &["keys", "retire", kid]);
    assert!(one_line_error(&refused).contains("is the active RS256 key"));
    // A kid is base64url: one in 32 begins with '-', and is still a kid.
    let unknown = etupass_keys(&database, &keys_dir, &["keys", "retire", "-jUnknown"]);
    assert!(one_line_error(&unknown).contains("no signing key has kid '-jUnknown'"));

    // A key directory that cannot be made: one line naming it and why.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let impossible = etupass_keys(&database, &file.join("keys"), &["keys", "list"]);
    let line = one_line_error(&impossible);
    assert!(
        line.contains("cannot create the key directory") && line.contains("a-file/keys"),
        "{line}"
    );
    // A new, empty directory on a database whose keys are sealed: the key is missing,
    // and none is made in its place.
    let elsewhere = dir.path().join("elsewhere");
    let missing = etupass_keys(&database, &elsewhere, &["keys", "list"]);
    assert!(one_line_error(&missing).contains("the key-encryption key is missing"));
    assert!(!elsewhere.join(KEK_FILE).exists());
}

#[tokio::test]
async fn keys_files_of_the_layout_before_are_imported_with_their_kids() {
    use etupass::crypto::keys;
    let legacy = tempfile::tempdir().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut kids = Vec::new();
    for (alg, age_ms) in [
        (SigningAlg::RS256, 900_000),
        (SigningAlg::RS256, 600_000),
        (SigningAlg::ES256, 600_000),
        (SigningAlg::EdDSA, 600_000),
    ] {
        let key = keys::generate(alg, 2048).unwrap();
        let name = format!("{}-{}-{}.pem", alg.as_str(), now_ms - age_ms, key.kid);
        std::fs::write(legacy.path().join(name), &key.private_pem).unwrap();
        kids.push(key.kid);
    }
    std::fs::write(legacy.path().join("token-secret.key"), [5u8; 32]).unwrap();
    std::fs::write(legacy.path().join("second-factor.key"), [6u8; 32]).unwrap();
    let saml = etupass::crypto::saml_credentials::SamlCredentials::load_or_create(
        legacy.path(),
        "login.univ.example",
    )
    .unwrap();
    let keys_dir = legacy.path().to_path_buf();
    let app = TestApp::builder()
        .with_config(move |s| s.keys_dir = keys_dir)
        .spawn()
        .await;

    let mut published = jwks_kids(&app).await;
    published.sort();
    let mut expected = kids.clone();
    expected.sort();
    assert_eq!(published, expected, "every key kept, kids unchanged");
    let keys = app.server.keys.current();
    assert_eq!(
        keys.active_kid(SigningAlg::RS256, app.clock.now()),
        Some(kids[1].as_str()),
        "the newest file signs, as before"
    );
    assert_eq!(app.server.token_secret, [5u8; 32]);
    assert!(app
        .server
        .saml_metadata
        .contains(&saml.certificate_base64()));
    // Imported once: a second start reads the database, not the files.
    std::fs::remove_file(app.settings.keys_dir.join("token-secret.key")).unwrap();
    let app = app.restart().await;
    assert_eq!(app.server.token_secret, [5u8; 32]);
    assert_eq!(jwks_kids(&app).await.len(), 4);
}

#[tokio::test]
async fn an_instance_whose_key_encryption_key_is_old_keeps_signing_after_a_rewrap_elsewhere() {
    use etupass::crypto::key_set::{self, KeySetSettings};
    let app = TestApp::spawn().await;
    let kids = jwks_kids(&app).await;
    // Another machine: its own copy of the key-encryption key, the same database.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.settings.keys_dir.join(KEK_FILE),
        elsewhere.path().join(KEK_FILE),
    )
    .unwrap();
    let mut settings = KeySetSettings::from(&app.settings);
    settings.keys_dir = elsewhere.path().to_path_buf();
    let (_, other) = key_set::open(settings, &app.store, app.clock.now())
        .await
        .unwrap();
    other.rewrap().await.unwrap();

    // This instance has not the new file yet: it keeps the keys it opened.
    app.server.keys.reload(app.clock.now()).await.unwrap();
    assert_eq!(jwks_kids(&app).await, kids);
    assert!(app
        .server
        .keys
        .current()
        .active_kid(SigningAlg::RS256, app.clock.now())
        .is_some());
    // Given the new file, it opens the set anew.
    std::fs::copy(
        elsewhere.path().join(KEK_FILE),
        app.settings.keys_dir.join(KEK_FILE),
    )
    .unwrap();
    let app = app.restart().await;
    assert_eq!(jwks_kids(&app).await, kids);
}
