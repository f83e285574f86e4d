//! Client authentication with signed assertions (RFC 7523, OIDC Core §9):
//! `private_key_jwt` with inline keys or a `jwks_uri`, and `client_secret_jwt`.

use std::sync::{Arc, Mutex};

use etupass::domain::client::{AuthMethod, GrantType};
use josekit::jws::{JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Value};

use crate::helpers::{ClientOptions, TestApp, TestClient};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair a relying party holds: it signs, Etupass knows the public half.
struct ClientKey {
    signer: Box<dyn JwsSigner>,
    public: Value,
}

fn es256_key(kid: &str) -> ClientKey {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut private = pair.to_jwk_private_key();
    private.set_key_id(kid);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    ClientKey {
        signer: Box::new(josekit::jws::ES256.signer_from_jwk(&private).unwrap()),
        public: serde_json::to_value(public.as_ref()).unwrap(),
    }
}

struct Claims<'a> {
    client_id: &'a str,
    aud: Value,
    exp_in: i64,
    jti: String,
}

fn claims<'a>(app: &TestApp, client_id: &'a str) -> Claims<'a> {
    Claims {
        client_id,
        aud: json!(app.url("/token")),
        exp_in: 60,
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

fn sign(signer: &dyn JwsSigner, app: &TestApp, claims: &Claims<'_>) -> String {
    let now = etupass::domain::clock::Clock::now(&app.clock);
    let mut payload = JwtPayload::new();
    payload.set_issuer(claims.client_id);
    payload.set_subject(claims.client_id);
    payload.set_claim("aud", Some(claims.aud.clone())).unwrap();
    payload
        .set_claim("exp", Some(json!(now + claims.exp_in)))
        .unwrap();
    payload.set_claim("iat", Some(json!(now))).unwrap();
    payload.set_jwt_id(&claims.jti);
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    if let Some(kid) = signer.key_id() {
        header.set_key_id(kid);
    }
    jwt::encode_with_signer(&payload, &header, signer).unwrap()
}

/// A client_credentials request authenticated by `assertion`.
async fn token_with(app: &TestApp, assertion: &str, client_id: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn service(auth_method: AuthMethod) -> ClientOptions {
    ClientOptions {
        grant_types: vec![GrantType::ClientCredentials],
        auth_method,
        ..ClientOptions::default()
    }
}

async fn private_key_client(app: &TestApp, key: &ClientKey) -> TestClient {
    app.add_client(ClientOptions {
        jwks: Some(json!({ "keys": [key.public.clone()] })),
        ..service(AuthMethod::PrivateKeyJwt)
    })
    .await
}

#[tokio::test]
async fn private_key_jwt_authenticates_once_per_assertion() {
    let app = TestApp::spawn().await;
    let key = es256_key("k1");
    let client = private_key_client(&app, &key).await;
    assert!(client.client_secret.is_none(), "no secret for a key client");

    let assertion = sign(key.signer.as_ref(), &app, &claims(&app, &client.client_id));
    let (status, body) = token_with(&app, &assertion, Some(&client.client_id)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());

    // The same assertion again: its jti was spent.
    let (status, body) = token_with(&app, &assertion, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // The issuer is an accepted audience too (RFC 7523bis); client_id may be left out.
    let issuer_aud = Claims {
        aud: json!([app.issuer.clone()]),
        ..claims(&app, &client.client_id)
    };
    let (status, _) = token_with(&app, &sign(key.signer.as_ref(), &app, &issuer_aud), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn private_key_jwt_refuses_bad_assertions() {
    let app = TestApp::spawn().await;
    let key = es256_key("k1");
    let client = private_key_client(&app, &key).await;
    let id = client.client_id.as_str();
    let other_key = es256_key("k1");
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            sign(
                key.signer.as_ref(),
                &app,
                &Claims {
                    aud: json!("https://elsewhere.example/token"),
                    ..claims(&app, id)
                },
            ),
        ),
        (
            "expired",
            sign(
                key.signer.as_ref(),
                &app,
                &Claims {
                    exp_in: -5,
                    ..claims(&app, id)
                },
            ),
        ),
        (
            "valid for a day",
            sign(
                key.signer.as_ref(),
                &app,
                &Claims {
                    exp_in: 86_400,
                    ..claims(&app, id)
                },
            ),
        ),
        (
            "signed with another key",
            sign(other_key.signer.as_ref(), &app, &claims(&app, id)),
        ),
        ("not a JWT", "garbage".to_string()),
    ];
    for (case, assertion) in cases {
        let (status, body) = token_with(&app, &assertion, Some(id)).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"], "invalid_client", "{case}");
    }
    // A client_id that is not the assertion's subject.
    let someone_else = app.add_client(service(AuthMethod::ClientSecretBasic)).await;
    let assertion = sign(key.signer.as_ref(), &app, &claims(&app, id));
    let (status, _) = token_with(&app, &assertion, Some(&someone_else.client_id)).await;
    assert_eq!(status, 401);
    // A secret-based client cannot switch to assertions, nor a key client to a secret.
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // The wrong assertion type is a malformed request.
    let (status, body) = {
        let response = reqwest::Client::new()
            .post(app.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:example:saml"),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// A JWK Set served over HTTP on loopback, changeable while it runs (key rotation).
async fn serve_jwks(jwks: Arc<Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let jwks = jwks.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let body = jwks.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn private_key_jwt_follows_a_jwks_uri_through_key_rotation() {
    let app = TestApp::spawn().await;
    let first = es256_key("first");
    let jwks = Arc::new(Mutex::new(
        json!({ "keys": [first.public.clone()] }).to_string(),
    ));
    let uri = serve_jwks(jwks.clone()).await;
    let client = app
        .add_client(ClientOptions {
            jwks_uri: Some(uri),
            ..service(AuthMethod::PrivateKeyJwt)
        })
        .await;
    let id = client.client_id.as_str();
    let (status, body) = token_with(
        &app,
        &sign(first.signer.as_ref(), &app, &claims(&app, id)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The client rotates: a new kid makes Etupass fetch the set again at once.
    let second = es256_key("second");
    *jwks.lock().unwrap() = json!({ "keys": [second.public.clone()] }).to_string();
    // Within 10 s of the last fetch an unknown kid is refused, not refetched (no
    // amplification); the ManualClock does not drive Instant, so wait for real.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let (status, body) = token_with(
        &app,
        &sign(second.signer.as_ref(), &app, &claims(&app, id)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn client_secret_jwt_uses_the_issued_secret() {
    let app = TestApp::spawn().await;
    let client = app.add_client(service(AuthMethod::ClientSecretJwt)).await;
    let secret = client
        .client_secret
        .clone()
        .expect("a secret is issued once");
    let id = client.client_id.as_str();
    let hmac = |secret: &str| {
        josekit::jws::HS256
            .signer_from_bytes(secret.as_bytes())
            .unwrap()
    };
    let (status, body) =
        token_with(&app, &sign(&hmac(&secret), &app, &claims(&app, id)), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = token_with(
        &app,
        &sign(
            &hmac("not-the-secret-but-just-as-long-as-the-real-one"),
            &app,
            &claims(&app, id),
        ),
        None,
    )
    .await;
    assert_eq!(status, 401);
    // Nor may the secret be sent as it is: the client registered client_secret_jwt.
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // Introspection takes the same assertions, with its own URL as audience.
    let token = {
        let (_, body) =
            token_with(&app, &sign(&hmac(&secret), &app, &claims(&app, id)), None).await;
        body["access_token"].as_str().unwrap().to_string()
    };
    let assertion = sign(
        &hmac(&secret),
        &app,
        &Claims {
            aud: json!(app.url("/introspect")),
            ..claims(&app, id)
        },
    );
    let answer: Value = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[
            ("token", token.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true, "{answer}");
}
