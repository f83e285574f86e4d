//! `/device` (RFC 8628 §3.3): the person types the code a device shows, signs in if
//! needed, and approves or denies the device.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::authorize::{page_lang, signed_in_past_gates};
use super::request_context;
use crate::account::throttle::{self, Action};
use crate::domain::identity::Identity;
use crate::domain::scope::{self, Scope};
use crate::domain::session::Session;
use crate::oauth::device;
use crate::web::csrf;
use crate::web::pages::{self, Page};
use crate::web::AppState;

#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    #[serde(default)]
    user_code: String,
}

#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<DeviceQuery>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match signed_in_or_sign_in(&state, &req, lang, &query.user_code).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    if query.user_code.is_empty() {
        return entry_page(&state, &req, lang, "", None, None);
    }
    look_up(&state, &req, lang, &signed_in, &query.user_code).await
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DeviceForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match signed_in_or_sign_in(&state, &req, lang, &form.user_code).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        return entry_page(
            &state,
            &req,
            lang,
            &form.user_code,
            Some("error.expired_form"),
            None,
        );
    }
    let approve = match form.decision.as_str() {
        "" => return look_up(&state, &req, lang, &signed_in, &form.user_code).await,
        "allow" => true,
        _ => false,
    };
    // A decision names a code too: it is throttled like a look-up, or codes could be
    // tried by posting decisions.
    if let Some(wait) = throttled(&state, &req, lang, &signed_in.1, &form.user_code).await {
        return wait;
    }
    match device::decide(&state.provider, &form.user_code, &signed_in, approve).await {
        Ok(true) => {
            let done = if approve {
                "device.approved"
            } else {
                "device.denied"
            };
            let page = Page::new("device", "device.title").with("done", done);
            pages::render(&state, lang, page, Vec::new())
        }
        Ok(false) => wrong_code(&state, &req, lang, &signed_in.1, &form.user_code).await,
        Err(error) => {
            tracing::error!(%error, "device approval failed");
            pages::error(
                &state,
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "error.server",
            )
        }
    }
}

async fn signed_in_or_sign_in(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    user_code: &str,
) -> Result<(Session, Identity), HttpResponse> {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user_code", user_code)
        .finish();
    let carried = super::come_back_to(format!("/device?{query}"));
    signed_in_past_gates(state, req, lang, &carried).await
}

/// The confirmation page of the device a code names, or the form again. Wrong codes
/// count against the person and the address, so codes cannot be guessed by trying.
async fn look_up(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    (_, identity): &(Session, Identity),
    user_code: &str,
) -> HttpResponse {
    if let Some(wait) = throttled(state, req, lang, identity, user_code).await {
        return wait;
    }
    let provider = &state.provider;
    match device::pending(provider, user_code).await {
        Ok(Some((grant, client))) => {
            let (csrf_token, cookie) = csrf::issue(req, provider.settings.issuer_is_https());
            let scopes: Vec<Value> = Scope::parse_supported(&grant.scope)
                .iter()
                .filter(|s| *s != scope::OPENID)
                .map(Value::from)
                .collect();
            let page = Page::new("device", "device.title")
                .with("csrf_token", csrf_token)
                .with("client_name", client.name)
                .with("scopes", scopes)
                .with("user_code", user_code.trim().to_uppercase())
                .with("user_name", identity.display_name());
            pages::render(state, lang, page, cookie.into_iter().collect())
        }
        Ok(None) => wrong_code(state, req, lang, identity, user_code).await,
        Err(error) => server_error(state, lang, &error),
    }
}

fn server_error(
    state: &AppState,
    lang: &'static str,
    error: &dyn std::fmt::Display,
) -> HttpResponse {
    tracing::error!(%error, "device page failed");
    pages::error(
        state,
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.server",
    )
}

/// The form with a wait, when this person or address typed too many wrong codes.
async fn throttled(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    identity: &Identity,
    user_code: &str,
) -> Option<HttpResponse> {
    let ip = request_context(req).ip;
    let account = Some(identity.number.as_str());
    match throttle::check(&state.provider, Action::DeviceCode, ip.as_deref(), account).await {
        Ok(Some(wait)) => Some(entry_page(
            state,
            req,
            lang,
            user_code,
            Some("login.throttled"),
            Some(wait.0),
        )),
        Ok(None) => None,
        Err(error) => Some(server_error(state, lang, &error)),
    }
}

/// Counts a wrong code and shows the form again.
async fn wrong_code(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    identity: &Identity,
    user_code: &str,
) -> HttpResponse {
    let ip = request_context(req).ip;
    let account = Some(identity.number.as_str());
    if let Err(error) =
        throttle::count(&state.provider, Action::DeviceCode, ip.as_deref(), account).await
    {
        return server_error(state, lang, &error);
    }
    entry_page(
        state,
        req,
        lang,
        user_code,
        Some("device.unknown_code"),
        None,
    )
}

fn entry_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    user_code: &str,
    error: Option<&'static str>,
    wait: Option<i64>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
    let page = Page::new("device", "device.title")
        .status(if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        })
        .with("csrf_token", csrf_token)
        .with("user_code", user_code)
        .with("error", error.map(Value::from).unwrap_or(Value::Null))
        .with("wait", wait.map(Value::from).unwrap_or(Value::Null));
    pages::render(state, lang, page, cookie.into_iter().collect())
}
