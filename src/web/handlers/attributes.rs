//! The attribute API over HTTP: JSON in and out, Bearer errors.

use actix_web::{web, HttpRequest, HttpResponse};

use super::header;
use crate::oauth::attributes;
use crate::oauth::userinfo::UserinfoError;
use crate::oauth::{ErrorCode, OAuthError};
use crate::web::{error, AppState};

fn failure(e: OAuthError) -> HttpResponse {
    match e.code {
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope => {
            error::bearer(&UserinfoError::Rejected(e))
        }
        _ => error::oauth_json(&e),
    }
}

pub async fn put(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (number, name) = path.into_inner();
    match attributes::put(
        &state.provider,
        header(&req, "authorization"),
        &number,
        &name,
        &body,
    )
    .await
    {
        Ok(attribute) => HttpResponse::Ok().json(attribute),
        Err(e) => failure(e),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (number, name) = path.into_inner();
    match attributes::delete(
        &state.provider,
        header(&req, "authorization"),
        &number,
        &name,
    )
    .await
    {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => HttpResponse::NotFound().json(serde_json::json!({
            "error": "not_found",
            "error_description": "this person has no such attribute"
        })),
        Err(e) => failure(e),
    }
}
