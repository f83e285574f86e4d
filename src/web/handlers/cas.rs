//! The CAS 3.0 endpoints under `/cas`: the browser side (`login`, `logout`) shares the
//! sign-in page, session and gates with OpenID Connect; the back-channel side
//! (`validate`, `serviceValidate`, `proxyValidate`, `proxy`, with their `/p3/` twins)
//! answers services in the protocol's XML, JSON or CAS 1.0 text, never with a 5xx page.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::authorize::{
    current_session, gate_page, page_lang, server_error, session_for_pass, sign_in_to_continue,
};
use super::request_context;
use crate::account::sign_in;
use crate::cas::login::{self, CasLogin, CasOutcome};
use crate::cas::response::{self, codes, Failure, Format};
use crate::cas::validate::{self, Endpoint, Validation};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::oauth::authorize::{Interaction, RawRequest};
use crate::web::pages;
use crate::web::{cookies, AppState};

/// `/cas/login?service=…[&renew=true][&gateway=true]`.
pub async fn login_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let carried = CasLogin::from_query(&raw).carried();
    login_pass(&state, &req, carried, Interaction::Fresh, None).await
}

/// One pass through `/cas/login`: from the link, or back from the sign-in page or a gate
/// (`authorize::run` sends carried CAS requests here).
pub async fn login_pass(
    state: &AppState,
    req: &HttpRequest,
    carried: RawRequest,
    interaction: Interaction,
    fresh_session: Option<(Session, Identity)>,
) -> HttpResponse {
    let lang = page_lang(state, req, None);
    let session = match session_for_pass(state, req, fresh_session).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match login::login(&state.provider, carried, session, interaction).await {
        Ok(CasOutcome::Redirect(location)) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish(),
        Ok(CasOutcome::SignIn { carried }) => sign_in_to_continue(state, req, lang, &carried).await,
        Ok(CasOutcome::Gate {
            carried,
            identity,
            gate,
        }) => gate_page(state, req, lang, &carried, &identity, gate, Vec::new()).await,
        Ok(CasOutcome::SignedIn) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish(),
        Ok(CasOutcome::UnknownService) => {
            pages::error(state, lang, StatusCode::BAD_REQUEST, "cas.unknown_service")
        }
        Ok(CasOutcome::Refused(key)) => pages::error(state, lang, StatusCode::FORBIDDEN, key),
        Err(error) => server_error(state, lang, &error),
    }
}

/// `/cas/logout[?service=…]` (§2.3): the session ends at once, as CAS services expect
/// of their logout link, and every service of it hears so (single logout). Then back to
/// `service` if it is registered, or the signed-out page.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let lang = page_lang(&state, &req, None);
    let session = match current_session(&state, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let mut front_channel = Vec::new();
    if let Some((session, identity)) = session {
        match sign_in::end_session(&state.provider, &session, &identity).await {
            Ok(urls) => front_channel = urls,
            Err(error) => return server_error(&state, lang, &error),
        }
    }
    let cookie = cookies::removal(
        cookies::Name::Session,
        state.provider.settings.issuer_is_https(),
    );
    let back_to = match raw.get("service") {
        Some(service) => match login::registered_service(&state.provider, service).await {
            Ok(found) => found.map(|_| service.to_string()),
            Err(error) => return server_error(&state, lang, &error),
        },
        None => None,
    };
    pages::signed_out(
        &state,
        lang,
        "logout.done",
        front_channel,
        back_to,
        vec![cookie],
    )
}

fn validation_of(raw: &RawRequest) -> Validation {
    Validation {
        service: raw.get("service").map(str::to_string),
        ticket: raw.get("ticket").map(str::to_string),
        pgt_url: raw.get("pgtUrl").map(str::to_string),
        renew: raw
            .0
            .iter()
            .any(|(k, v)| k == "renew" && !v.eq_ignore_ascii_case("false")),
    }
}

/// Our own failure, in the protocol's words (logged here; the service sees the code).
fn internal(error: &dyn std::fmt::Display) -> Failure {
    tracing::error!(%error, "CAS request failed");
    Failure::new(codes::INTERNAL_ERROR, "Etupass could not answer; try again")
}

/// `/cas/validate` (CAS 1.0): `yes` and the number, or `no`.
pub async fn validate_v1(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let result = validate::validate(
        &state.provider,
        Endpoint::V1,
        validation_of(&raw),
        &request_context(&req),
    )
    .await
    .unwrap_or_else(|error| Err(internal(&error)));
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(response::v1(&result))
}

/// `/cas/serviceValidate` and `/cas/p3/serviceValidate`.
pub async fn service_validate(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    validation(&state, &req, Endpoint::Service).await
}

/// `/cas/proxyValidate` and `/cas/p3/proxyValidate`.
pub async fn proxy_validate(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    validation(&state, &req, Endpoint::Proxy).await
}

async fn validation(state: &AppState, req: &HttpRequest, endpoint: Endpoint) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let format = Format::from_param(raw.get("format"));
    let result = validate::validate(
        &state.provider,
        endpoint,
        validation_of(&raw),
        &request_context(req),
    )
    .await
    .unwrap_or_else(|error| Err(internal(&error)));
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(response::validation(&result, format))
}

/// `/cas/proxy?pgt=…&targetService=…`.
pub async fn proxy(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let format = Format::from_param(raw.get("format"));
    let result = validate::proxy(&state.provider, raw.get("pgt"), raw.get("targetService"))
        .await
        .unwrap_or_else(|error| Err(internal(&error)));
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(response::proxy(&result, format))
}

/// `POST /cas/samlValidate?TARGET=…` (CAS 3.0 §4): the ticket in a SOAP envelope, the
/// answer a SAML 1.1 response with the released attributes.
pub async fn saml_validate(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let raw = RawRequest::from_urlencoded(req.query_string());
    let target = raw.get("TARGET").unwrap_or_default().to_string();
    let envelope = std::str::from_utf8(&body).unwrap_or_default();
    let request = Validation {
        service: Some(target.clone()).filter(|t| !t.is_empty()),
        ticket: response::saml_artifact(envelope).map(str::to_string),
        pgt_url: None,
        renew: false,
    };
    let result = validate::validate(
        &state.provider,
        Endpoint::Service,
        request,
        &request_context(&req),
    )
    .await
    .unwrap_or_else(|error| Err(internal(&error)));
    let issuer = state.provider.settings.issuer().to_string();
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(response::saml11(
            &result,
            &target,
            &issuer,
            state.provider.now(),
        ))
}
