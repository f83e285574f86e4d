//! The browser side of the authorization endpoint: `/authorize`, the sign-in form
//! (`/login`) and the consent form (`/consent`). The pending request travels in a hidden
//! field and is validated again, from scratch, on every pass.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::account::{new_password_page, NewPasswordView};
use super::header as header_value;
use super::request_context;
use super::second_factor::{self, CodeProblem};
use crate::account::gates::{self, Gate};
use crate::account::sign_in::{self, SignInError};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::oauth::authorize::{self, Interaction, Outcome, RawRequest};
use crate::web::pages::{self, Page};
use crate::web::{cookies, csrf, AppState};

pub async fn authorize_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    run(&state, &req, raw, Interaction::Fresh, None).await
}

pub async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(std::str::from_utf8(&body).unwrap_or(""));
    run(&state, &req, raw, Interaction::Fresh, None).await
}

/// `/login` without a pending request: signing in to Etupass itself.
pub async fn login_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    sign_in_page(
        &state,
        &req,
        lang,
        SignInView::blank(&RawRequest::default()),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn login_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    // The form is shown again with what was typed (never the password) and one message.
    let again = |error: &'static str, status: StatusCode| SignInView {
        raw: &raw,
        client_name: None,
        username: Some(&form.username),
        error: Some(error),
        wait: None,
        status,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        let view = again("login.expired_form", StatusCode::BAD_REQUEST);
        return sign_in_page(&state, &req, lang, view).await;
    }
    let provider = &state.provider;
    let context = request_context(&req);
    let secure = provider.settings.issuer_is_https();
    let known_device = cookies::read(&req, cookies::Name::Device, secure);
    let signed_in = match sign_in::authenticate(
        provider,
        &form.username,
        &form.password,
        known_device.as_deref(),
        &context,
    )
    .await
    {
        Ok(signed_in) => signed_in,
        Err(SignInError::Throttled(wait)) => {
            let view = SignInView {
                wait: Some(wait),
                ..again("login.throttled", StatusCode::TOO_MANY_REQUESTS)
            };
            return with_retry_after(sign_in_page(&state, &req, lang, view).await, wait);
        }
        Err(SignInError::Busy) => {
            let view = SignInView {
                wait: Some(1),
                ..again("login.busy", StatusCode::SERVICE_UNAVAILABLE)
            };
            return with_retry_after(sign_in_page(&state, &req, lang, view).await, 1);
        }
        Err(SignInError::InvalidCredentials) => {
            let view = again("login.invalid", StatusCode::UNAUTHORIZED);
            return sign_in_page(&state, &req, lang, view).await;
        }
        Err(SignInError::NotActive(_)) => {
            let view = again("login.not_active", StatusCode::FORBIDDEN);
            return sign_in_page(&state, &req, lang, view).await;
        }
        Err(error) => return server_error(&state, lang, &error),
    };
    let identity = signed_in.identity;
    // Signing in again in this browser ends the session it had when it was another
    // person's (a shared computer): never two at once. The same person's is started
    // again in place.
    let previous = match current_session(&state, &req).await {
        Ok(previous) => previous,
        Err(response) => return response,
    };
    let mut same_person = None;
    if let Some((previous, previous_identity)) = previous {
        if previous.identity_id == identity.id {
            same_person = Some(previous);
        } else if let Err(error) =
            sign_in::end_session(provider, &previous, &previous_identity).await
        {
            return server_error(&state, lang, &error);
        }
    }
    let started = sign_in::start_session(provider, &identity, same_person.as_ref(), &context);
    let (session, secret) = match started.await {
        Ok(started) => started,
        Err(error) => return server_error(&state, lang, &error),
    };
    let cookie = cookies::build(
        cookies::Name::Session,
        secret,
        provider.settings.issuer_is_https(),
        Some(provider.settings.session_lifetime.as_secs() as i64),
    );
    let mut response = run(
        &state,
        &req,
        raw,
        Interaction::SignedIn,
        Some((session, identity)),
    )
    .await;
    let device = cookies::build(
        cookies::Name::Device,
        signed_in.device_cookie,
        secure,
        Some(provider.settings.device_cookie_lifetime.as_secs() as i64),
    );
    for cookie in [cookie, device] {
        if let Err(error) = response.add_cookie(&cookie) {
            tracing::error!(%error, "could not set a cookie");
        }
    }
    response
}

