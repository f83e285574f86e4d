use crate::helpers::TestApp;
use crate::rp;

#[tokio::test]
async fn discovery_is_complete_and_truthful() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], app.issuer);
    assert_eq!(doc["authorization_endpoint"], app.url("/authorize"));
    assert_eq!(doc["token_endpoint"], app.url("/token"));
    assert_eq!(doc["userinfo_endpoint"], app.url("/userinfo"));
    assert_eq!(doc["jwks_uri"], app.url("/jwks"));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(doc["introspection_endpoint"], app.url("/introspect"));
    assert_eq!(doc["revocation_endpoint"], app.url("/revoke"));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
    // Every endpoint announced exists: none answers 404 or 405.
    let http = reqwest::Client::new();
    for (name, url) in doc.as_object().unwrap() {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        let url = url.as_str().unwrap();
        let get = http.get(url).send().await.unwrap().status();
        let post = http.post(url).send().await.unwrap().status();
        assert!(
            ![404, 405].contains(&get.as_u16()) || ![404, 405].contains(&post.as_u16()),
            "{name} ({url}) answers neither GET nor POST: {get} / {post}"
        );
    }
    // The CAS prefix it announces serves CAS.
    let cas = doc["cas_server_url_prefix"]
        .as_str()
        .expect("the CAS prefix");
    let answer = http
        .get(format!("{cas}/serviceValidate"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("INVALID_REQUEST"), "{answer}");
    // Nothing that is not implemented is announced.
    for absent in [
        "mtls_endpoint_aliases",
        "request_object_signing_alg_values_supported",
    ] {
        assert!(doc.get(absent).is_none(), "{absent} must not be announced");
    }
    // And the real relying-party library accepts it.
    let metadata = rp::discover(&app).await;
    assert_eq!(metadata.issuer().as_str(), app.issuer);
}

#[tokio::test]
async fn jwks_publishes_one_public_key_per_algorithm() {
    let app = TestApp::spawn().await;
    let jwks: serde_json::Value = reqwest::get(app.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| k.len() == 43));
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    // Made on first start, into the database: the key directory holds only the key
    // that seals them.
    let files: Vec<String> = std::fs::read_dir(app.dir.path().join("keys"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["key-encryption.key"]);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
    let expected = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => "postgresql",
        _ => "sqlite",
    };
    assert_eq!(
        app.store.backend(),
        expected,
        "the suite runs on the backend asked for"
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_speak_two_languages() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let fr = http.get(app.url("/login")).send().await.unwrap();
    let headers = fr.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_ascii_lowercase();
    assert!(
        set_cookie.contains("httponly") && set_cookie.contains("samesite=lax"),
        "{set_cookie}"
    );
    let html = fr.text().await.unwrap();
    assert!(html.contains("Se connecter") && html.contains("Mot de passe oublié"));
    assert!(
        html.contains("<label for=\"username\">"),
        "fields are labelled"
    );

    let en = http
        .get(app.url("/login"))
        .header("accept-language", "en-GB,en;q=0.9,fr;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Sign in") && en.contains("lang=\"en\""));
}

#[tokio::test]
async fn the_default_language_is_configurable() {
    let app = TestApp::builder()
        .with_config(|settings| settings.default_locale = "en".into())
        .spawn()
        .await;
    let html = reqwest::get(app.url("/login"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("lang=\"en\"") && html.contains("Forgot password?"));
}

#[tokio::test]
async fn an_https_issuer_gets_host_prefixed_secure_cookies_and_hsts() {
    let app = TestApp::builder()
        .with_config(|settings| settings.issuer = "https://login.univ.example".into())
        .spawn()
        .await;
    // The server still listens on loopback; only the issuer it announces is https.
    let response = reqwest::get(format!("http://{}/login", app.settings.bind))
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.starts_with("__Host-etupass_csrf="),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains("Secure") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
}

#[tokio::test]
async fn browser_apps_may_call_the_token_and_userinfo_endpoints() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    for path in ["/token", "/userinfo", "/jwks"] {
        let response = http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://spa.univ.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
    let response = http
        .post(app.url("/token"))
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "*",
        "errors too"
    );
}

/// Connections are not tested with a query at every checkout (that round trip cost every
/// request): one whose server went away is dropped when a query on it fails, so the
/// instance recovers by itself. PostgreSQL only: it is what can lose its connections
/// (a restart, a failover, a proxy); SQLite opens a file.
#[tokio::test]
async fn an_instance_whose_database_connections_are_cut_recovers_without_a_restart() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    let app = TestApp::spawn().await;
    let ready = || async {
        reqwest::get(app.url("/readyz"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);
    let database = url::Url::parse(app.settings.database_url.expose())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let cut = tokio::task::spawn_blocking(move || {
        let mut admin = PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ))
        .execute(&mut admin)
        .unwrap()
    })
    .await
    .unwrap();
    assert!(cut >= 1, "the server's connections were cut");
    // Each dead connection fails one request and is dropped; then it answers again.
    let mut failures = 0;
    while ready().await != 200 {
        failures += 1;
        assert!(
            failures <= app.settings.database_pool_size,
            "still failing after every pooled connection failed once"
        );
    }
    assert_eq!(ready().await, 200);
    assert_eq!(reqwest::get(app.url("/jwks")).await.unwrap().status(), 200);
}
