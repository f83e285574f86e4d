use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::authorize::{current_session, page_lang};
use crate::views::STYLESHEET;
use crate::web::pages::{self, Page};
use crate::web::AppState;

pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    let mut page = Page::new("home", "home.title")
        .with("user_name", serde_json::Value::Null)
        .with("number", serde_json::Value::Null);
    let mut cookies = Vec::new();
    match current_session(&state, &req).await {
        // A session still waiting for its second factor shows nothing of the person.
        Ok(Some((session, identity)))
            if crate::account::gates::awaits_second_factor(
                &state.provider,
                &identity,
                &session,
            )
            .await
            .unwrap_or(true) => {}
        Ok(Some((_, identity))) => {
            let (csrf_token, cookie) =
                crate::web::csrf::issue(&req, state.provider.settings.issuer_is_https());
            cookies.extend(cookie);
            page = page
                .with("user_name", identity.display_name())
                .with("number", identity.number.as_str())
                .with("csrf_token", csrf_token);
        }
        Ok(None) => {}
        Err(response) => return response,
    }
    pages::render(&state, lang, page, cookies)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

pub async fn strength_script() -> HttpResponse {
    script(crate::views::STRENGTH_SCRIPT)
}

/// Submits the SAML form of `saml_post` pages.
pub async fn autosubmit_script() -> HttpResponse {
    script(crate::views::AUTOSUBMIT_SCRIPT)
}

/// Goes on from the signed-out page once its logout frames have loaded.
pub async fn logout_script() -> HttpResponse {
    script(crate::views::LOGOUT_SCRIPT)
}

pub async fn not_found(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page_lang(&state, &req, None);
    pages::error(&state, lang, StatusCode::NOT_FOUND, "error.not_found")
}
