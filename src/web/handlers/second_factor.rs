//! Two-factor sign-in pages: the second step after the password
//! (`/login/second-factor`), setting up an authenticator app (`/account/second-factor`,
//! also the gate when one is required), and the recovery codes, shown once. Turning it
//! off is a form of the personal space (`space::disable_second_factor`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::authorize::{
    page_lang, run, server_error, signed_in_or_sign_in_page, signed_in_past_gates,
};
use super::{come_back_to, request_context};
use crate::account::gates::{self, Gate};
use crate::account::second_factor::{self, CodeOutcome};
use crate::domain::identity::Identity;
use crate::oauth::authorize::{self as protocol, Interaction, RawRequest};
use crate::oauth::discovery::AUTHORIZATION_PATH;
use crate::web::csrf;
use crate::web::pages::{self, Page};
use crate::web::AppState;

/// What to say above a code form.
#[derive(Debug, Clone, Copy)]
pub struct CodeProblem {
    error: Option<&'static str>,
    wait: Option<i64>,
    status: StatusCode,
}

impl CodeProblem {
    fn refused(error: &'static str, status: StatusCode) -> Self {
        CodeProblem {
            error: Some(error),
            wait: None,
            status,
        }
    }

    fn of<T>(outcome: &CodeOutcome<T>) -> Self {
        match outcome {
            CodeOutcome::Accepted(_) => CodeProblem::from(None),
            CodeOutcome::Refused(key) => CodeProblem::refused(key, StatusCode::UNAUTHORIZED),
            CodeOutcome::Throttled(wait) => CodeProblem {
                wait: Some(*wait),
                ..CodeProblem::refused("login.throttled", StatusCode::TOO_MANY_REQUESTS)
            },
        }
    }
}

impl From<Option<&'static str>> for CodeProblem {
    fn from(error: Option<&'static str>) -> Self {
        match error {
            Some(error) => CodeProblem::refused(error, StatusCode::BAD_REQUEST),
            None => CodeProblem {
                error: None,
                wait: None,
                status: StatusCode::OK,
            },
        }
    }
}

fn form_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    page: Page,
    raw: &RawRequest,
    problem: CodeProblem,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
    let page = page
        .status(problem.status)
        .with("csrf_token", csrf_token)
        .with("request", raw.encode())
        .with(
            "error",
            problem.error.map(Value::from).unwrap_or(Value::Null),
        )
        .with("wait", problem.wait.map(Value::from).unwrap_or(Value::Null));
    pages::render(state, lang, page, cookie.into_iter().collect())
}

/// The code asked for after the password.
pub fn second_step_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    raw: &RawRequest,
    problem: CodeProblem,
) -> HttpResponse {
    let page = Page::new("second_factor", "second_factor.title");
    form_page(state, req, lang, page, raw, problem)
}

