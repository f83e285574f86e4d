//! The one place where errors become HTTP responses (STYLE.md, "Errors").

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::oauth::userinfo::UserinfoError;
use crate::oauth::{ErrorCode, OAuthError};

/// The status of a server error: 503 when it passes (the database is unreachable).
fn server_error_status(error: &OAuthError) -> StatusCode {
    if error.unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// A 503 says when to try again.
fn retry_after(response: &mut actix_web::HttpResponseBuilder, status: StatusCode) {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, "1"));
    }
}

/// Token-endpoint style: JSON body of RFC 6749 §5.2, never cached.
pub fn oauth_json(error: &OAuthError) -> HttpResponse {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => server_error_status(error),
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = HttpResponse::build(status);
    retry_after(&mut response, status);
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED && error.basic_challenge {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"etupass\""));
    }
    response.json(error.body())
}

/// Bearer-protected resources (RFC 6750 §3): the error goes in `WWW-Authenticate`.
pub fn bearer(error: &UserinfoError) -> HttpResponse {
    let (status, challenge, body) = match error {
        UserinfoError::NoToken => (
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"etupass\"".to_string(),
            None,
        ),
        UserinfoError::Rejected(e) => {
            let status = match e.code {
                ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
                ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                ErrorCode::ServerError => server_error_status(e),
                _ => StatusCode::BAD_REQUEST,
            };
            let description = e.description.replace(['"', '\\'], "'");
            (
                status,
                format!(
                    "Bearer realm=\"etupass\", error=\"{}\", error_description=\"{description}\"",
                    e.code
                ),
                Some(e.body()),
            )
        }
    };
    let mut response = HttpResponse::build(status);
    retry_after(&mut response, status);
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"))
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    match body {
        Some(body) => response.json(body),
        None => response.finish(),
    }
}
