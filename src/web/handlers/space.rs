//! `/account`, the personal space: one page with the overview, the connected
//! applications, the sessions and the password change, and the small forms that act on
//! them. Signed-in only; every form carries a CSRF token.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::authorize::{page_lang, signed_in_past_gates};
use super::{come_back_to, request_context};
use crate::account::space;
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::web::csrf;
use crate::web::pages::{self, Page};
use crate::web::AppState;

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    match signed_in(&state, &req, lang).await {
        Ok(signed_in) => page(&state, &req, lang, &signed_in, Outcome::default()).await,
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
pub struct AppForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
    /// `cas` for a CAS service (`client_id` is then its id); OpenID Connect otherwise.
    #[serde(default)]
    protocol: String,
}

pub async fn disconnect_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AppForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match space::disconnect_app(
        &state.provider,
        &signed_in.1,
        &form.protocol,
        &form.client_id,
        &request_context(&req),
    )
    .await
    {
        // Straight back to the list, through the front-channel logouts if there are any.
        Ok(front_channel) => pages::signed_out(
            &state,
            lang,
            "logout.app_disconnected",
            front_channel,
            Some("/account#apps".to_string()),
            Vec::new(),
        ),
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    csrf_token: String,
    /// One session, or empty for all the others.
    #[serde(default)]
    session_id: String,
}

pub async fn end_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SessionForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let (session, identity) = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let which = (!form.session_id.is_empty()).then(|| form.session_id.clone());
    match space::end_sessions(&state.provider, &identity, &session, which).await {
        Ok(_) => back_to_account("sessions"),
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct ContactDetailsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    postal_address: String,
    #[serde(default)]
    keep_in_touch_email: String,
}

