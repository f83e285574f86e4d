//! `POST /api/app-passwords/{mail|wifi}/check`: for the mail server and the RADIUS server,
//! authenticated as clients of Etupass (confidential, registered for client_credentials).
//! The form is `username`, `password` and `end_user` (where the person connects from:
//! Dovecot's remote IP, RADIUS's Calling-Station-Id), form-encoded: FreeRADIUS's rest
//! module escapes it properly, which its JSON templates do not. 200 accepts, 401 rejects.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::header;
use super::token::parse_form;
use crate::account::app_passwords;
use crate::domain::app_password::Purpose;
use crate::domain::client::GrantType;
use crate::oauth::client_auth::{self, FormCredentials};
use crate::oauth::{ErrorCode, OAuthError};
use crate::web::{error, AppState};

pub async fn check(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(purpose) = path.parse::<Purpose>() else {
        return error::oauth_json(&OAuthError::invalid_request("the purpose is mail or wifi"));
    };
    let form = match parse_form(&req, &body) {
        Ok(form) => form,
        Err(e) => return error::oauth_json(&e),
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let client = match client_auth::authenticate_request(
        &state.provider,
        header(&req, "authorization"),
        FormCredentials::read(field),
        &format!("/api/app-passwords/{}/check", purpose.as_str()),
    )
    .await
    {
        Ok(client) => client,
        Err(e) => return error::oauth_json(&e),
    };
    // Least privilege: the mail server checks mail passwords, the RADIUS server wifi
    // ones, and no other client any (an administrator marks each service).
    if client.public
        || !client.allows_grant(GrantType::ClientCredentials)
        || !client.app_password_purposes.contains(&purpose)
    {
        return error::oauth_json(&OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this service may not check app passwords of this purpose",
        ));
    }
    let (Some(username), Some(password)) = (field("username"), field("password")) else {
        return error::oauth_json(&OAuthError::invalid_request(
            "username and password are required",
        ));
    };
    // Where the person connects from, as the service saw it (optional; bounded).
    let end_user = field("end_user").filter(|e| e.len() <= 128);
    match app_passwords::check(
        &state.provider,
        &client,
        purpose,
        username,
        password,
        end_user,
    )
    .await
    {
        Ok(true) => HttpResponse::Ok().json(json!({ "result": "accept" })),
        Ok(false) => HttpResponse::Unauthorized().json(json!({ "result": "reject" })),
        Err(error) => error::oauth_json(&OAuthError::server(&error)),
    }
}
