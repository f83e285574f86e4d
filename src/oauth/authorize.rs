//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), read top to bottom:
//! `parse` → `find_client` → `check_redirect_uri` (until here, errors show a page and
//! never redirect) → `check_request` (errors go back to the client) → `require_sign_in`
//! → `check_gates` → `require_consent` → `issue_code`. `prompt=none` is answered here
//! alone, at each step that would show a page (`login_required`, `interaction_required`,
//! `consent_required`).

use std::collections::HashSet;

use url::Url;

use super::error::{ErrorCode, OAuthError};
use super::pkce;
use crate::account::gates::{self, Gate};
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::{AuthorizationCode, RequestedClaims};
use crate::domain::identity::Identity;
use crate::domain::scope::{self, Scope};
use crate::domain::session::{acr_meets, Session, ACR_MFA, ACR_PASSWORD, ACR_VALUES_SUPPORTED};
use crate::provider::Provider;

/// The request parameters as received, in order, duplicates kept (RFC 6749 §3.1 forbids
/// them, and they must be detected, not silently merged).
#[derive(Debug, Clone, Default)]
pub struct RawRequest(pub Vec<(String, String)>);

impl RawRequest {
    pub fn from_urlencoded(encoded: &str) -> RawRequest {
        RawRequest(
            url::form_urlencoded::parse(encoded.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The parameters re-encoded, carried through the sign-in and consent forms so that
    /// the request is validated again, from scratch, when the person comes back.
    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// This request without the proof of a sign-in made for it (`SIGN_IN_PROOF`), and
    /// that proof.
    pub(crate) fn without_sign_in_proof(mut self) -> (RawRequest, Option<String>) {
        let mut proof = None;
        self.0.retain(|(k, v)| {
            if k == SIGN_IN_PROOF {
                proof = Some(v.clone());
                false
            } else {
                true
            }
        });
        (self, proof)
    }

    pub(crate) fn with_sign_in_proof(&self, proof: String) -> RawRequest {
        let mut carried = self.clone();
        carried.0.push((SIGN_IN_PROOF.to_string(), proof));
        carried
    }

    fn duplicated(&self) -> Option<&str> {
        let mut seen = HashSet::new();
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !seen.insert(*k))
    }
}

/// Why the request cannot even be answered to the client: shown on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntrustedRequest {
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
    /// A `request_uri` that is not a pushed request of this client, or is spent or expired.
    InvalidRequestUri,
}

impl UntrustedRequest {
    /// The i18n key of the page's message.
    pub fn message_key(self) -> &'static str {
        match self {
            UntrustedRequest::MissingClientId => "error.missing_client_id",
            UntrustedRequest::UnknownClient => "error.unknown_client",
            UntrustedRequest::MissingRedirectUri => "error.missing_redirect_uri",
            UntrustedRequest::UnregisteredRedirectUri => "error.unregistered_redirect_uri",
            UntrustedRequest::InvalidRequestUri => "error.invalid_request_uri",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

/// A request that passed every check and may be answered.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// The parameters in force: those received, or those pushed before (RFC 9126).
    pub raw: RawRequest,
    /// What the sign-in and consent forms carry to come back here: the parameters
    /// received, so a pushed request is looked up again and never rebuilt from a form.
    pub carried: RawRequest,
    /// The digest of the `request_uri` this request was pushed under.
    pushed: Option<String>,
    pub client: Client,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    prompt: Prompt,
    /// The subject of a valid `id_token_hint`: only that person's session may answer.
    hinted_subject: Option<String>,
    /// The `sub` value of the `claims` parameter: the same, checked on its own.
    claimed_subject: Option<String>,
    /// Claims asked for by name (`claims`, OIDC Core §5.5).
    pub claims: Option<RequestedClaims>,
    /// Authentication context classes asked for (`acr_values`, or `acr` in `claims`).
    acr: Option<AcrRequest>,
}

/// `acr_values` (voluntary) or an essential `acr` claim (OIDC Core §3.1.2.1, §5.5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AcrRequest {
    values: Vec<String>,
    essential: bool,
}

impl AcrRequest {
    /// `acr_values`, unless the `claims` parameter asked for an `acr` (which wins).
    fn from_request(raw: &RawRequest, from_claims: Option<AcrRequest>) -> Option<AcrRequest> {
        from_claims.or_else(|| {
            raw.get("acr_values").map(|values| AcrRequest {
                values: values
                    .split(' ')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect(),
                essential: false,
            })
        })
    }