pub async fn update_contact_details(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ContactDetailsForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let typed = space::ContactForm {
        phone: &form.phone,
        postal_address: &form.postal_address,
        keep_in_touch_email: &form.keep_in_touch_email,
    };
    match space::update_contact_details(
        &state.provider,
        &signed_in.1,
        typed,
        &request_context(&req),
    )
    .await
    {
        Ok(refused) if refused.is_empty() => back_to_account("contact"),
        Ok(refused) => {
            let outcome = Outcome::refused(Form::Contact, refused, StatusCode::BAD_REQUEST);
            page(&state, &req, lang, &signed_in, outcome).await
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    personal_email: String,
}

pub async fn request_email_change(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EmailForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let result = space::request_email_change(
        &state.provider,
        &signed_in.1,
        &form.current_password,
        &form.personal_email,
        lang,
        &request_context(&req),
    )
    .await;
    let outcome = match result {
        Ok(refused) => Outcome::answer(Form::Email, refused, "account.email_link_sent"),
        Err(error) => return server_error(&state, lang, &error),
    };
    page(&state, &req, lang, &signed_in, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct NewAppPasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    purpose: String,
}

/// Creates an app password and shows it, this once.
pub async fn create_app_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewAppPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let Ok(purpose) = form.purpose.parse() else {
        return pages::error(&state, lang, StatusCode::BAD_REQUEST, "error.bad_request");
    };
    let created = crate::account::app_passwords::create(
        &state.provider,
        &signed_in.1,
        &signed_in.0,
        &form.current_password,
        &form.name,
        purpose,
        &request_context(&req),
    )
    .await;
    let outcome = match created {
        Ok(Ok(password)) => Outcome {
            new_app_password: Some(password),
            ..Outcome::default()
        },
        Ok(Err(refusal)) => {
            Outcome::refused(Form::AppPassword, vec![refusal], StatusCode::BAD_REQUEST)
        }
        Err(error) => return server_error(&state, lang, &error),
    };
    page(&state, &req, lang, &signed_in, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct RevokeAppPasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    id: String,
}

pub async fn revoke_app_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<RevokeAppPasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match crate::account::app_passwords::revoke(
        &state.provider,
        &signed_in.1,
        &form.id,
        &request_context(&req),
    )
    .await
    {
        Ok(_) => back_to_account("app-passwords"),
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    /// Ticked: applications, devices and app passwords stay connected.
    #[serde(default)]
    keep_access: Option<String>,
}

pub async fn change_own_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let result = space::change_own_password(
        &state.provider,
        &signed_in.1,
        &signed_in.0,
        &form.current_password,
        &form.password,
        &form.confirmation,
        form.keep_access.as_deref() == Some("yes"),
        lang,
        &request_context(&req),
    )
    .await;
    match result {
        Ok(refused) => {
            let outcome = Outcome::answer(Form::Password, refused, "account.password_changed");
            page(&state, &req, lang, &signed_in, outcome).await
        }
        Err(error) => server_error(&state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct DisableSecondFactorForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

/// Turning two-factor sign-in off: the current password and a code.
pub async fn disable_second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DisableSecondFactorForm>,
) -> HttpResponse {
    use crate::account::second_factor::{self, CodeOutcome};
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let result = second_factor::disable(
        &state.provider,
        &signed_in.1,
        &form.current_password,
        &form.code,
        lang,
        &request_context(&req),
    )
    .await;
    let outcome = match result {
        Ok(CodeOutcome::Accepted(())) => Outcome::notice("second_factor.disabled"),
        Ok(CodeOutcome::Refused(key)) => {
            Outcome::refused(Form::SecondFactor, vec![key], StatusCode::BAD_REQUEST)
        }
        Ok(CodeOutcome::Throttled(_)) => Outcome::refused(
            Form::SecondFactor,
            vec!["login.throttled"],
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(error) => return server_error(&state, lang, &error),
    };
    page(&state, &req, lang, &signed_in, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct InviteParentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    /// A ticked box: relying parties may learn of the link.
    #[serde(default)]
    shared: Option<String>,
}

/// A student invites a parent by e-mail.
pub async fn invite_parent(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<InviteParentForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let result = crate::account::parents::invite(
        &state.provider,
        &signed_in.1,
        &form.email,
        form.shared.as_deref() == Some("yes"),
        lang,
        &request_context(&req),
    )
    .await;
    let outcome = match result {
        Ok(refused) => Outcome::answer(Form::Parents, refused, "parents.invited"),
        Err(error) => return server_error(&state, lang, &error),
    };
    page(&state, &req, lang, &signed_in, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct ParentLinkForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    id: String,
    /// For `share`: `yes` or anything else.
    #[serde(default)]
    shared: String,
}

/// The student ends a link with a parent (or withdraws the invitation).
pub async fn revoke_parent(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ParentLinkForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let context = request_context(&req);
    match crate::account::parents::revoke(&state.provider, &signed_in.1, &form.id, &context).await {
        Ok(_) => back_to_account("parents"),
        Err(error) => server_error(&state, lang, &error),
    }
}

/// The student lets relying parties know of a link, or stops.
pub async fn share_parent(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ParentLinkForm>,
) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let signed_in = match checked(&state, &req, lang, &form.csrf_token).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let shared = form.shared == "yes";
    let context = request_context(&req);
    match crate::account::parents::share(&state.provider, &signed_in.1, &form.id, shared, &context)
        .await
    {
        Ok(_) => back_to_account("parents"),
        Err(error) => server_error(&state, lang, &error),
    }
}

/// What the last action left to say on the page.
struct Outcome {
    notice: Option<&'static str>,
    /// The refusals, shown beside the form they answer.
    errors: Vec<&'static str>,
    form: Option<Form>,
    /// A new app password, shown this once.
    new_app_password: Option<String>,
    status: StatusCode,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            notice: None,
            errors: Vec::new(),
            form: None,
            new_app_password: None,
            status: StatusCode::OK,
        }
    }
}

/// The forms of the page that show refusals; each has its `<name>_errors` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Contact,
    Email,
    AppPassword,
    SecondFactor,
    Parents,
    Password,
}

impl Form {
    const ALL: [Form; 6] = [
        Form::Contact,
        Form::Email,
        Form::AppPassword,
        Form::SecondFactor,
        Form::Parents,
        Form::Password,
    ];

    fn errors_key(self) -> &'static str {
        match self {
            Form::Contact => "contact_errors",
            Form::Email => "email_errors",
            Form::AppPassword => "app_password_errors",
            Form::SecondFactor => "second_factor_errors",
            Form::Parents => "parent_errors",
            Form::Password => "password_errors",
        }
    }
}

impl Outcome {
    fn refused(form: Form, errors: Vec<&'static str>, status: StatusCode) -> Outcome {
        Outcome {
            errors,
            form: Some(form),
            status,
            ..Outcome::default()
        }
    }

    fn notice(key: &'static str) -> Outcome {
        Outcome {
            notice: Some(key),
            ..Outcome::default()
        }
    }

    /// A form's answer: its notice when nothing was refused, else the refusals.
    fn answer(form: Form, refused: Vec<&'static str>, notice: &'static str) -> Outcome {
        if refused.is_empty() {
            Outcome::notice(notice)
        } else {
            Outcome::refused(form, refused, StatusCode::BAD_REQUEST)
        }
    }
}

async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
) -> Result<(Session, Identity), HttpResponse> {
    signed_in_past_gates(state, req, lang, &come_back_to("/account".into())).await
}

/// Signed in, and the form is the one this browser was given.
async fn checked(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    csrf_token: &str,
) -> Result<(Session, Identity), HttpResponse> {
    let signed_in = signed_in(state, req, lang).await?;
    if !state.csrf_ok(req, csrf_token) {
        return Err(pages::error(
            state,
            lang,
            StatusCode::BAD_REQUEST,
            "error.expired_form",
        ));
    }
    Ok(signed_in)
}

/// After an action: back to the page (POST, redirect, GET), at the part acted on.
fn back_to_account(anchor: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/account#{anchor}")))
        .finish()
}

fn server_error(
    state: &AppState,
    lang: &'static str,
    error: &dyn std::fmt::Display,
) -> HttpResponse {
    tracing::error!(%error, "personal space failed");
    pages::error(
        state,
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.server",
    )
}

/// UTC, to the minute (`2026-11-25 12:00 UTC`): the page says the same to everyone.
fn when(at: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} UTC", rfc3339[..16].replace('T', " "))
}

