use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::header as header_value;
use crate::oauth::userinfo::{self, Bearer};
use crate::web::{error, AppState};

pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let bearer = Bearer {
        authorization: header_value(&req, "authorization"),
        form_access_token: None,
    };
    respond(userinfo::handle(&state.provider, bearer).await)
}

pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: Vec<(String, String)> = match header_value(&req, "content-type") {
        Some(ct)
            if ct
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded") =>
        {
            url::form_urlencoded::parse(&body).into_owned().collect()
        }
        _ => Vec::new(),
    };
    let form_token = form
        .iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str());
    let bearer = Bearer {
        authorization: header_value(&req, "authorization"),
        form_access_token: form_token,
    };
    respond(userinfo::handle(&state.provider, bearer).await)
}

fn respond(
    result: Result<serde_json::Map<String, serde_json::Value>, userinfo::UserinfoError>,
) -> HttpResponse {
    match result {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(claims),
        Err(e) => error::bearer(&e),
    }
}
