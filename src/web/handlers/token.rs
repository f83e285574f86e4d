use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::header as header_value;
use crate::oauth::{token, OAuthError};
use crate::web::{error, AppState};

pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = header_value(&req, "authorization");
    // Browser apps call the token endpoint directly: CORS, and never cached (§5.1).
    form_endpoint(&req, &body, StatusCode::OK, true, |form| {
        token::handle(&state.provider, form, authorization)
    })
    .await
}

/// A form-encoded endpoint answering JSON: the form parsed, `handle` run, its answer
/// with `status` and `Cache-Control: no-store`; every error as an OAuth JSON error.
async fn form_endpoint<T, F, Fut>(
    req: &HttpRequest,
    body: &[u8],
    status: StatusCode,
    cors: bool,
    handle: F,
) -> HttpResponse
where
    T: serde::Serialize,
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = Result<T, OAuthError>>,
{
    let form = match parse_form(req, body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    match handle(form).await {
        Ok(answer) => {
            let mut response = HttpResponse::build(status);
            response
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"));
            if cors {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
            }
            response.json(answer)
        }
        Err(e) => error::oauth_json(&e),
    }
}

/// RFC 6749 §3.2: parameters come form-encoded in the body.
pub fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let content_type = header_value(req, "content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

/// RFC 9126: 201 with the request_uri.
pub async fn pushed_authorization_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = header_value(&req, "authorization");
    form_endpoint(&req, &body, StatusCode::CREATED, false, |form| {
        crate::oauth::par::handle(&state.provider, form, authorization)
    })
    .await
}

/// RFC 8628 §3.1–3.2.
pub async fn device_authorization(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = header_value(&req, "authorization");
    form_endpoint(&req, &body, StatusCode::OK, false, |form| {
        crate::oauth::device::authorize_device(&state.provider, form, authorization)
    })
    .await
}

/// RFC 7662: for resource servers, so no CORS.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = header_value(&req, "authorization");
    form_endpoint(&req, &body, StatusCode::OK, false, |form| {
        crate::oauth::introspect::handle(&state.provider, form, authorization)
    })
    .await
}

/// RFC 7009.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    match crate::oauth::revoke::handle(&state.provider, form, header_value(&req, "authorization"))
        .await
    {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => error::oauth_json(&e),
    }
}