async fn page(
    state: &AppState,
    req: &HttpRequest,
    lang: &'static str,
    (session, identity): &(Session, Identity),
    outcome: Outcome,
) -> HttpResponse {
    let overview = match space::overview(&state.provider, identity).await {
        Ok(overview) => overview,
        Err(error) => return server_error(state, lang, &error),
    };
    let second_factor = match crate::account::second_factor::status(&state.provider, identity).await
    {
        Ok(status) => status,
        Err(error) => return server_error(state, lang, &error),
    };
    let store = &state.provider.store;
    let (parents, followed) = match (
        store.parents_of(&identity.id, state.provider.now()).await,
        store.students_followed_by(&identity.id).await,
    ) {
        (Ok(parents), Ok(followed)) => (parents, followed),
        (Err(error), _) | (_, Err(error)) => return server_error(state, lang, &error),
    };
    let parents: Vec<Value> = parents
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "email": p.parent_email,
                "accepted": p.accepted_at.map(when),
                "invited": when(p.created_at),
                "shared": p.shared_with_apps,
            })
        })
        .collect();
    let followed: Vec<Value> = followed
        .iter()
        .map(|(link, student)| {
            json!({
                "name": student.display_name(),
                "since": link.accepted_at.map(when),
            })
        })
        .collect();
    let (csrf_token, cookie) = csrf::issue(req, state.provider.settings.issuer_is_https());
    let affiliations: Vec<&str> = identity.affiliations.iter().map(|a| a.as_str()).collect();
    let sign_ins: Vec<Value> = overview
        .recent_sign_ins
        .iter()
        .map(|e| {
            json!({
                "when": when(e.at),
                "failed": e.event != crate::domain::audit::events::SIGN_IN,
                "ip": e.ip,
                "device": e.user_agent,
            })
        })
        .collect();
    let sessions: Vec<Value> = overview
        .sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "when": when(s.created_at),
                "ip": s.ip,
                "device": s.user_agent,
                "current": s.id == session.id,
            })
        })
        .collect();
    let apps: Vec<Value> = overview
        .apps
        .iter()
        .map(|a| {
            json!({
                "client_id": a.client_id,
                "protocol": a.protocol,
                "name": a.name,
                "when": when(a.granted_at),
                "scopes": a.scopes.iter().filter(|s| *s != "openid").collect::<Vec<_>>(),
            })
        })
        .collect();
    let page = Page::new("account", "account.title")
        .status(outcome.status)
        .with("csrf_token", csrf_token)
        .with("user_name", identity.display_name())
        .with("number", identity.number.as_str())
        .with("institutional_email", json!(identity.institutional_email))
        .with("personal_email", json!(identity.personal_email))
        .with("phone", json!(identity.phone))
        .with("postal_address", json!(identity.postal_address))
        .with("keep_in_touch_email", json!(identity.keep_in_touch_email))
        .with("affiliations", affiliations.join(", "))
        .with(
            "status",
            format!("account.status.{}", identity.status.as_str()),
        )
        .with(
            "charter",
            overview
                .charter
                .map(|(version, at)| json!({ "version": version, "when": when(at) }))
                .unwrap_or(Value::Null),
        )
        .with("sign_ins", sign_ins)
        .with("sessions", sessions)
        .with("other_sessions", overview.sessions.len() > 1)
        .with("apps", apps)
        .with("tiles", json!(overview.attributes))
        .with(
            "app_passwords",
            overview
                .app_passwords
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "name": p.name,
                        "purpose": format!("account.purpose.{}", p.purpose.as_str()),
                        "when": when(p.created_at),
                        "used": p.last_used_at.map(when),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .with("new_app_password", json!(outcome.new_app_password))
        .with(
            "may_invite_parents",
            crate::account::parents::may_invite(identity),
        )
        .with("parents", parents)
        .with("parent_only", identity.is_parent_only())
        .with("followed_students", followed)
        .with(
            "second_factor",
            json!({
                "enabled": second_factor.enabled,
                "required": second_factor.required,
                "recovery_codes_left": second_factor.recovery_codes_left,
            }),
        )
        .with(
            "notice",
            outcome.notice.map(Value::from).unwrap_or(Value::Null),
        );
    let page = Form::ALL.into_iter().fold(page, |page, form| {
        let errors: Vec<Value> = if outcome.form == Some(form) {
            outcome.errors.iter().map(|e| Value::from(*e)).collect()
        } else {
            Vec::new()
        };
        page.with(form.errors_key(), errors)
    });
    pages::render(state, lang, page, cookie.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_608_000), "2026-11-25 12:00 UTC");
        assert_eq!(super::when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
