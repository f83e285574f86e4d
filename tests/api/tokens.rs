//! Refresh tokens (rotation, reuse, the grace window), introspection, revocation and the
//! client_credentials grant.

use etupass::domain::client::GrantType;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{self, Browser};

fn refreshing() -> ClientOptions {
    ClientOptions {
        first_party: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        ..ClientOptions::default()
    }
}

fn resource_server() -> ClientOptions {
    ClientOptions {
        grant_types: vec![GrantType::ClientCredentials],
        introspect: true,
        ..ClientOptions::default()
    }
}

async fn sign_in(app: &TestApp, client: &TestClient, number: &str) -> (String, Option<String>) {
    let oidc = rp::oidc_client(app, client).await;
    let auth = rp::authorization(&oidc, &["profile", "offline_access"], true);
    let redirect = Browser::new()
        .authorize(app, &auth.url, number, PASSWORD)
        .await;
    let signed_in = rp::exchange(&oidc, client, auth, &redirect).await;
    (
        signed_in.tokens.access_token().secret().clone(),
        signed_in.tokens.refresh_token().map(|r| r.secret().clone()),
    )
}

async fn post(
    app: &TestApp,
    path: &str,
    client: &TestClient,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> (u16, Value) {
    post(
        app,
        "/token",
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.add_identity("21900200").await;
    let client = app.add_client(refreshing()).await;
    let (access, refresh_token) = sign_in(&app, &client, "21900200").await;
    let first = refresh_token.expect("a refresh token for a client allowed the grant");

    let (status, body) = refresh(&app, &client, &first).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_string();
    let second_access = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first, "rotated");
    assert!(body["id_token"].is_string());
    assert_eq!(userinfo_status(&app, &second_access).await, 200);

    let (status, body) = refresh(&app, &client, &second).await;
    assert_eq!(status, 200);
    let third = body["refresh_token"].as_str().unwrap().to_string();

    // Presenting `first` again, even in the same second, is theft: the family dies.
    let (status, body) = refresh(&app, &client, &first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&app, &client, &third).await;
    assert_eq!(status, 400, "the newest token of the family is revoked too");
    assert_eq!(
        userinfo_status(&app, &second_access).await,
        401,
        "and the access tokens it issued"
    );
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "the code's own access token belongs to the family too"
    );

    // Another client cannot use it either.
    let other = app.add_client(refreshing()).await;
    let (_, fresh) = sign_in(&app, &client, "21900200").await;
    let (status, body) = refresh(&app, &other, &fresh.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_reuse_in_the_same_second_revokes_the_family_even_with_zero_grace_set() {
    // RFC 9700 §4.14.2: no window by default, and "0s" said outright means none either.
    for explicit in [false, true] {
        let mut builder = TestApp::builder();
        if explicit {
            builder = builder.with_config(|s| {
                s.refresh_token_reuse_grace = std::time::Duration::ZERO;
            });
        }
        let app = builder.spawn().await;
        app.add_identity("21900204").await;
        let client = app.add_client(refreshing()).await;
        let (_, token) = sign_in(&app, &client, "21900204").await;
        let token = token.unwrap();
        let (status, body) = refresh(&app, &client, &token).await;
        assert_eq!(status, 200, "{body}");
        let successor = body["refresh_token"].as_str().unwrap().to_string();
        let successor_access = body["access_token"].as_str().unwrap().to_string();
        let (status, body) = refresh(&app, &client, &token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "a reuse at once (explicit: {explicit})"
        );
        let (status, _) = refresh(&app, &client, &successor).await;
        assert_eq!(status, 400, "the family is revoked (explicit: {explicit})");
        assert_eq!(userinfo_status(&app, &successor_access).await, 401);
    }
}

#[tokio::test]
async fn two_racing_refreshes_without_a_window_leave_no_token_standing() {
    let app = TestApp::spawn().await;
    app.add_identity("21900205").await;
    let client = app.add_client(refreshing()).await;
    let (_, token) = sign_in(&app, &client, "21900205").await;
    let token = token.unwrap();
    let (first, second) = tokio::join!(
        refresh(&app, &client, &token),
        refresh(&app, &client, &token)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one wins, the other is a reuse");
    let winner = if first.0 == 200 { &first.1 } else { &second.1 };
    let successor = winner["refresh_token"].as_str().unwrap();
    let (status, _) = refresh(&app, &client, successor).await;
    assert_eq!(status, 400, "the reuse revoked the winner's successor too");
}

#[tokio::test]
async fn two_racing_refreshes_get_the_same_successor_within_a_configured_window() {
    let app = TestApp::builder()
        .with_config(|s| s.refresh_token_reuse_grace = std::time::Duration::from_secs(10))
        .spawn()
        .await;
    app.add_identity("21900201").await;
    let client = app.add_client(refreshing()).await;
    let (_, token) = sign_in(&app, &client, "21900201").await;
    let token = token.unwrap();
    let (laptop, phone) = tokio::join!(
        refresh(&app, &client, &token),
        refresh(&app, &client, &token)
    );
    assert_eq!(laptop.0, 200, "{}", laptop.1);
    assert_eq!(phone.0, 200, "{}", phone.1);
    assert_eq!(
        laptop.1["refresh_token"], phone.1["refresh_token"],
        "the same successor"
    );
    let successor = laptop.1["refresh_token"].as_str().unwrap();
    let (status, _) = refresh(&app, &client, successor).await;
    assert_eq!(status, 200, "the shared successor works");
    // Once the successor is used, the old token's reuse is real reuse, grace or not.
    let (status, _) = refresh(&app, &client, &token).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
    let app = TestApp::spawn().await;
    app.add_identity("21900202").await;
    let client = app.add_client(refreshing()).await;
    let (_, token) = sign_in(&app, &client, "21900202").await;
    let (status, body) = post(
        &app,
        "/token",
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_deref().unwrap()),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = post(
        &app,
        "/token",
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_deref().unwrap()),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn only_marked_resource_servers_introspect_other_clients_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900206").await;
    let webmail = app.add_client(refreshing()).await;
    let curious = app
        .add_client(ClientOptions {
            grant_types: vec![GrantType::ClientCredentials],
            ..ClientOptions::default()
        })
        .await;
    let (access, _) = sign_in(&app, &webmail, "21900206").await;
    let (status, answer) = post(&app, "/introspect", &curious, &[("token", &access)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::json!({"active": false}),
        "a confidential client not marked --introspect learns nothing of another's token"
    );
    // Its own tokens it may still look at.
    let (_, own) = post(
        &app,
        "/token",
        &curious,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let own = own["access_token"].as_str().unwrap();
    let (_, answer) = post(&app, "/introspect", &curious, &[("token", own)]).await;
    assert_eq!(answer["active"], true);
}

#[tokio::test]
async fn resource_servers_introspect_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900203").await;
    let webmail = app.add_client(refreshing()).await;
    let dovecot = app.add_client(resource_server()).await;
    let (access, _) = sign_in(&app, &webmail, "21900203").await;

    let (status, answer) = post(&app, "/introspect", &dovecot, &[("token", &access)]).await;
    assert_eq!(status, 200);
    assert_eq!(answer["active"], true);
    assert_eq!(
        answer["username"], "21900203",
        "the sign-in name, as IMAP compares it"
    );
    assert_eq!(answer["client_id"], webmail.client_id.as_str());
    assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());

    let (_, answer) = post(&app, "/introspect", &dovecot, &[("token", "garbage")]).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    let anonymous = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "introspection needs client authentication"
    );
    let public = app
        .add_client(ClientOptions {
            public: true,
            ..ClientOptions::default()
        })
        .await;
    let response = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", public.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "public clients may not introspect");
    // The caller and the token are read together: a wrong secret still learns nothing.
    let wrong_secret = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(&dovecot.client_id, Some("not the secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert_eq!(
        wrong_secret.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // No token: an unauthenticated caller is refused as such, an authenticated one is told.
    let no_token = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let (status, answer) = post(
        &app,
        "/introspect",
        &dovecot,
        &[("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // A refresh token is visible to its own client only.
    let (_, refresh_token) = sign_in(&app, &webmail, "21900203").await;
    let refresh_token = refresh_token.unwrap();
    let (_, answer) = post(&app, "/introspect", &dovecot, &[("token", &refresh_token)]).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    let (_, answer) = post(&app, "/introspect", &webmail, &[("token", &refresh_token)]).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "refresh_token");

    app.clock.advance(3601);
    let (_, answer) = post(&app, "/introspect", &dovecot, &[("token", &access)]).await;
    assert_eq!(answer["active"], false, "expired");
}

#[tokio::test]
async fn clients_revoke_their_own_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900204").await;
    let client = app.add_client(refreshing()).await;
    let other = app.add_client(refreshing()).await;
    let dovecot = app.add_client(resource_server()).await;
    let (access, refresh_token) = sign_in(&app, &client, "21900204").await;

    let (status, _) = post(&app, "/revoke", &other, &[("token", &access)]).await;
    assert_eq!(status, 200, "always 200");
    assert_eq!(
        userinfo_status(&app, &access).await,
        200,
        "another client's revocation does nothing"
    );
    let (status, _) = post(
        &app,
        "/revoke",
        &client,
        &[("token", &access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&app, &access).await, 401);
    let (_, answer) = post(&app, "/introspect", &dovecot, &[("token", &access)]).await;
    assert_eq!(answer["active"], false);

    let refresh_token = refresh_token.unwrap();
    let (status, body) = refresh(&app, &client, &refresh_token).await;
    assert_eq!(status, 200);
    let family_access = body["access_token"].as_str().unwrap().to_string();
    let successor = body["refresh_token"].as_str().unwrap().to_string();
    let (status, _) = post(&app, "/revoke", &client, &[("token", &successor)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        refresh(&app, &client, &successor).await.0,
        400,
        "revoked refresh token"
    );
    assert_eq!(
        userinfo_status(&app, &family_access).await,
        401,
        "with its access tokens"
    );
    let (status, _) = post(&app, "/revoke", &client, &[("token", "never-issued")]).await;
    assert_eq!(status, 200);
}

/// Tokens of concurrent requests are committed together (group commit): each request
/// still gets its own token, stored before it is answered.
#[tokio::test]
async fn concurrent_client_credentials_requests_each_get_a_stored_token() {
    let app = TestApp::spawn().await;
    let service = app.add_client(resource_server()).await;
    let answers = futures_util::future::join_all((0..64).map(|_| {
        post(
            &app,
            "/token",
            &service,
            &[("grant_type", "client_credentials")],
        )
    }))
    .await;
    let mut tokens = std::collections::HashSet::new();
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
        tokens.insert(body["access_token"].as_str().unwrap().to_string());
    }
    assert_eq!(tokens.len(), 64, "64 different tokens");
    for token in &tokens {
        let (_, answer) = post(&app, "/introspect", &service, &[("token", token)]).await;
        assert_eq!(answer["active"], true, "stored before it was handed out");
    }
}

/// A row that cannot be stored (its client was removed meanwhile) fails alone: the rows
/// committed in the same group are kept, and each caller gets its own row's answer.
#[tokio::test]
async fn a_token_that_cannot_be_stored_fails_alone_in_its_group() {
    use etupass::domain::grant::AccessToken;
    let app = TestApp::spawn().await;
    let service = app.add_client(resource_server()).await;
    let token = |n: usize, client_id: &str| AccessToken {
        token_hash: format!("group-commit-{n}"),
        client_id: client_id.to_string(),
        identity_id: None,
        session_id: None,
        code_hash: None,
        scope: String::new(),
        created_at: 1,
        expires_at: i64::MAX / 2,
        revoked_at: None,
        family_id: None,
        claims: None,
        signing_kid: None,
    };
    let results = futures_util::future::join_all((0..40).map(|n| {
        let client_id = if n == 17 {
            "removed-client"
        } else {
            service.client_id.as_str()
        };
        app.store.save_access_token(token(n, client_id), None)
    }))
    .await;
    for (n, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), n != 17, "row {n}: {result:?}");
    }
    for n in 0..40 {
        let stored = app
            .store
            .find_access_token(&format!("group-commit-{n}"))
            .await
            .unwrap();
        assert_eq!(stored.is_some(), n != 17, "row {n}");
    }
    // The same hash twice: the second is refused, the first stays.
    let again = app
        .store
        .save_access_token(token(3, &service.client_id), None)
        .await;
    assert!(again.is_err(), "a duplicate token is refused");
}

/// The instance remembers a service's client instead of reading it for every token, yet a
/// change made behind its back (by another instance or the command line; here by a
/// connection of the test's own) counts from the next request: the old secret is
/// refused and the new one accepted, a grant withdrawn is refused, a removed client gets
/// nothing. Each refused token is not stored either.
#[tokio::test]
async fn a_service_changed_or_removed_elsewhere_is_seen_at_its_next_token() {
    let app = TestApp::spawn().await;
    let service = app.add_client(resource_server()).await;
    let token_for = |client: TestClient| {
        let app = &app;
        async move {
            post(
                app,
                "/token",
                &client,
                &[("grant_type", "client_credentials")],
            )
            .await
        }
    };
    // An UPDATE that changes nothing counts the rows it matches.
    let stored_tokens = || {
        app.execute_elsewhere(format!(
            "UPDATE access_tokens SET scope = scope WHERE client_id = '{}'",
            service.client_id
        ))
    };
    for _ in 0..2 {
        assert_eq!(token_for(service.clone()).await.0, 200, "remembered");
    }
    assert_eq!(stored_tokens().await, 2);

    let new_secret = "a-secret-another-instance-set";
    let changed = app
        .execute_elsewhere(format!(
            "UPDATE clients SET secret_hash = '{}' WHERE id = '{}'",
            etupass::crypto::token::digest(new_secret),
            service.client_id
        ))
        .await;
    assert_eq!(changed, 1);
    let (status, body) = token_for(service.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(
        stored_tokens().await,
        2,
        "nothing stored for the old secret"
    );
    let rotated = TestClient {
        client_secret: Some(new_secret.to_string()),
        ..service.clone()
    };
    assert_eq!(token_for(rotated.clone()).await.0, 200, "the new secret");
    assert_eq!(token_for(rotated.clone()).await.0, 200, "remembered again");

    app.execute_elsewhere(format!(
        "UPDATE clients SET grant_types = '[\"authorization_code\"]' WHERE id = '{}'",
        service.client_id
    ))
    .await;
    let (status, body) = token_for(rotated.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(stored_tokens().await, 4);

    app.execute_elsewhere(format!(
        "UPDATE clients SET grant_types = '[\"client_credentials\"]' WHERE id = '{}'",
        service.client_id
    ))
    .await;
    assert_eq!(token_for(rotated.clone()).await.0, 200, "the grant back");
    app.execute_elsewhere(format!(
        "DELETE FROM clients WHERE id = '{}'",
        service.client_id
    ))
    .await;
    let (status, body) = token_for(rotated).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

/// A refusal decided on the remembered client is decided again on its row: a grant added
/// elsewhere after a refusal counts from the next request.
#[tokio::test]
async fn a_grant_added_elsewhere_after_a_refusal_counts_at_the_next_request() {
    let app = TestApp::spawn().await;
    let webmail = app.add_client(ClientOptions::default()).await;
    let form = [("grant_type", "client_credentials")];
    for _ in 0..2 {
        let (status, body) = post(&app, "/token", &webmail, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
    }
    app.execute_elsewhere(format!(
        "UPDATE clients SET grant_types = '[\"authorization_code\",\"client_credentials\"]' \
         WHERE id = '{}'",
        webmail.client_id
    ))
    .await;
    let (status, body) = post(&app, "/token", &webmail, &form).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn services_get_tokens_with_client_credentials() {
    let app = TestApp::spawn().await;
    let service = app.add_client(resource_server()).await;
    let (status, body) = post(
        &app,
        "/token",
        &service,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    assert_eq!(
        userinfo_status(&app, &token).await,
        403,
        "no person behind it: no openid scope"
    );
    let (_, answer) = post(&app, "/introspect", &service, &[("token", &token)]).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], service.client_id.as_str());
    assert!(answer.get("username").is_none());

    let (status, body) = post(
        &app,
        "/token",
        &service,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let webmail = app.add_client(ClientOptions::default()).await;
    let (status, body) = post(
        &app,
        "/token",
        &webmail,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn jwt_access_tokens_verify_offline_and_work_like_opaque_ones() {
    use etupass::crypto::jwt;
    use etupass::domain::client::AccessTokenFormat;

    let app = TestApp::spawn().await;
    app.add_identity("21900205").await;
    let client = app
        .add_client(ClientOptions {
            access_token_format: AccessTokenFormat::Jwt,
            ..refreshing()
        })
        .await;
    let dovecot = app.add_client(resource_server()).await;
    let (access, _) = sign_in(&app, &client, "21900205").await;
    assert_eq!(access.split('.').count(), 3, "a JWT");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    let keys = app.server.keys.current();
    let claims = jwt::verify_own(&keys, &access).expect("verifies against the published keys");
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert!(claims["jti"].is_string() && claims["sub"].is_string() && claims["exp"].is_i64());
    assert!(claims["scope"].as_str().unwrap().contains("openid"));

    assert_eq!(userinfo_status(&app, &access).await, 200);
    let (_, answer) = post(&app, "/introspect", &dovecot, &[("token", &access)]).await;
    assert_eq!(answer["active"], true);
    post(&app, "/revoke", &client, &[("token", &access)]).await;
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "revocable like any token"
    );
}

#[tokio::test]
async fn a_replayed_code_also_revokes_the_refresh_token_born_of_it() {
    let app = TestApp::spawn().await;
    app.add_identity("21900206").await;
    let client = app.add_client(refreshing()).await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let verifier = auth.verifier.as_ref().unwrap().secret().clone();
    let redirect = Browser::new()
        .authorize(&app, &auth.url, "21900206", PASSWORD)
        .await;
    let code = redirect.param("code").unwrap();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let refresh_token = signed_in.tokens.refresh_token().unwrap().secret().clone();
    let (status, _) = post(
        &app,
        "/token",
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400, "the replay is refused");
    assert_eq!(
        refresh(&app, &client, &refresh_token).await.0,
        400,
        "and the refresh token is dead"
    );
}

#[tokio::test]
async fn a_required_password_change_ends_refresh_tokens() {
    let app = TestApp::spawn().await;
    app.add_identity("21900207").await;
    let client = app.add_client(refreshing()).await;
    let (_, token) = sign_in(&app, &client, "21900207").await;
    let output = crate::helpers::etupass(
        &app,
        &["identity", "require-password-change", "21900207"],
        None,
    );
    assert!(output.status.success());
    let (status, _) = refresh(&app, &client, &token.unwrap()).await;
    assert_eq!(
        status, 400,
        "the client must send the person back through the sign-in"
    );
}

#[tokio::test]
async fn the_phone_scope_releases_the_registrar_phone_number() {
    let app = TestApp::spawn().await;
    let file = app.dir.path().join("phone.csv");
    std::fs::write(
        &file,
        "numero;nom;prenom;date_naissance;affiliation;mail_perso;telephone\n21900208;Durand;Zoé;2003-11-09;student;zoe@perso.example;+33 6 12 34 56 78\n",
    )
    .unwrap();
    assert!(
        crate::helpers::etupass(&app, &["identity", "import", file.to_str().unwrap()], None)
            .status
            .success()
    );
    let output = crate::helpers::etupass(
        &app,
        &["identity", "set-password", "21900208", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["phone"], true);
    let browser = Browser::new();
    let page = browser.open(auth.url.as_str()).await;
    // An administrator's password must be changed first.
    let (_, change) = browser
        .sign_in(&app, &page, "21900208", PASSWORD)
        .await
        .page();
    let request = rp::form_field(&change, "request").unwrap();
    let strong = "Violet piano marches under seven quiet lanterns";
    let redirect = browser
        .submit(
            &app,
            &change,
            "/password/change",
            &[
                ("request", &request),
                ("password", strong),
                ("confirmation", strong),
            ],
        )
        .await
        .redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let info = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(signed_in.tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(info["phone_number"], "+33 6 12 34 56 78");
    assert_eq!(info["phone_number_verified"], false);
    assert!(info.get("email").is_none(), "only what the scope releases");
}

#[tokio::test]
async fn a_new_charter_stops_refresh_tokens_until_the_person_signs_in() {
    let app = TestApp::spawn().await;
    app.add_identity("21900150").await;
    let client = app.add_client(refreshing()).await;
    let (_, refresh_token) = sign_in(&app, &client, "21900150").await;
    let refresh_token = refresh_token.expect("a refresh token");
    let (status, body) = refresh(&app, &client, &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let successor = body["refresh_token"].as_str().unwrap().to_string();

    app.store
        .publish_charter(
            "Charte v2".into(),
            etupass::domain::clock::Clock::now(&app.clock),
        )
        .await
        .unwrap();
    let (status, body) = refresh(&app, &client, &successor).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("sign in again"));
}

/// A service token has no person, code or family, so its row enters none of those three
/// indexes (they are partial); the lookups by each, shaped as the store sends them (a
/// bound value, the revocation's extra condition), must still use their index, never a
/// scan of every token. The lookup by digest reads one B-tree on SQLite.
#[tokio::test]
async fn token_lookups_by_digest_code_person_and_family_use_their_indexes() {
    let app = TestApp::spawn().await;
    for (column, index) in [
        ("code_hash", "access_tokens_code"),
        ("identity_id", "access_tokens_identity"),
        ("family_id", "access_tokens_family"),
    ] {
        for lookup in [
            format!("SELECT token_hash FROM access_tokens WHERE {column} = 'x'"),
            format!(
                "UPDATE access_tokens SET revoked_at = 1 \
                 WHERE {column} = 'x' AND revoked_at IS NULL"
            ),
        ] {
            let plan = app.query_plan(&lookup).await;
            assert!(plan.contains(index), "{lookup}: without {index}:\n{plan}");
            // SQLite says SEARCH for an index lookup, SCAN for a walk of everything;
            // PostgreSQL says Seq Scan for the latter.
            assert!(
                !plan.contains("Seq Scan"),
                "{lookup}: a scan of every token:\n{plan}"
            );
            if !plan.contains("Index") {
                assert!(plan.contains("SEARCH"), "{lookup}: not a search:\n{plan}");
            }
        }
        // The index holds only the rows with a value (a full one would serve this too).
        let nulls = app
            .query_plan(&format!(
                "SELECT token_hash FROM access_tokens WHERE {column} IS NULL"
            ))
            .await;
        assert!(
            !nulls.contains(index),
            "rows without {column} are not in {index}:\n{nulls}"
        );
    }
    // Found by digest in the primary key's B-tree, which on SQLite holds the row itself
    // (WITHOUT ROWID): no index of its own beside the table to insert into and read.
    let by_digest = app
        .query_plan("SELECT scope FROM access_tokens WHERE token_hash = 'x'")
        .await;
    if by_digest.contains("SEARCH") {
        assert!(
            by_digest.contains("USING PRIMARY KEY"),
            "the token row is in the primary key:\n{by_digest}"
        );
    } else {
        assert!(by_digest.contains("access_tokens_pkey"), "{by_digest}");
    }
}

/// Expired access tokens and codes are deleted, except what a replayed code still needs:
/// a token of a refresh family that lives on (the replay finds the family through it),
/// and the code such a token was born of.
#[tokio::test]
async fn expired_tokens_and_codes_are_purged_but_what_a_code_replay_needs_stays() {
    use etupass::crypto::token::digest;
    use etupass::domain::clock::Clock;
    use etupass::domain::grant::CodeLookup;
    let app = TestApp::spawn().await;
    app.add_identity("21900301").await;
    let service = app.add_client(resource_server()).await;
    let refreshing_client = app.add_client(refreshing()).await;
    let plain_client = app
        .add_client(ClientOptions {
            first_party: true,
            ..ClientOptions::default()
        })
        .await;
    let old_service_token = service_token(&app, &service).await;
    let (family_token, refresh) = sign_in(&app, &refreshing_client, "21900301").await;
    assert!(refresh.is_some());
    let (plain_token, none) = sign_in(&app, &plain_client, "21900301").await;
    assert!(none.is_none());
    let code_of = |token: String| {
        let store = app.store.clone();
        async move {
            let stored = store.find_access_token(&digest(&token)).await.unwrap();
            stored.and_then(|t| t.code_hash)
        }
    };
    let (family_code, plain_code) = (
        code_of(family_token.clone()).await.unwrap(),
        code_of(plain_token.clone()).await.unwrap(),
    );

    // Access tokens live an hour; two hours on, a new service token.
    app.clock.advance(2 * 3600 + 10);
    let new_service_token = service_token(&app, &service).await;
    let purged = app
        .store
        .purge_expired(app.clock.now() - 3600, 100)
        .await
        .unwrap();
    assert_eq!((purged.access_tokens, purged.authorization_codes), (2, 1));

    let stored = |token: String| {
        let store = app.store.clone();
        async move {
            store
                .find_access_token(&digest(&token))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!stored(old_service_token).await, "an expired service token");
    assert!(
        !stored(plain_token).await,
        "an expired token without family"
    );
    assert!(
        stored(family_token).await,
        "its family's refresh token lives"
    );
    assert!(stored(new_service_token).await, "not expired");
    let code_kept = |code_hash: String, client_id: String| {
        let store = app.store.clone();
        async move {
            let (lookup, _) = store
                .find_authorization_code(&code_hash, &client_id)
                .await
                .unwrap();
            !matches!(lookup, CodeLookup::Unknown)
        }
    };
    assert!(
        code_kept(family_code, refreshing_client.client_id.clone()).await,
        "a token born of it stays"
    );
    assert!(
        !code_kept(plain_code, plain_client.client_id.clone()).await,
        "nothing of it left"
    );
    let again = app
        .store
        .purge_expired(app.clock.now() - 3600, 100)
        .await
        .unwrap();
    assert_eq!((again.access_tokens, again.authorization_codes), (0, 0));
}

async fn service_token(app: &TestApp, service: &TestClient) -> String {
    let (status, body) = post(
        app,
        "/token",
        service,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}