    fn met_by(&self, session: &Session) -> bool {
        self.values.iter().any(|v| acr_meets(&session.acr, v))
    }

    /// The second factor is asked for, and a password alone is not offered as enough.
    fn needs_second_factor(&self) -> bool {
        self.values.iter().any(|v| v == ACR_MFA) && !self.values.iter().any(|v| v == ACR_PASSWORD)
    }
}

/// Whether the request (its `acr_values`, or an `acr` in `claims`) asks for the second
/// factor: a person without one is then asked to set it up before going on.
pub fn asks_for_second_factor(raw: &RawRequest) -> bool {
    let from_claims = parse_claims(raw.get("claims")).ok().and_then(|c| c.acr);
    AcrRequest::from_request(raw, from_claims).is_some_and(|acr| acr.needs_second_factor())
}

/// What just happened before this pass through the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// A fresh request from the relying party, or a page of ours coming back to it.
    Fresh,
    /// The person has just given a password: `prompt=login` and `max_age` are satisfied.
    SignedIn,
    /// The person has just agreed on the consent page.
    Consented,
}

/// The parameter that carries, through the pages between sign-in and the code (gates,
/// consent), the proof that the person signed in for this very request: only then do
/// `prompt=login` and `max_age` count as met after those pages. A MAC under the server
/// key of the session, the request and an expiry: a session alone (a browser left signed
/// in) cannot make one for another request.
pub const SIGN_IN_PROOF: &str = "etupass_signed_in";

/// How long the proof lasts: the pages between sign-in and the code take minutes.
const SIGN_IN_PROOF_SECS: i64 = 10 * 60;

pub(crate) fn sign_in_proof(
    provider: &Provider,
    session: &Session,
    request: &RawRequest,
) -> String {
    let expires = provider.now() + SIGN_IN_PROOF_SECS;
    let mac = token::derive(
        &provider.token_secret,
        &format!(
            "sign-in-proof:{}:{expires}:{}",
            session.id,
            request.encode()
        ),
    );
    format!("{expires}.{mac}")
}

fn proves_sign_in(
    provider: &Provider,
    session: &Session,
    request: &RawRequest,
    proof: &str,
) -> bool {
    let Some((expires, mac)) = proof.split_once('.') else {
        return false;
    };
    let Ok(expires_at) = expires.parse::<i64>() else {
        return false;
    };
    let expected = token::derive(
        &provider.token_secret,
        &format!(
            "sign-in-proof:{}:{expires}:{}",
            session.id,
            request.encode()
        ),
    );
    provider.now() < expires_at && token::constant_time_eq(expected.as_bytes(), mac.as_bytes())
}

/// Whether the person signed in for this very request: just now (`Interaction::SignedIn`),
/// or before the pages the current form comes from (a valid carried proof, which keeps
/// its first expiry: passing pages again never extends it). Shared by the OpenID Connect,
/// CAS and SAML pipelines.
#[derive(Debug, Clone)]
pub(crate) struct SignInForRequest {
    pub now: bool,
    carried: Option<String>,
    just_signed_in: bool,
}

impl SignInForRequest {
    /// Reads the proof taken off `raw` (see `RawRequest::without_sign_in_proof`).
    pub(crate) fn read(
        provider: &Provider,
        session: Option<&Session>,
        raw: &RawRequest,
        proof: Option<String>,
        interaction: Interaction,
    ) -> SignInForRequest {
        let carried = proof.filter(|proof| {
            session.is_some_and(|session| proves_sign_in(provider, session, raw, proof))
        });
        let just_signed_in = interaction == Interaction::SignedIn;
        SignInForRequest {
            now: just_signed_in || carried.is_some(),
            carried,
            just_signed_in,
        }
    }