/// Tells the browser (and scripts) when to try again.
fn with_retry_after(mut response: HttpResponse, seconds: i64) -> HttpResponse {
    if let Ok(value) = header::HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

pub async fn consent_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ConsentForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    if !state.csrf_ok(&req, &form.csrf_token) {
        return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.expired_form");
    }
    if form.decision == "allow" {
        return run(&state, &req, raw, Interaction::Consented, None).await;
    }
    match authorize::deny(&state.provider, raw).await {
        Ok(outcome) => respond(&state, &req, lang, outcome).await,
        Err(error) => server_error(&state, lang, &error),
    }
}

/// One pass through the authorization endpoint, from any of its forms.
pub(super) async fn run(
    state: &AppState,
    req: &HttpRequest,
    raw: RawRequest,
    interaction: Interaction,
    fresh_session: Option<(Session, Identity)>,
) -> HttpResponse {
    // A CAS login carried through the sign-in page or a gate goes back to CAS.
    if crate::cas::login::CasLogin::from_carried(&raw).is_some() {
        return super::cas::login_pass(state, req, raw, interaction, fresh_session).await;
    }
    // The same for a SAML AuthnRequest.
    if crate::saml::sso::Binding::from_carried(&raw).is_some() {
        return super::saml::sso_pass(state, req, raw, interaction, fresh_session).await;
    }
    // A pushed request's prompt and ui_locales are in the pushed parameters.
    let params = match authorize::resolve_pushed(&state.provider, raw.clone()).await {
        Ok(Ok((params, _))) => params,
        Ok(Err(_)) => raw.clone(),
        Err(error) => return server_error(state, page_lang(state, req, None), &error),
    };
    let lang = page_lang(state, req, Some(&params));
    let session = match session_for_pass(state, req, fresh_session).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    // Signed in on the way to an Etupass page (the personal space, a device), or to
    // Etupass itself: its gates first, then there. (A relying party's request meets its
    // gates in the authorization pipeline.)
    let etupass_page = match super::continuation(&raw) {
        Some(location) => Some(location),
        None if raw.0.is_empty() => Some("/".to_string()),
        None => None,
    };
    if let Some(location) = etupass_page {
        if let Some((signed_in, identity)) = &session {
            match gates::pending_for_session(&state.provider, identity, signed_in, false).await {
                Ok(Some(gate)) => {
                    return gate_page(state, req, lang, &raw, identity, gate, Vec::new()).await
                }
                Ok(None) => {}
                Err(error) => return server_error(state, lang, &error),
            }
        }
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish();
    }
    // Consent counts only from a signed-in person; without a session, sign in first.
    let interaction = match (interaction, &session) {
        (Interaction::Consented, None) => Interaction::Fresh,
        (other, _) => other,
    };
    match authorize::authorize(&state.provider, raw, session, interaction).await {
        Ok(outcome) => respond(state, req, lang, outcome).await,
        Err(error) => server_error(state, lang, &error),
    }
}

async fn respond(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    outcome: Outcome,
) -> HttpResponse {
    match outcome {
        Outcome::ErrorPage(reason) => {
            pages::error(state, lang, StatusCode::BAD_REQUEST, reason.message_key())
        }
        Outcome::Redirect(location) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish(),
        Outcome::Gate {
            carried,
            identity,
            gate,
        } => gate_page(state, req, lang, &carried, &identity, gate, Vec::new()).await,
        Outcome::SignIn(request) => {
            let view = SignInView {
                username: request.login_hint.as_deref(),
                client_name: Some(&request.client.name),
                ..SignInView::blank(&request.carried)
            };
            sign_in_page(state, req, lang, view).await
        }
        Outcome::Consent(request, identity) => {
            let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
            let scopes: Vec<Value> = request
                .consent_scopes()
                .into_iter()
                .map(Value::from)
                .collect();
            let page = Page::new("consent", "consent.title")
                .with("csrf_token", csrf_token)
                .with("request", request.carried.encode())
                .with("client_name", request.client.name.clone())
                // Where the answer goes, which a registrant cannot dress up as its name.
                .with("redirect_host", request.redirect_host())
                .with("user_name", identity.display_name())
                .with("scopes", scopes);
            pages::render(state, lang, page, cookie.into_iter().collect())
        }
    }
}

