use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::header as header_value;
use crate::oauth::{token, OAuthError};
use crate::web::{error, AppState};

pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    let authorization = header_value(&req, "authorization");
    match token::handle(&state.provider, form, authorization).await {
        Ok(response) => HttpResponse::Ok()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(response),
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
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    match crate::oauth::par::handle(&state.provider, form, header_value(&req, "authorization"))
        .await
    {
        Ok(pushed) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(pushed),
        Err(e) => error::oauth_json(&e),
    }
}

/// RFC 8628 §3.1–3.2.
pub async fn device_authorization(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    match crate::oauth::device::authorize_device(
        &state.provider,
        form,
        header_value(&req, "authorization"),
    )
    .await
    {
        Ok(answer) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(answer),
        Err(e) => error::oauth_json(&e),
    }
}

/// RFC 7662.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    match crate::oauth::introspect::handle(
        &state.provider,
        form,
        header_value(&req, "authorization"),
    )
    .await
    {
        Ok(answer) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(answer),
        Err(e) => error::oauth_json(&e),
    }
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
