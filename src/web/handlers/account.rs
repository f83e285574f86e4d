//! The account lifecycle's pages: forgotten password and number, reset, activation,
//! identity theft. Each handler extracts, calls one `account` function, maps the result.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::authorize::page_lang;
use super::request_context;
use crate::account::activation::{self, ActivationOutcome, ActivationView};
use crate::account::parents;
use crate::account::recovery::{self, ResetOutcome};
use crate::account::theft::{self, ConfirmOutcome};
use crate::account::RequestOutcome;
use crate::domain::link::LinkState;
use crate::store::parents::Invitation;
use crate::web::pages::{self, Page};
use crate::web::{csrf, AppState};

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A page with a CSRF-protected form.
fn form_page(state: &AppState, req: &HttpRequest, lang: &'static str, page: Page) -> HttpResponse {
    let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
    let cookies: Vec<Cookie<'static>> = cookie.into_iter().collect();
    pages::render(state, lang, page.with("csrf_token", csrf_token), cookies)
}

fn request_form(
    template: &'static str,
    title: &'static str,
    error: Option<&'static str>,
    wait: Option<i64>,
    status: StatusCode,
) -> Page {
    Page::new(template, title)
        .status(status)
        .with("error", error.map(Value::from).unwrap_or(Value::Null))
        .with("wait", wait.map(Value::from).unwrap_or(Value::Null))
}

fn notice(
    state: &AppState,
    lang: &'static str,
    heading: &'static str,
    message: &'static str,
) -> HttpResponse {
    let page = Page::new("notice", heading)
        .with("heading", heading)
        .with("message", message);
    pages::render(state, lang, page, Vec::new())
}

fn link_invalid(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    message: &'static str,
    resend_activation: bool,
    status: StatusCode,
) -> HttpResponse {
    let page = Page::new("link_invalid", "link.title")
        .status(status)
        .with("message", message)
        .with("resend_activation", resend_activation);
    form_page(state, req, lang, page)
}

/// A link's form posted after its CSRF token expired: the link page says so.
fn expired_link_form(state: &AppState, req: &HttpRequest, lang: &'static str) -> HttpResponse {
    link_invalid(
        state,
        req,
        lang,
        "login.expired_form",
        false,
        StatusCode::BAD_REQUEST,
    )
}

fn link_message(state: &LinkState) -> &'static str {
    match state {
        LinkState::Expired => "link.expired",
        LinkState::Used | LinkState::Valid(_) => "link.used",
        LinkState::Unknown => "link.unknown",
    }
}

/// The form to choose a password: reset, activation, forced change.
pub struct NewPasswordView<'a> {
    pub heading: &'static str,
    pub intro: Option<&'static str>,
    pub number: Option<&'a str>,
    pub reasons: Vec<&'static str>,
    pub action: &'static str,
    pub token: Option<&'a str>,
    pub request: Option<String>,
    pub charter: Option<(i64, String)>,
    pub submit: &'static str,
}

pub fn new_password_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    view: NewPasswordView<'_>,
) -> HttpResponse {
    let status = if view.reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let (charter_version, charter) = match view.charter {
        Some((version, body)) => (Value::from(version), Value::from(body)),
        None => (Value::Null, Value::Null),
    };
    let reasons: Vec<Value> = view.reasons.into_iter().map(Value::from).collect();
    let page = Page::new("new_password", view.heading)
        .status(status)
        .with("heading", view.heading)
        .with("intro", view.intro.map(Value::from).unwrap_or(Value::Null))
        .with(
            "number",
            view.number.map(Value::from).unwrap_or(Value::Null),
        )
        .with(
            "reasons",
            if reasons.is_empty() {
                Value::Null
            } else {
                Value::from(reasons)
            },
        )
        .with("action", view.action)
        .with("token", view.token.map(Value::from).unwrap_or(Value::Null))
        .with("request_field", view.request.is_some())
        .with("request", view.request.unwrap_or_default())
        .with("charter", charter)
        .with("charter_version", charter_version)
        .with("submit", view.submit);
    form_page(state, req, lang, page)
}