/// What the sign-in page shows besides the form itself.
struct SignInView<'a> {
    raw: &'a RawRequest,
    /// The relying party's name, when the request was validated already (otherwise the
    /// client is read by the `client_id` carried).
    client_name: Option<&'a str>,
    username: Option<&'a str>,
    error: Option<&'static str>,
    /// Seconds to wait, when throttled.
    wait: Option<i64>,
    status: StatusCode,
}

impl<'a> SignInView<'a> {
    fn blank(raw: &'a RawRequest) -> Self {
        SignInView {
            raw,
            client_name: None,
            username: None,
            error: None,
            wait: None,
            status: StatusCode::OK,
        }
    }
}

/// The signed-in person for an Etupass page (the personal space, `/device`): without a
/// session, the sign-in page; with a pending gate (a new charter, a required password
/// change), that page first, as before any relying party. Both come back to `carried`.
pub async fn signed_in_past_gates(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    carried: &RawRequest,
) -> Result<(Session, Identity), HttpResponse> {
    match current_session(state, req).await? {
        Some((session, identity)) => {
            match gates::pending_for_session(&state.provider, &identity, &session, false).await {
                Ok(None) => Ok((session, identity)),
                Ok(Some(gate)) => {
                    Err(gate_page(state, req, lang, carried, &identity, gate, Vec::new()).await)
                }
                Err(error) => Err(server_error(state, lang, &error)),
            }
        }
        None => Err(sign_in_to_continue(state, req, lang, carried).await),
    }
}

/// The sign-in page, coming back to `carried` once signed in.
pub async fn sign_in_to_continue(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    carried: &RawRequest,
) -> HttpResponse {
    sign_in_page(state, req, lang, SignInView::blank(carried)).await
}

/// The sign-in page, naming the relying party the person is signing in to, if known.
async fn sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    view: SignInView<'_>,
) -> HttpResponse {
    let client_name = match (view.client_name, view.raw.get("client_id")) {
        (Some(name), _) => Some(Value::from(name)),
        (None, Some(id)) => match state.provider.store.find_client(id).await {
            Ok(client) => client.map(|c| Value::from(c.name)),
            Err(error) => return server_error(state, lang, &error),
        },
        (None, None) => None,
    };
    let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
    let page = Page::new("login", "login.title")
        .status(view.status)
        .with("csrf_token", csrf_token)
        .with("request", view.raw.encode())
        .with("client_name", client_name.unwrap_or(Value::Null))
        .with(
            "username",
            view.username.map(Value::from).unwrap_or(Value::Null),
        )
        .with("error", view.error.map(Value::from).unwrap_or(Value::Null))
        .with("wait", view.wait.map(Value::from).unwrap_or(Value::Null));
    let cookies: Vec<Cookie<'static>> = cookie.into_iter().collect();
    pages::render(state, lang, page, cookies)
}

/// The live session, or the sign-in page (carrying the request on) when there is none.
pub(super) async fn signed_in_or_sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    raw: &RawRequest,
) -> Result<(Session, Identity), HttpResponse> {
    match current_session(state, req).await? {
        Some(found) => Ok(found),
        None => Err(sign_in_page(state, req, lang, SignInView::blank(raw)).await),
    }
}

/// The session a pass through a protocol's pipeline runs with: the one just started by
/// the sign-in form, or this browser's.
pub(super) async fn session_for_pass(
    state: &AppState,
    req: &HttpRequest,
    fresh_session: Option<(Session, Identity)>,
) -> Result<Option<(Session, Identity)>, HttpResponse> {
    match fresh_session {
        Some(session) => Ok(Some(session)),
        None => current_session(state, req).await,
    }
}