/// The set-up page: QR code, key, first code. Carries `raw` on to where the person was
/// going (a relying party, or back to the personal space).
pub async fn setup_page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    raw: &RawRequest,
    identity: &Identity,
    problem: CodeProblem,
) -> HttpResponse {
    let provider = &state.provider;
    let enrolment = match second_factor::enrolment(provider, identity).await {
        Ok(Some(enrolment)) => enrolment,
        // Already on (a second tab): on to where the person was going.
        Ok(None) => {
            let location = format!("{AUTHORIZATION_PATH}?{}", raw.encode());
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        Err(error) => return server_error(state, lang, &error),
    };
    let reason = if second_factor::required_by_affiliation(provider, identity) {
        Value::from("second_factor.reason_affiliation")
    } else if protocol::asks_for_second_factor(raw) {
        Value::from("second_factor.reason_client")
    } else {
        Value::Null
    };
    let page = Page::new("second_factor_setup", "second_factor.setup_title")
        .with("reason", reason)
        .with("qr_svg", enrolment.qr_svg)
        .with("key", enrolment.key)
        .with("uri", enrolment.uri);
    form_page(state, req, lang, page, raw, problem)
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    /// Set-up only.
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

/// `POST /login/second-factor`: the code after the password.
pub async fn second_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    let (session, identity) = match signed_in_or_sign_in_page(&state, &req, lang, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        return second_step_page(&state, &req, lang, &raw, Some("login.expired_form").into());
    }
    let provider = &state.provider;
    match gates::pending_for_session(provider, &identity, &session, false).await {
        Ok(Some(Gate::SecondFactor)) => {}
        Ok(_) => return run(&state, &req, raw, Interaction::Fresh, None).await,
        Err(error) => return server_error(&state, lang, &error),
    }
    let context = request_context(&req);
    match second_factor::verify(provider, &identity, &session, &form.code, &context).await {
        Ok(CodeOutcome::Accepted(())) => {
            // The session now proves both factors: under a new cookie secret, so that a
            // cookie seen before (on the password step) does not carry it.
            let secret =
                match crate::account::sign_in::renew_session_secret(provider, &session).await {
                    Ok(Some(secret)) => secret,
                    Ok(None) => return run(&state, &req, raw, Interaction::Fresh, None).await,
                    Err(error) => return server_error(&state, lang, &error),
                };
            // This request still carries the old cookie: the session is looked up anew.
            let renewed = match crate::account::sign_in::resume_session(provider, &secret).await {
                Ok(renewed) => renewed,
                Err(error) => return server_error(&state, lang, &error),
            };
            let mut response = run(&state, &req, raw, Interaction::Fresh, renewed).await;
            let cookie = crate::web::cookies::build(
                crate::web::cookies::Name::Session,
                secret,
                provider.settings.issuer_is_https(),
                Some(provider.settings.session_lifetime.as_secs() as i64),
            );
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "could not set the session cookie");
            }
            response
        }
        Ok(refused) => second_step_page(&state, &req, lang, &raw, CodeProblem::of(&refused)),
        Err(error) => server_error(&state, lang, &error),
    }
}

/// `GET /account/second-factor`: set up from the personal space.
pub async fn setup_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let here = come_back_to("/account/second-factor".into());
    let (_, identity) = match signed_in_past_gates(&state, &req, lang, &here).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let back = come_back_to("/account".into());
    setup_page(
        &state,
        &req,
        lang,
        &back,
        &identity,
        CodeProblem::from(None),
    )
    .await
}

/// `POST /account/second-factor`: the first code turns it on; the recovery codes follow.
pub async fn enable(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    let (session, identity) = match signed_in_or_sign_in_page(&state, &req, lang, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !state.csrf_ok(&req, &form.csrf_token) {
        let problem = Some("login.expired_form").into();
        return setup_page(&state, &req, lang, &raw, &identity, problem).await;
    }
    let context = request_context(&req);
    let outcome = second_factor::enable(
        &state.provider,
        &identity,
        &session,
        &form.current_password,
        &form.code,
        lang,
        &context,
    )
    .await;
    match outcome {
        Ok(CodeOutcome::Accepted(codes)) => {
            let page =
                Page::new("recovery_codes", "second_factor.codes_title").with("codes", codes);
            form_page(&state, &req, lang, page, &raw, CodeProblem::from(None))
        }
        Ok(refused) => {
            let problem = CodeProblem::of(&refused);
            setup_page(&state, &req, lang, &raw, &identity, problem).await
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct ContinueForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
}

/// `POST /account/second-factor/continue`: on from the recovery codes to where the
/// person was going.
pub async fn continue_after_codes(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ContinueForm>,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(&form.request);
    let lang = page_lang(&state, &req, Some(&raw));
    if !state.csrf_ok(&req, &form.csrf_token) {
        return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.expired_form");
    }
    match super::authorize::current_session(&state, &req).await {
        Ok(Some(_)) => run(&state, &req, raw, Interaction::Fresh, None).await,
        Ok(None) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish(),
        Err(response) => response,
    }
}