    /// `raw` as the pages after the sign-in carry it: with the proof when the person
    /// signed in for it (a fresh one just after the password, else the one carried).
    pub(crate) fn carry(
        &self,
        provider: &Provider,
        session: &Session,
        raw: RawRequest,
    ) -> RawRequest {
        if !self.now {
            return raw;
        }
        let proof = match &self.carried {
            Some(proof) if !self.just_signed_in => proof.clone(),
            _ => sign_in_proof(provider, session, &raw),
        };
        raw.with_sign_in_proof(proof)
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// Never redirect: the client or the redirect URI cannot be trusted.
    ErrorPage(UntrustedRequest),
    /// Send the browser back to the client (with a code or an error).
    Redirect(String),
    SignIn(Box<ValidRequest>),
    /// A page the person must meet first (a second factor, a new charter…); its form
    /// carries `carried` back here.
    Gate {
        carried: RawRequest,
        identity: Box<Identity>,
        gate: Gate,
    },
    Consent(Box<ValidRequest>, Box<Identity>),
}

pub async fn authorize(
    provider: &Provider,
    raw: RawRequest,
    session: Option<(Session, Identity)>,
    interaction: Interaction,
) -> Result<Outcome, OAuthError> {
    let (raw, proof) = raw.without_sign_in_proof();
    let sign_in = SignInForRequest::read(
        provider,
        session.as_ref().map(|(s, _)| s),
        &raw,
        proof,
        interaction,
    );
    let signed_in_now = sign_in.now;
    let carried = raw.clone();
    let (raw, pushed) = match resolve_pushed(provider, raw).await? {
        Ok(resolved) => resolved,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    let client = match find_client(provider, &raw).await? {
        Ok(client) => client,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    let redirect_uri = match check_redirect_uri(&client, &raw) {
        Ok(uri) => uri,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    let state = raw.get("state").map(str::to_string);
    let request = match check_request(raw, client, redirect_uri.clone(), state.clone())
        .and_then(|request| require_pushed(request, pushed, carried))
        .and_then(|request| read_id_token_hint(provider, request))
    {
        Ok(request) => request,
        Err(error) => {
            return Ok(Outcome::Redirect(error_redirect(
                provider,
                &redirect_uri,
                state.as_deref(),
                &error,
            )))
        }
    };
    let now = provider.now();
    let Some((session, identity)) =
        require_sign_in(provider, &request, session, signed_in_now, now)
    else {
        if request.prompt.none {
            return Ok(Outcome::Redirect(request.error_redirect(
                provider,
                &OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
            )));
        }
        return Ok(Outcome::SignIn(Box::new(request)));
    };
    // The pages after sign-in carry the proof on, so that meeting them does not undo it.
    let mut request = request;
    request.carried = sign_in.carry(provider, &session, request.carried);
    if let Some(gate) = check_gates(provider, &request, &session, &identity).await? {
        if request.prompt.none {
            return Ok(Outcome::Redirect(request.error_redirect(
                provider,
                &OAuthError::new(
                    ErrorCode::InteractionRequired,
                    "the user must act on an Etupass page first",
                ),
            )));
        }
        return Ok(Outcome::Gate {
            carried: request.carried,
            identity: Box::new(identity),
            gate,
        });
    }
    if !request.client.admits(&identity) {
        return Ok(Outcome::Redirect(request.error_redirect(
            provider,
            &OAuthError::new(
                ErrorCode::AccessDenied,
                "this application is not open to alumni",
            ),
        )));
    }
    if require_consent(provider, &request, &identity, interaction).await? {
        if request.prompt.none {
            return Ok(Outcome::Redirect(request.error_redirect(
                provider,
                &OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented"),
            )));
        }
        return Ok(Outcome::Consent(Box::new(request), Box::new(identity)));
    }
    issue_code(provider, &request, &session, &identity).await
}

/// What stands between the signed-in person and this relying party, if anything: the
/// second step of a two-factor sign-in, a required password change, a new charter, a
/// second factor to set up (required by affiliation, or asked for by the client's `acr`).
async fn check_gates(
    provider: &Provider,
    request: &ValidRequest,
    session: &Session,
    identity: &Identity,
) -> Result<Option<Gate>, OAuthError> {
    let second_factor_asked = request
        .acr
        .as_ref()
        .is_some_and(AcrRequest::needs_second_factor);
    Ok(gates::pending_for_session(provider, identity, session, second_factor_asked).await?)
}

/// The person declined on the consent page (RFC 6749 §4.1.2.1 `access_denied`).
pub async fn deny(provider: &Provider, raw: RawRequest) -> Result<Outcome, OAuthError> {
    refuse(
        provider,
        raw,
        OAuthError::new(ErrorCode::AccessDenied, "the user declined"),
    )
    .await
}

/// Sends `error` back to the client, once the client and redirect URI are trusted.
async fn refuse(
    provider: &Provider,
    raw: RawRequest,
    error: OAuthError,
) -> Result<Outcome, OAuthError> {
    let raw = match resolve_pushed(provider, raw).await? {
        Ok((raw, _)) => raw,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    let client = match find_client(provider, &raw).await? {
        Ok(client) => client,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    let redirect_uri = match check_redirect_uri(&client, &raw) {
        Ok(uri) => uri,
        Err(page) => return Ok(Outcome::ErrorPage(page)),
    };
    Ok(Outcome::Redirect(error_redirect(
        provider,
        &redirect_uri,
        raw.get("state"),
        &error,
    )))
}

/// RFC 9126 §4: a `request_uri` stands for the parameters pushed under it, and the
/// `client_id` sent with it must be the one that pushed them; other parameters sent
/// alongside are ignored. Returns the parameters in force and the request_uri's digest.
pub async fn resolve_pushed(
    provider: &Provider,
    raw: RawRequest,
) -> Result<Result<(RawRequest, Option<String>), UntrustedRequest>, OAuthError> {
    let Some(request_uri) = raw.get("request_uri") else {
        return Ok(Ok((raw, None)));
    };
    let Some(reference) = request_uri.strip_prefix(super::par::REQUEST_URI_PREFIX) else {
        return Ok(Err(UntrustedRequest::InvalidRequestUri));
    };
    let uri_hash = token::digest(reference);
    let pushed = provider
        .store
        .find_pushed_request(uri_hash.clone(), provider.now())
        .await?;
    match pushed {
        Some(pushed) if raw.get("client_id") == Some(pushed.client_id.as_str()) => {
            Ok(Ok((RawRequest(pushed.parameters), Some(uri_hash))))
        }
        _ => Ok(Err(UntrustedRequest::InvalidRequestUri)),
    }
}

/// A client registered with `require_pushed_authorization_requests` must push first.
fn require_pushed(
    mut request: ValidRequest,
    pushed: Option<String>,
    carried: RawRequest,
) -> Result<ValidRequest, OAuthError> {
    if request.client.require_pushed_authorization_requests && pushed.is_none() {
        return Err(OAuthError::invalid_request(
            "this client must push its authorization requests first (RFC 9126)",
        ));
    }
    request.pushed = pushed;
    request.carried = carried;
    Ok(request)
}

/// Checks a request about to be pushed (RFC 9126 §2.1) as the authorization endpoint
/// would, before anyone signs in: every error is answered to the client directly.
pub fn check_pushed(raw: RawRequest, client: Client) -> Result<(), OAuthError> {
    if raw.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "a pushed request cannot itself carry a request_uri",
        ));
    }
    let redirect_uri = check_redirect_uri(&client, &raw).map_err(|reason| match reason {
        UntrustedRequest::MissingRedirectUri => {
            OAuthError::invalid_request("redirect_uri is required")
        }
        _ => OAuthError::invalid_request("redirect_uri is not registered for this client"),
    })?;
    let state = raw.get("state").map(str::to_string);
    check_request(raw, client, redirect_uri, state).map(|_| ())
}

async fn find_client(
    provider: &Provider,
    raw: &RawRequest,
) -> Result<Result<Client, UntrustedRequest>, OAuthError> {
    let Some(client_id) = raw.get("client_id") else {
        return Ok(Err(UntrustedRequest::MissingClientId));
    };
    Ok(provider
        .store
        .find_client(client_id)
        .await?
        .ok_or(UntrustedRequest::UnknownClient))
}

/// Exact match against the registered URIs (RFC 9700 §4.1.3); required, as OIDC does.
fn check_redirect_uri(client: &Client, raw: &RawRequest) -> Result<String, UntrustedRequest> {
    let candidate = raw
        .get("redirect_uri")
        .ok_or(UntrustedRequest::MissingRedirectUri)?;
    client
        .registered_redirect_uri(candidate)
        .map(|uri| uri.as_str().to_string())
        .ok_or(UntrustedRequest::UnregisteredRedirectUri)
}

fn check_request(
    raw: RawRequest,
    client: Client,
    redirect_uri: String,
    state: Option<String>,
) -> Result<ValidRequest, OAuthError> {
    if let Some(name) = raw.duplicated() {
        return Err(OAuthError::invalid_request(format!(
            "the parameter '{name}' is repeated"
        )));
    }
    if raw.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    match raw.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if let Some(mode) = raw.get("response_mode") {
        if mode != "query" {
            return Err(OAuthError::invalid_request(
                "only response_mode=query is supported",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scope = Scope::parse_supported(raw.get("scope").unwrap_or(""));
    if !scope.contains(scope::OPENID) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the scope must include openid",
        ));
    }
    let code_challenge = check_pkce(&raw, &client)?;
    let prompt = parse_prompt(raw.get("prompt"))?;
    let max_age = match raw.get("max_age") {
        None => None,
        Some(value) => Some(
            value
                .parse::<u64>()
                .map_err(|_| OAuthError::invalid_request("max_age must be a number of seconds"))?,
        ),
    };
    let ParsedClaims {
        requested: claims,
        acr: essential_acr,
        subject: claimed_subject,
    } = parse_claims(raw.get("claims"))?;
    let acr = AcrRequest::from_request(&raw, essential_acr);
    let nonce = raw.get("nonce").map(str::to_string);
    if nonce
        .as_ref()
        .is_some_and(|n| n.len() > 255 || n.chars().any(char::is_control))
    {
        return Err(OAuthError::invalid_request(
            "nonce must be at most 255 printable characters",
        ));
    }
    Ok(ValidRequest {
        carried: raw.clone(),
        pushed: None,
        login_hint: raw.get("login_hint").map(str::to_string),
        ui_locales: raw.get("ui_locales").map(str::to_string),
        raw,
        client,
        redirect_uri,
        state,
        scope,
        nonce,
        code_challenge,
        max_age,
        prompt,
        hinted_subject: None,
        claimed_subject,
        claims,
        acr,
    })
}

/// The `claims` parameter (OIDC Core §5.5): a JSON object whose `userinfo` and
/// `id_token` members name claims, each `null` or an object of `essential`, `value`,
/// `values`. Claims about the person are kept by name; an `acr` in `id_token` becomes the
/// request's authentication requirement. Other members and unknown names are ignored,
/// as §5.5 says.
fn parse_claims(raw: Option<&str>) -> Result<ParsedClaims, OAuthError> {
    let Some(raw) = raw else {
        return Ok(ParsedClaims::default());
    };
    let invalid = |why: &str| OAuthError::invalid_request(format!("claims: {why}"));
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| invalid("not a JSON object"))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("not a JSON object"))?;
    let mut requested = RequestedClaims::default();
    let mut acr = None;
    let mut subject = None;
    for (target, names) in [
        ("userinfo", &mut requested.userinfo),
        ("id_token", &mut requested.id_token),
    ] {
        let Some(member) = object.get(target) else {
            continue;
        };
        let member = member
            .as_object()
            .ok_or_else(|| invalid("userinfo and id_token must be objects"))?;
        for (name, request) in member {
            if !(request.is_null() || request.is_object()) {
                return Err(invalid("each claim must be null or an object"));
            }
            if name == "sub" && target == "id_token" {
                // §5.5.1: only that person's session may answer, as with id_token_hint.
                if let Some(sub) = request.get("value").and_then(|v| v.as_str()) {
                    subject = Some(sub.to_string());
                }
            } else if name == "acr" && target == "id_token" {
                let values: Vec<String> = match (request.get("values"), request.get("value")) {
                    (Some(serde_json::Value::Array(list)), _) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    (_, Some(serde_json::Value::String(one))) => vec![one.clone()],
                    _ => Vec::new(),
                };
                let essential = request.get("essential").and_then(|e| e.as_bool()) == Some(true);
                if !values.is_empty() {
                    acr = Some(AcrRequest { values, essential });
                }
            } else if super::claims::scope_releasing(name).is_some() {
                names.push(name.clone());
            }
        }
    }
    Ok(ParsedClaims {
        requested: (!requested.is_empty()).then_some(requested),
        acr,
        subject,
    })
}

/// What the `claims` parameter asks for.
#[derive(Debug, Default)]
struct ParsedClaims {
    requested: Option<RequestedClaims>,
    acr: Option<AcrRequest>,
    /// `sub` with a `value` in `id_token`: the person expected.
    subject: Option<String>,
}

/// `id_token_hint`: an ID token we issued (expired ones too), naming the expected person.
fn read_id_token_hint(
    provider: &Provider,
    mut request: ValidRequest,
) -> Result<ValidRequest, OAuthError> {
    let Some(hint) = request.raw.get("id_token_hint") else {
        return Ok(request);
    };
    let claims = crate::crypto::jwt::verify_own(&provider.keys.current(), hint)
        .filter(|claims| {
            claims.get("iss").and_then(|v| v.as_str()) == Some(provider.settings.issuer())
        })
        .ok_or_else(|| {
            OAuthError::invalid_request("id_token_hint is not an ID token of this provider")
        })?;
    request.hinted_subject = claims
        .get("sub")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(request)
}

/// S256 only; required from public clients, accepted from all (RFC 9700 §2.1.1).
fn check_pkce(raw: &RawRequest, client: &Client) -> Result<Option<String>, OAuthError> {
    let challenge = raw.get("code_challenge");
    match raw.get("code_challenge_method") {
        Some(pkce::S256) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not accepted)",
            ))
        }
        None if challenge.is_some() => {
            // RFC 7636 defaults a missing method to plain, which is refused.
            return Err(OAuthError::invalid_request(
                "code_challenge_method=S256 is required with a code_challenge",
            ));
        }
        None => {}
    }
    match challenge {
        Some(c) if pkce::is_valid_challenge(c) => Ok(Some(c.to_string())),
        Some(_) => Err(OAuthError::invalid_request(
            "code_challenge must be a base64url SHA-256 (43 characters)",
        )),
        None if client.public => Err(OAuthError::invalid_request(
            "a public client must use PKCE (code_challenge with S256)",
        )),
        None => Ok(None),
    }
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // Accounts are not switched here; signing in again is how one changes account.
            "select_account" => prompt.login = true,
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "unsupported prompt value '{other}'"
                )))
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// The session that may answer this request, if any: present, of an active identity,
/// and fresh enough for `prompt=login` and `max_age` unless the person just signed in.
fn require_sign_in(
    provider: &Provider,
    request: &ValidRequest,
    session: Option<(Session, Identity)>,
    signed_in_now: bool,
    now: i64,
) -> Option<(Session, Identity)> {
    let (session, identity) = session?;
    if !identity.can_sign_in() {
        return None;
    }
    // OIDC Core §3.1.2.1 and §5.5.1: the hint, and a `sub` asked for with a value, name
    // who the relying party expects; another person's session must not answer (with
    // prompt=none this becomes login_required).
    let subject = super::subject::for_client(provider, &request.client, &identity);
    if [&request.hinted_subject, &request.claimed_subject]
        .into_iter()
        .flatten()
        .any(|expected| *expected != subject)
    {
        return None;
    }
    if !signed_in_now {
        if request.prompt.login {
            return None;
        }
        // An acr the session does not meet, but a fresh sign-in could: ask again. (Two
        // factors asked for are a gate, `check_gates`: the second step, or setting one up.)
        if request.acr.as_ref().is_some_and(|acr| {
            !acr.needs_second_factor()
                && !acr.met_by(&session)
                && acr
                    .values
                    .iter()
                    .any(|v| ACR_VALUES_SUPPORTED.contains(&v.as_str()))
        }) {
            return None;
        }
        if let Some(max_age) = request.max_age {
            if session.older_than(max_age, now) {
                return None;
            }
        }
    }
    Some((session, identity))
}

