//! The relying party: the real `openidconnect` client library, plus a browser-like HTTP
//! client (cookie jar, no automatic redirects) that posts the sign-in and consent forms.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    reqwest, AccessToken, AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::helpers::{TestApp, TestClient};
use etupass::domain::client::{AuthMethod, SigningAlg};

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The university claims released by the `etupass` scope.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UniversityClaims {
    pub student_number: Option<String>,
    #[serde(rename = "eduPersonAffiliation")]
    pub affiliations: Option<Vec<String>>,
    #[serde(rename = "eduPersonPrincipalName")]
    pub eppn: Option<String>,
}
impl AdditionalClaims for UniversityClaims {}

pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// A browser on another machine: its requests leave from `address`, one of the
    /// loopback range (127.0.0.0/8 all reaches the local server).
    pub fn from_address(address: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(address.parse::<std::net::IpAddr>().expect("an address"))
                .build()
                .unwrap(),
        }
    }
}

/// A relying party's HTTP client: never follows redirects (SSRF guard the library asks for).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn discover(app: &TestApp) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.issuer.clone()).unwrap(),
        &http_client(),
    )
    .await
    .expect("discovery succeeds")
}

pub async fn oidc_client(app: &TestApp, client: &TestClient) -> Client {
    let metadata = discover(app).await;
    let oidc = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.client_id.clone()),
        client.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect_uri.clone()).unwrap());
    match client.auth_method {
        AuthMethod::ClientSecretPost => oidc.set_auth_type(AuthType::RequestBody),
        _ => oidc,
    }
}

pub fn jws_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// One authorization request, as the relying party prepared it.
pub struct Authorization {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: Option<PkceCodeVerifier>,
}

pub fn authorization(oidc: &Client, scopes: &[&str], pkce: bool) -> Authorization {
    let mut request = oidc.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    let mut verifier = None;
    if pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(v);
    }
    let (url, state, nonce) = request.url();
    Authorization {
        url,
        state,
        nonce,
        verifier,
    }
}

/// A page's hidden form field, unescaped.
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&#x3D;", "=")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub struct Redirect {
    pub location: Url,
}