fn server_error(
    state: &AppState,
    lang: &'static str,
    error: &dyn std::fmt::Display,
) -> HttpResponse {
    tracing::error!(%error, "account request failed");
    pages::error(
        state,
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.server",
    )
}

/// The answer to a request that mails something.
fn request_answer(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    outcome: Result<RequestOutcome, crate::account::AccountError>,
    form: (&'static str, &'static str),
    sent: (&'static str, &'static str),
) -> HttpResponse {
    match outcome {
        Ok(RequestOutcome::Accepted) => notice(state, lang, sent.0, sent.1),
        Ok(RequestOutcome::Throttled(wait)) => form_page(
            state,
            req,
            lang,
            request_form(
                form.0,
                form.1,
                Some("login.throttled"),
                Some(wait),
                StatusCode::TOO_MANY_REQUESTS,
            ),
        ),
        Ok(RequestOutcome::Malformed(key)) => form_page(
            state,
            req,
            lang,
            request_form(form.0, form.1, Some(key), None, StatusCode::BAD_REQUEST),
        ),
        Err(error) => server_error(state, lang, &error),
    }
}

fn expired_form(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    template: &'static str,
    title: &'static str,
) -> HttpResponse {
    form_page(
        state,
        req,
        lang,
        request_form(
            template,
            title,
            Some("login.expired_form"),
            None,
            StatusCode::BAD_REQUEST,
        ),
    )
}

// --- Forgotten password ---

pub async fn forgot_password_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    form_page(
        &state,
        &req,
        lang,
        request_form(
            "forgot_password",
            "forgot.title",
            None,
            None,
            StatusCode::OK,
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct ForgotPasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
}

pub async fn forgot_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ForgotPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_form(&state, &req, lang, "forgot_password", "forgot.title");
    }
    let outcome = recovery::request_reset(
        &state.provider,
        &form.username,
        lang,
        &request_context(&req),
    )
    .await;
    request_answer(
        &state,
        &req,
        lang,
        outcome,
        ("forgot_password", "forgot.title"),
        ("forgot.title", "forgot.sent"),
    )
}

pub async fn reset_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match recovery::inspect(&state.provider, &query.token).await {
        Ok(LinkState::Valid(_)) => {
            new_password_page(&state, &req, lang, reset_view(&query.token, Vec::new()))
        }
        Ok(other) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&other),
            false,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

fn reset_view<'a>(token: &'a str, reasons: Vec<&'static str>) -> NewPasswordView<'a> {
    NewPasswordView {
        heading: "reset.title",
        intro: None,
        number: None,
        reasons,
        action: "/password/reset",
        token: Some(token),
        request: None,
        charter: None,
        submit: "password.submit",
    }
}

#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    #[serde(default)]
    accept_charter: Option<String>,
}

pub async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return new_password_page(
            &state,
            &req,
            lang,
            reset_view(&form.token, vec!["login.expired_form"]),
        );
    }
    match recovery::reset(
        &state.provider,
        &form.token,
        &form.password,
        &form.confirmation,
        lang,
        &request_context(&req),
    )
    .await
    {
        Ok(ResetOutcome::Done(_)) => notice(&state, lang, "reset.title", "reset.done"),
        Ok(ResetOutcome::Refused(reasons)) => {
            new_password_page(&state, &req, lang, reset_view(&form.token, reasons))
        }
        Ok(ResetOutcome::Invalid(link)) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&link),
            false,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

// --- Forgotten number ---

pub async fn forgot_number_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    form_page(
        &state,
        &req,
        lang,
        request_form("forgot_number", "number.title", None, None, StatusCode::OK),
    )
}

#[derive(Debug, Deserialize)]
pub struct ForgotNumberForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    birth_date: String,
}

pub async fn forgot_number(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ForgotNumberForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_form(&state, &req, lang, "forgot_number", "number.title");
    }
    let outcome = recovery::recover_number(
        &state.provider,
        &form.family_name,
        &form.given_names,
        &form.birth_date,
        lang,
        &request_context(&req),
    )
    .await;
    request_answer(
        &state,
        &req,
        lang,
        outcome,
        ("forgot_number", "number.title"),
        ("number.title", "number.sent"),
    )
}

