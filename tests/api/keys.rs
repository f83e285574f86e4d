//! Key rotation: new tokens use the new key, old tokens still verify until retired.

use etupass::crypto::keys;
use etupass::domain::client::SigningAlg;
use openidconnect::core::CoreIdToken;
use openidconnect::TokenResponse;

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, Browser};

#[tokio::test]
async fn rotated_keys_sign_new_tokens_and_old_tokens_still_verify() {
    let app = TestApp::spawn().await;
    app.add_identity("21900030").await;
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &[], true);
    let nonce = auth.nonce.clone();
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900030", PASSWORD)
        .await;
    let before = rp::exchange(&oidc, &client, auth, &redirect).await;
    let old_token: CoreIdToken = before.tokens.id_token().unwrap().clone();
    let old_kid = before.kid.clone().unwrap();

    let rotated = keys::generate(&app.settings.keys_dir, SigningAlg::RS256, 2048).unwrap();
    assert_ne!(rotated.kid, old_kid);
    let app = app.restart().await;

    // The JWKS now holds both; the old ID token verifies against it.
    let oidc = rp::oidc_client(&app, &client).await;
    let verifier = oidc.id_token_verifier();
    assert!(
        old_token.claims(&verifier, &nonce).is_ok(),
        "old tokens still verify"
    );

    let auth = rp::authorization(&oidc, &[], true);
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900030", PASSWORD)
        .await;
    let after = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert_eq!(
        after.kid.as_deref(),
        Some(rotated.kid.as_str()),
        "new tokens use the new key"
    );

    // Retired, the old key is gone from the JWKS.
    keys::retire(&app.settings.keys_dir, &old_kid).unwrap();
    let app = app.restart().await;
    let jwks = reqwest::get(app.url("/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!jwks.contains(&old_kid));
    assert!(jwks.contains(&rotated.kid));
}
