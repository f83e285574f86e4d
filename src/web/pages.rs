//! Rendering a page into a response, with the cookies that go with it.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{Map, Value};

use super::state::AppState;

pub struct Page {
    pub template: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
    pub data: Map<String, Value>,
}

impl Page {
    pub fn new(template: &'static str, title: &'static str) -> Page {
        Page {
            template,
            title,
            status: StatusCode::OK,
            data: Map::new(),
        }
    }

    pub fn status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Page {
        self.data.insert(key.to_string(), value.into());
        self
    }
}

pub fn render(
    state: &AppState,
    lang: &str,
    page: Page,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let institution = &state.provider.settings.institution_name;
    match state
        .views
        .render(page.template, lang, institution, page.title, page.data)
    {
        Ok(html) => {
            let mut response = HttpResponse::build(page.status);
            for cookie in cookies {
                response.cookie(cookie);
            }
            response.content_type("text/html; charset=utf-8").body(html)
        }
        Err(error) => {
            tracing::error!(%error, "page rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("500 Internal Server Error")
        }
    }
}

/// An error page; `message_key` names the text in the catalogs.
pub fn error(
    state: &AppState,
    lang: &str,
    status: StatusCode,
    message_key: &'static str,
) -> HttpResponse {
    render(
        state,
        lang,
        Page::new("error", "error.title")
            .status(status)
            .with("message", message_key),
        Vec::new(),
    )
}
