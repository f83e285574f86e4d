//! RFC 7591 registration and RFC 7592 management, JSON in and out.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{header, request_context};
use crate::oauth::registration;
use crate::oauth::userinfo::UserinfoError;
use crate::oauth::{ErrorCode, OAuthError};
use crate::web::{error, AppState};

pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(e) = json_body(&req) {
        return error::oauth_json(&e);
    }
    let result = registration::register(
        &state.provider,
        header(&req, "authorization"),
        &body,
        &request_context(&req),
    )
    .await;
    answer(result, StatusCode::CREATED)
}

pub async fn read(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let result = registration::read(&state.provider, &path, header(&req, "authorization")).await;
    answer(result, StatusCode::OK)
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(e) = json_body(&req) {
        return error::oauth_json(&e);
    }
    let result = registration::update(
        &state.provider,
        &path,
        header(&req, "authorization"),
        &body,
        &request_context(&req),
    )
    .await;
    answer(result, StatusCode::OK)
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match registration::delete(
        &state.provider,
        &path,
        header(&req, "authorization"),
        &request_context(&req),
    )
    .await
    {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => failure(e),
    }
}

fn json_body(req: &HttpRequest) -> Result<(), OAuthError> {
    let content_type = header(req, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be application/json",
        ))
    }
}

fn answer(result: Result<Value, OAuthError>, status: StatusCode) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .json(body),
        Err(e) => failure(e),
    }
}

/// A bad or missing token is a Bearer challenge (401); the rest are JSON errors (400).
fn failure(e: OAuthError) -> HttpResponse {
    if e.code == ErrorCode::InvalidToken {
        error::bearer(&UserinfoError::Rejected(e))
    } else {
        error::oauth_json(&e)
    }
}