/// The live SSO session of this browser, if any; a database failure becomes a 500 page.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(Session, Identity)>, HttpResponse> {
    let secure = state.provider.settings.issuer_is_https();
    let Some(secret) = cookies::read(req, cookies::Name::Session, secure) else {
        return Ok(None);
    };
    sign_in::resume_session(&state.provider, &secret)
        .await
        .map_err(|error| server_error(state, page_lang(state, req, None), &error))
}

pub fn page_lang(state: &AppState, req: &HttpRequest, raw: Option<&RawRequest>) -> &'static str {
    crate::web::locale::choose(
        raw.and_then(|r| r.get("ui_locales")),
        header_value(req, "accept-language"),
        &state.provider.settings.default_locale,
    )
}

pub(super) fn server_error(
    state: &AppState,
    lang: &'static str,
    error: &dyn std::fmt::Display,
) -> HttpResponse {
    tracing::error!(%error, "request failed");
    pages::error(
        state,
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.server",
    )
}

/// The page of a pending gate, carrying the authorization request on.
pub(super) async fn gate_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    raw: &RawRequest,
    identity: &Identity,
    gate: Gate,
    reasons: Vec<&'static str>,
) -> HttpResponse {
    let error = reasons.first().copied();
    match gate {
        Gate::SecondFactor => {
            second_factor::second_step_page(state, req, lang, raw, CodeProblem::from(error))
        }
        Gate::SetUpSecondFactor => {
            second_factor::setup_page(state, req, lang, raw, identity, CodeProblem::from(error))
                .await
        }
        Gate::ChangePassword => new_password_page(
            state,
            req,
            lang,
            NewPasswordView {
                heading: "change.title",
                intro: Some("change.intro"),
                number: None,
                reasons,
                action: "/password/change",
                token: None,
                request: Some(raw.encode()),
                charter: None,
                submit: "password.submit",
            },
        ),
        Gate::AcceptCharter(charter) => {
            let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
            let error = reasons
                .first()
                .map(|r| Value::from(*r))
                .unwrap_or(Value::Null);
            let page = Page::new("charter", "charter.title")
                .status(if reasons.is_empty() {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                })
                .with("csrf_token", csrf_token)
                .with("request", raw.encode())
                .with("charter", charter.body)
                .with("charter_version", charter.version)
                .with("error", error);
            pages::render(state, lang, page, cookie.into_iter().collect())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

/// The forced password change, between sign-in and the relying party.
pub async fn change_required_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ChangePasswordForm>,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    let (session, identity) = match signed_in_or_sign_in_page(&state, &req, lang, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        return gate_page(
            &state,
            &req,
            lang,
            &raw,
            &identity,
            Gate::ChangePassword,
            vec!["login.expired_form"],
        )
        .await;
    }
    // Only a required change is made here, without the current password: a session
    // left open on a lab computer must not let anyone pick a new password (nor one
    // still waiting for its second factor).
    match gates::pending_for_session(&state.provider, &identity, &session, false).await {
        Ok(Some(Gate::ChangePassword)) => {}
        Ok(_) => return run(&state, &req, raw, Interaction::Fresh, None).await,
        Err(error) => return server_error(&state, lang, &error),
    }
    let context = request_context(&req);
    // A required change keeps the person's applications: it is a rule (an administrator's,
    // the password's age), not a sign that someone else holds the old password.
    match gates::set_new_password(
        &state.provider,
        &identity,
        &session,
        &form.password,
        &form.confirmation,
        false,
        lang,
        &context,
    )
    .await
    {
        // Back to the pipeline, which knows from the carried proof whether the person
        // signed in for this request.
        Ok(reasons) if reasons.is_empty() => run(&state, &req, raw, Interaction::Fresh, None).await,
        Ok(reasons) => {
            gate_page(
                &state,
                &req,
                lang,
                &raw,
                &identity,
                Gate::ChangePassword,
                reasons,
            )
            .await
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct CharterForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    accept_charter: Option<String>,
}

/// Accepting a new version of the IT charter at sign-in.
pub async fn accept_charter(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CharterForm>,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    let (session, identity) = match signed_in_or_sign_in_page(&state, &req, lang, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.expired_form");
    }
    // Only when the charter is the gate now (a session still waiting for its second
    // factor accepts nothing).
    let charter =
        match gates::pending_for_session(&state.provider, &identity, &session, false).await {
            Ok(Some(Gate::AcceptCharter(charter))) => charter,
            Ok(_) => return run(&state, &req, raw, Interaction::Fresh, None).await,
            Err(error) => return server_error(&state, lang, &error),
        };
    // Accepting needs the box ticked, on the version shown (not an older one).
    if form.accept_charter.as_deref() != Some("yes") || form.version != charter.version {
        return gate_page(
            &state,
            &req,
            lang,
            &raw,
            &identity,
            Gate::AcceptCharter(charter),
            vec!["charter.must_accept"],
        )
        .await;
    }
    if let Err(error) = gates::accept_charter(
        &state.provider,
        &identity,
        charter.version,
        &request_context(&req),
    )
    .await
    {
        return server_error(&state, lang, &error);
    }
    run(&state, &req, raw, Interaction::Fresh, None).await
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Signing out of Etupass: the session ends on the server and the cookie is cleared
/// (a shared lab computer must not keep a student signed in).
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.expired_form");
    }
    let mut front_channel = Vec::new();
    if let Ok(Some((session, identity))) = current_session(&state, &req).await {
        match sign_in::end_session(&state.provider, &session, &identity).await {
            Ok(urls) => front_channel = urls,
            Err(error) => return server_error(&state, lang, &error),
        }
    }
    let cookie = cookies::removal(
        cookies::Name::Session,
        state.provider.settings.issuer_is_https(),
    );
    pages::signed_out(
        &state,
        lang,
        "logout.done",
        front_channel,
        Some("/".to_string()),
        vec![cookie],
    )
}

/// RP-initiated logout: `/end_session` (GET or POST), and its confirmation form.
pub async fn end_session_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    end_session(&state, &req, raw, false).await
}

pub async fn end_session_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(std::str::from_utf8(&body).unwrap_or(""));
    // The confirmation form posts here with a CSRF token; a relying party's POST has none.
    let confirmed = match raw.get("csrf_token") {
        Some(token) => {
            if !state.csrf_ok(&req, token) {
                let lang = page_lang(&state, &req, Some(&raw));
                return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.expired_form");
            }
            true
        }
        None => false,
    };
    let raw = match raw.get("request") {
        Some(request) if confirmed => RawRequest::from_urlencoded(request),
        _ => raw,
    };
    end_session(&state, &req, raw, confirmed).await
}

async fn end_session(
    state: &AppState,
    req: &HttpRequest,
    raw: RawRequest,
    confirmed: bool,
) -> HttpResponse {
    use crate::oauth::end_session::{self, EndSession};
    let lang = page_lang(state, req, Some(&raw));
    let session = match current_session(state, req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let decision = end_session::decide(
        &state.provider,
        &raw,
        session.as_ref().map(|(s, _)| s),
        confirmed,
    )
    .await;
    match decision {
        Ok(EndSession::SignOut { redirect }) => {
            let mut front_channel = Vec::new();
            if let Some((session, identity)) = &session {
                match sign_in::end_session(&state.provider, session, identity).await {
                    Ok(urls) => front_channel = urls,
                    Err(error) => return server_error(state, lang, &error),
                }
            }
            let cookie = cookies::removal(
                cookies::Name::Session,
                state.provider.settings.issuer_is_https(),
            );
            pages::signed_out(
                state,
                lang,
                "logout.done",
                front_channel,
                redirect,
                vec![cookie],
            )
        }
        Ok(EndSession::Confirm { client_name }) => {
            let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
            let page = Page::new("logout_confirm", "logout.title")
                .with("csrf_token", csrf_token)
                .with("request", raw.encode())
                .with(
                    "client_name",
                    client_name.map(Value::from).unwrap_or(Value::Null),
                );
            pages::render(state, lang, page, cookie.into_iter().collect())
        }
        Ok(EndSession::Refuse(key)) => pages::error(state, lang, StatusCode::BAD_REQUEST, key),
        Err(error) => server_error(state, lang, &error),
    }
}