// --- Activation ---

fn activation_view<'a>(
    token: &'a str,
    identity_number: &'a str,
    charter: Option<(i64, String)>,
    reasons: Vec<&'static str>,
) -> NewPasswordView<'a> {
    NewPasswordView {
        heading: "activation.title",
        intro: Some("activation.intro"),
        number: Some(identity_number),
        reasons,
        action: "/activate",
        token: Some(token),
        request: None,
        charter,
        submit: "activation.submit",
    }
}

pub async fn activation_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match activation::inspect(&state.provider, &query.token).await {
        Ok(ActivationView::Ready { identity, charter }) => {
            let charter = charter.map(|c| (c.version, c.body));
            new_password_page(
                &state,
                &req,
                lang,
                activation_view(&query.token, identity.number.as_str(), charter, Vec::new()),
            )
        }
        Ok(ActivationView::Invalid(link)) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&link),
            true,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

pub async fn activate(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return link_invalid(
            &state,
            &req,
            lang,
            "login.expired_form",
            true,
            StatusCode::BAD_REQUEST,
        );
    }
    let accepted = form.accept_charter.as_deref() == Some("yes");
    match activation::activate(
        &state.provider,
        &form.token,
        &form.password,
        &form.confirmation,
        accepted,
        &request_context(&req),
    )
    .await
    {
        Ok(ActivationOutcome::Done(_)) => {
            notice(&state, lang, "activation.title", "activation.done")
        }
        Ok(ActivationOutcome::Refused {
            reasons,
            identity,
            charter,
        }) => {
            let charter = charter.map(|c| (c.version, c.body));
            new_password_page(
                &state,
                &req,
                lang,
                activation_view(&form.token, identity.number.as_str(), charter, reasons),
            )
        }
        Ok(ActivationOutcome::Invalid(link)) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&link),
            true,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    birth_date: String,
}