impl Redirect {
    pub fn param(&self, name: &str) -> Option<String> {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the browser saw after following the provider's pages.
pub enum Landing {
    /// Back at the relying party.
    Redirect(Redirect),
    /// Stopped on a provider page (status and HTML).
    Page(u16, String),
}

impl Landing {
    pub fn redirect(self) -> Redirect {
        match self {
            Landing::Redirect(r) => r,
            Landing::Page(status, html) => {
                panic!("expected a redirect, got a {status} page:\n{html}")
            }
        }
    }

    pub fn page(self) -> (u16, String) {
        match self {
            Landing::Page(status, html) => (status, html),
            Landing::Redirect(r) => panic!("expected a page, got a redirect to {}", r.location),
        }
    }
}

async fn land(response: reqwest::Response) -> Landing {
    let status = response.status().as_u16();
    let base = response.url().clone();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    match location {
        Some(location) if (300..400).contains(&status) => Landing::Redirect(Redirect {
            location: base.join(&location).expect("a valid redirect"),
        }),
        _ => Landing::Page(status, body),
    }
}

impl Browser {
    pub async fn get(&self, url: &str) -> Landing {
        land(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Landing {
        land(self.http.post(url).form(form).send().await.unwrap()).await
    }

    /// Posts the sign-in form shown on `page`.
    pub async fn sign_in(
        &self,
        app: &TestApp,
        page: &str,
        username: &str,
        password: &str,
    ) -> Landing {
        let csrf = form_field(page, "csrf_token").expect("the sign-in page has a CSRF token");
        let request = form_field(page, "request").expect("the sign-in page carries the request");
        self.post_form(
            &app.url("/login"),
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Opens `/login` and posts its form (no relying party), with `header` if any; the
    /// raw response (status, headers and cookies as they came).
    pub async fn sign_in_response(
        &self,
        app: &TestApp,
        username: &str,
        password: &str,
        header: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let (_, page) = self.get(&app.url("/login")).await.page();
        let csrf = form_field(&page, "csrf_token").expect("the sign-in page has a CSRF token");
        let mut request = self.http.post(app.url("/login")).form(&[
            ("csrf_token", csrf.as_str()),
            ("request", ""),
            ("username", username),
            ("password", password),
        ]);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    /// Answers the consent page shown on `page`.
    pub async fn consent(&self, app: &TestApp, page: &str, decision: &str) -> Landing {
        let csrf = form_field(page, "csrf_token").expect("the consent page has a CSRF token");
        let request = form_field(page, "request").expect("the consent page carries the request");
        self.post_form(
            &app.url("/consent"),
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
    }

    /// From the authorization URL to the redirect back: signs in if asked, consents if asked.
    pub async fn authorize(
        &self,
        app: &TestApp,
        url: &Url,
        username: &str,
        password: &str,
    ) -> Redirect {
        let mut landing = self.get(url.as_str()).await;
        if let Landing::Page(200, html) = &landing {
            if html.contains("name=\"password\"") {
                landing = self.sign_in(app, html, username, password).await;
            }
        }
        if let Landing::Page(200, html) = &landing {
            if html.contains("name=\"decision\"") {
                landing = self.consent(app, html, "allow").await;
            }
        }
        landing.redirect()
    }
}

/// The whole flow's outcome, verified as a relying party would.
pub struct SignedIn {
    pub tokens: CoreTokenResponse,
    pub claims: CoreIdTokenClaims,
    pub kid: Option<String>,
}

/// Exchanges the code and verifies the ID token against `/jwks`, nonce and `at_hash`.
pub async fn exchange(
    oidc: &Client,
    client: &TestClient,
    auth: Authorization,
    redirect: &Redirect,
) -> SignedIn {
    assert_eq!(
        redirect.param("state").as_deref(),
        Some(auth.state.secret().as_str())
    );
    let code = redirect.param("code").expect("a code in the redirect");
    let mut request = oidc.exchange_code(AuthorizationCode::new(code)).unwrap();
    if let Some(verifier) = auth.verifier {
        request = request.set_pkce_verifier(verifier);
    }
    let tokens = request
        .request_async(&http_client())
        .await
        .expect("token exchange succeeds");
    let id_token = tokens.id_token().expect("an ID token").clone();
    let verifier = oidc
        .id_token_verifier()
        .set_allowed_algs(vec![jws_alg(client.alg)]);
    let claims = id_token
        .claims(&verifier, &auth.nonce)
        .expect("the ID token verifies")
        .clone();
    let alg = id_token.signing_alg().unwrap();
    let key = id_token.signing_key(&verifier).unwrap();
    let expected = AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap();
    assert_eq!(
        claims.access_token_hash(),
        Some(&expected),
        "at_hash matches"
    );
    let kid = id_token_kid(&id_token.to_string());
    SignedIn {
        tokens,
        claims,
        kid,
    }
}

pub fn id_token_kid(jwt: &str) -> Option<String> {
    use base64::Engine;
    let header = jwt.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["kid"].as_str().map(str::to_string)
}

pub async fn userinfo(
    oidc: &Client,
    access_token: &AccessToken,
) -> UserInfoClaims<UniversityClaims, CoreGenderClaim> {
    oidc.user_info(access_token.clone(), None)
        .unwrap()
        .request_async(&http_client())
        .await
        .expect("userinfo succeeds")
}

pub fn access_token(tokens: &CoreTokenResponse) -> &AccessToken {
    tokens.access_token()
}

impl Browser {
    /// Posts the form of `page` to `action`, with the page's CSRF token added.
    pub async fn submit(
        &self,
        app: &TestApp,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Landing {
        let csrf = form_field(page, "csrf_token").expect("the page has a CSRF token");
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &csrf)];
        form.extend_from_slice(fields);
        self.post_form(&app.url(action), &form).await
    }

    /// Opens a page that must answer 200, and returns its HTML.
    pub async fn open(&self, url: &str) -> String {
        let (status, html) = self.get(url).await.page();
        assert_eq!(status, 200, "{url}: {html}");
        html
    }
}