/// Whether the consent page must be shown: never for first-party clients, nor right after
/// the person agreed (the consent is then recorded); otherwise when asked
/// (`prompt=consent`) or when the remembered consent does not cover the scope.
async fn require_consent(
    provider: &Provider,
    request: &ValidRequest,
    identity: &Identity,
    interaction: Interaction,
) -> Result<bool, OAuthError> {
    if request.client.first_party {
        return Ok(false);
    }
    if interaction == Interaction::Consented {
        // Remembered, so the next sign-in to this client goes straight through.
        provider
            .store
            .grant_consent(
                &identity.id,
                &request.client.client_id,
                &request.consent_scope(),
                provider.now(),
            )
            .await?;
        return Ok(false);
    }
    if request.prompt.consent {
        return Ok(true);
    }
    let granted = provider
        .store
        .find_consent(&identity.id, &request.client.client_id)
        .await?;
    Ok(!granted.is_some_and(|g| request.consent_scope().is_subset(&g)))
}

async fn issue_code(
    provider: &Provider,
    request: &ValidRequest,
    session: &Session,
    identity: &Identity,
) -> Result<Outcome, OAuthError> {
    let now = provider.now();
    // An essential acr the sign-in does not meet is a failed authentication (§5.5.1.1).
    if let Some(acr) = request.acr.as_ref().filter(|acr| acr.essential) {
        if !acr.met_by(session) {
            return Ok(Outcome::Redirect(request.error_redirect(
                provider,
                &OAuthError::new(
                    ErrorCode::UnmetAuthenticationRequirements,
                    "the sign-in does not meet the essential acr requested",
                ),
            )));
        }
    }
    if let Some(uri_hash) = &request.pushed {
        // A pushed request yields one code: a second tab or a replayed request_uri
        // finds it spent.
        if !provider
            .store
            .consume_pushed_request(uri_hash.clone(), now)
            .await?
        {
            return Ok(Outcome::Redirect(request.error_redirect(
                provider,
                &OAuthError::new(
                    ErrorCode::InvalidRequestUri,
                    "the pushed request was already used",
                ),
            )));
        }
    }
    let code = token::generate();
    provider
        .store
        .save_authorization_code(AuthorizationCode {
            code_hash: token::digest(&code),
            client_id: request.client.client_id.clone(),
            identity_id: identity.id.clone(),
            session_id: session.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.to_string(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            acr: session.acr.clone(),
            amr: session.amr.clone(),
            created_at: now,
            expires_at: now + provider.settings.authorization_code_lifetime.as_secs() as i64,
            claims: request.claims.clone(),
        })
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    params.push(("iss", provider.settings.issuer()));
    Ok(Outcome::Redirect(with_query(
        &request.redirect_uri,
        &params,
    )))
}

impl ValidRequest {
    /// The host the browser is sent back to (shown on the consent page).
    pub fn redirect_host(&self) -> String {
        Url::parse(&self.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.redirect_uri.clone())
    }

    pub fn error_redirect(&self, provider: &Provider, error: &OAuthError) -> String {
        error_redirect(provider, &self.redirect_uri, self.state.as_deref(), error)
    }

    /// What the person agrees to: the scope, and the scopes that would release the
    /// claims asked for by name.
    fn consent_scope(&self) -> Scope {
        let implied: Vec<&str> = self
            .claims
            .iter()
            .flat_map(|c| c.userinfo.iter().chain(&c.id_token))
            .filter_map(|name| super::claims::scope_releasing(name))
            .collect();
        self.scope
            .union(&Scope::parse_supported(&implied.join(" ")))
    }

    /// The scopes the consent page lists (`openid` itself needs no words).
    pub fn consent_scopes(&self) -> Vec<String> {
        self.consent_scope()
            .iter()
            .filter(|s| *s != scope::OPENID)
            .map(str::to_string)
            .collect()
    }
}

fn error_redirect(
    provider: &Provider,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", provider.settings.issuer()));
    with_query(redirect_uri, &params)
}

/// Appends parameters to a registered redirect URI, keeping its own query (RFC 6749 §3.1.2).
fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        // Registered URIs are parsed at registration; this cannot happen for them.
        Err(_) => redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found() {
        let raw = RawRequest::from_urlencoded("a=1&b=2&a=3");
        assert_eq!(raw.duplicated(), Some("a"));
        assert_eq!(RawRequest::from_urlencoded("a=1&b=2").duplicated(), None);
    }

    #[test]
    fn encode_round_trips() {
        let raw = RawRequest::from_urlencoded("scope=openid+email&state=a%26b");
        let again = RawRequest::from_urlencoded(&raw.encode());
        assert_eq!(again.get("scope"), Some("openid email"));
        assert_eq!(again.get("state"), Some("a&b"));
    }

    #[test]
    fn prompt_none_stands_alone() {
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
        let p = parse_prompt(Some("login consent")).unwrap();
        assert!(p.login && p.consent && !p.none);
    }

    #[test]
    fn redirect_keeps_the_registered_query() {
        let url = with_query("https://rp.example/cb?tenant=x", &[("code", "a b")]);
        assert_eq!(url, "https://rp.example/cb?tenant=x&code=a+b");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::domain::client::{AccessTokenFormat, AuthMethod, SigningAlg};
    use crate::domain::redirect_uri::RedirectUri;
    use proptest::prelude::*;

    fn client(public: bool) -> Client {
        Client {
            client_id: "rp".into(),
            name: "RP".into(),
            secret_hash: None,
            redirect_uris: vec![RedirectUri::parse("https://rp.example/cb").unwrap()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            token_endpoint_auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            public,
            first_party: false,
            id_token_signed_response_alg: SigningAlg::RS256,
            access_token_format: AccessTokenFormat::Opaque,
            backchannel_logout_uri: None,
            pairwise_sector: None,
            jwks: None,
            jwks_uri: None,
            secret_salt: None,
            require_pushed_authorization_requests: false,
            refresh_token_lifetimes: None,
            registration_token_hash: None,
            open_to_alumni: false,
            open_to_parents: false,
            attribute_writer: false,
            released_attributes: Vec::new(),
            app_password_purposes: Vec::new(),
            may_introspect: false,
            created_at: 0,
        }
    }

    /// The parameters of an authorization request, with values that are sometimes
    /// right, sometimes near misses, sometimes anything.
    fn parameter() -> impl Strategy<Value = (String, String)> {
        let name = prop::sample::select(vec![
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "prompt",
            "max_age",
            "code_challenge",
            "code_challenge_method",
            "claims",
            "acr_values",
            "ui_locales",
            "login_hint",
            "response_mode",
            "request",
            "request_uri",
            "id_token_hint",
            SIGN_IN_PROOF,
            "unknown",
        ]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "code",
                "rp",
                "https://rp.example/cb",
                "openid profile",
                "none",
                "login consent",
                "S256",
                "plain",
                "query",
                "0",
                "-1",
                "99999999999999999999",
                "{\"id_token\":{\"acr\":{\"essential\":true}}}",
                "urn:etupass:acr:mfa",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ])
            .prop_map(str::to_string),
            ".{0,80}",
        ];
        (name.prop_map(str::to_string), value)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever arrives, `check_pushed` (the whole of `check_request`) answers,
        /// and a refusal is one of the errors the endpoint documents.
        #[test]
        fn any_request_is_accepted_or_refused_with_a_documented_error(
            params in prop::collection::vec(parameter(), 0..14),
            public in any::<bool>(),
        ) {
            if let Err(error) = check_pushed(RawRequest(params), client(public)) {
                prop_assert!(matches!(
                    error.code,
                    ErrorCode::InvalidRequest
                        | ErrorCode::UnsupportedResponseType
                        | ErrorCode::UnauthorizedClient
                        | ErrorCode::InvalidScope
                        | ErrorCode::RequestNotSupported
                        | ErrorCode::InvalidRequestUri
                ), "{:?}", error);
            }
        }

        #[test]
        fn the_claims_parameter_is_parsed_or_refused_as_invalid_request(raw in ".{0,300}") {
            if let Err(error) = parse_claims(Some(&raw)) {
                prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
            }
        }

        #[test]
        fn structured_claims_never_panic(
            places in prop::collection::vec(
                (prop::sample::select(vec!["id_token", "userinfo", "x"]),
                 prop::sample::select(vec!["acr", "sub", "email", "name", "address"]),
                 prop::sample::select(vec![
                     "null",
                     "{\"essential\":true}",
                     "{\"value\":\"x\"}",
                     "{\"values\":[\"urn:etupass:acr:mfa\",1]}",
                     "[]",
                     "3",
                 ])),
                0..6,
            )
        ) {
            let mut json = String::from("{");
            for (i, (place, claim, value)) in places.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&format!("\"{place}\":{{\"{claim}\":{value}}}"));
            }
            json.push('}');
            if let Err(error) = parse_claims(Some(&json)) {
                prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
            }
        }

        #[test]
        fn prompt_is_parsed_or_refused_as_invalid_request(raw in ".{0,40}") {
            if let Err(error) = parse_prompt(Some(&raw)) {
                prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
            }
        }

        #[test]
        fn a_sign_in_proof_is_only_stripped(params in prop::collection::vec(parameter(), 0..8)) {
            let (without, _) = RawRequest(params.clone()).without_sign_in_proof();
            prop_assert!(without.0.iter().all(|(k, _)| k != SIGN_IN_PROOF));
            prop_assert_eq!(
                without.0.len(),
                params.iter().filter(|(k, _)| k != SIGN_IN_PROOF).count()
            );
        }
    }
}