pub async fn resend_activation(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ResendForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return link_invalid(
            &state,
            &req,
            lang,
            "login.expired_form",
            true,
            StatusCode::BAD_REQUEST,
        );
    }
    match activation::resend(
        &state.provider,
        &form.number,
        &form.birth_date,
        lang,
        &request_context(&req),
    )
    .await
    {
        Ok(RequestOutcome::Accepted) => {
            notice(&state, lang, "activation.title", "activation.resent")
        }
        Ok(RequestOutcome::Throttled(_)) => link_invalid(
            &state,
            &req,
            lang,
            "login.throttled",
            true,
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Ok(RequestOutcome::Malformed(key)) => {
            link_invalid(&state, &req, lang, key, true, StatusCode::BAD_REQUEST)
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

// --- Identity theft ---

pub async fn theft_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    form_page(
        &state,
        &req,
        lang,
        request_form("theft", "theft.title", None, None, StatusCode::OK),
    )
}

pub async fn report_theft(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ForgotPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_form(&state, &req, lang, "theft", "theft.title");
    }
    let outcome = theft::request(
        &state.provider,
        &form.username,
        lang,
        &request_context(&req),
    )
    .await;
    request_answer(
        &state,
        &req,
        lang,
        outcome,
        ("theft", "theft.title"),
        ("theft.title", "theft.sent"),
    )
}

/// The link opens a page with a button: a mail scanner that prefetches links must not
/// lock the account by itself.
pub async fn theft_confirm_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match theft::inspect(&state.provider, &query.token).await {
        Ok(LinkState::Valid(_)) => {
            let page = Page::new("theft_confirm", "theft.confirm_title")
                .with("token", query.token.clone());
            form_page(&state, &req, lang, page)
        }
        Ok(other) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&other),
            false,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

pub async fn confirm_theft(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_link_form(&state, &req, lang);
    }
    match theft::confirm(&state.provider, &form.token, lang, &request_context(&req)).await {
        Ok(ConfirmOutcome::Suspended(_)) => notice(&state, lang, "theft.title", "theft.done"),
        Ok(ConfirmOutcome::Invalid(link)) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&link),
            false,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

/// `GET /account/email/confirm?token=`: a button, so that following the link changes
/// nothing by itself (mail scanners open links).
pub async fn email_change_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match crate::account::space::inspect_email_change(&state.provider, &query.token).await {
        Ok(LinkState::Valid(_)) => {
            let page = Page::new("email_confirm", "account.email_confirm_title")
                .with("token", query.token.clone());
            form_page(&state, &req, lang, page)
        }
        Ok(other) => link_invalid(
            &state,
            &req,
            lang,
            link_message(&other),
            false,
            StatusCode::GONE,
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

pub async fn confirm_email_change(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_link_form(&state, &req, lang);
    }
    match crate::account::space::confirm_email_change(
        &state.provider,
        &form.token,
        &request_context(&req),
    )
    .await
    {
        Ok(Some(_)) => notice(
            &state,
            lang,
            "account.email_confirm_title",
            "account.email_changed",
        ),
        Ok(None) => link_invalid(&state, &req, lang, "link.used", false, StatusCode::GONE),
        Err(error) => server_error(&state, lang, &error),
    }
}

// --- A parent's invitation ---

/// The invitation page: who invites, and the form that creates the parent's account
/// (or, for a parent who has one, asks its password). Nothing happens on GET.
fn invitation_page(
    invitation: &Invitation,
    token: &str,
    errors: Vec<&'static str>,
    status: StatusCode,
) -> Option<Page> {
    let Invitation::Valid {
        link,
        student,
        parent,
    } = invitation
    else {
        return None;
    };
    let errors: Vec<Value> = errors.into_iter().map(Value::from).collect();
    Some(
        Page::new("parent_invitation", "parents.invitation_title")
            .status(status)
            .with("student_name", student.display_name())
            .with("email", link.parent_email.clone())
            .with("existing", parent.is_some())
            .with("token", token)
            .with("errors", errors),
    )
}

pub async fn parent_invitation_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match parents::invitation(&state.provider, &query.token).await {
        Ok(invitation) => {
            match invitation_page(&invitation, &query.token, Vec::new(), StatusCode::OK) {
                Some(page) => form_page(&state, &req, lang, page),
                None => invalid_invitation(&state, &req, lang, &invitation),
            }
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

fn invalid_invitation(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    invitation: &Invitation,
) -> HttpResponse {
    let message = match invitation {
        Invitation::Invalid(link) => link_message(link),
        Invitation::Valid { .. } => "link.used",
    };
    link_invalid(state, req, lang, message, false, StatusCode::GONE)
}

#[derive(Debug, Deserialize)]
pub struct ParentInvitationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

pub async fn accept_parent_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ParentInvitationForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    if !state.csrf_ok(&req, &form.csrf_token) {
        return expired_link_form(&state, &req, lang);
    }
    let typed = parents::AcceptForm {
        family_name: &form.family_name,
        given_names: &form.given_names,
        birth_date: &form.birth_date,
        password: &form.password,
        confirmation: &form.confirmation,
    };
    let provider = &state.provider;
    match parents::accept(provider, &form.token, typed, &request_context(&req)).await {
        Ok(parents::Accepted::Done(_)) => {
            notice(&state, lang, "parents.invitation_title", "parents.welcome")
        }
        Ok(parents::Accepted::Refused(errors)) => {
            match parents::invitation(provider, &form.token).await {
                Ok(invitation) => {
                    match invitation_page(&invitation, &form.token, errors, StatusCode::BAD_REQUEST)
                    {
                        Some(page) => form_page(&state, &req, lang, page),
                        None => invalid_invitation(&state, &req, lang, &invitation),
                    }
                }
                Err(error) => server_error(&state, lang, &error),
            }
        }
        Ok(parents::Accepted::Invalid) => {
            link_invalid(&state, &req, lang, "link.used", false, StatusCode::GONE)
        }
        Err(error) => server_error(&state, lang, &error),
    }
}
