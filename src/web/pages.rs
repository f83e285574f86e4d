//! Rendering a page into a response, with the cookies that go with it.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{Map, Value};

use super::state::AppState;
use crate::saml::logout::FrontChannelLogout;

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

/// The end of a sign-out in the browser. With no front-channel logout to carry, straight
/// on to `next` (or the signed-out notice). With some (SAML SPs that have no back
/// channel), a page that carries each in a hidden frame (a Redirect-binding URL as its
/// address, a POST-binding request as a self-submitting form in `srcdoc`) and then goes
/// on to `next` (`logout.js`); its Content-Security-Policy lets it frame those origins
/// and no other.
pub fn signed_out(
    state: &AppState,
    lang: &str,
    message: &'static str,
    front_channel: Vec<FrontChannelLogout>,
    next: Option<String>,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    // Where the sign-out leads is one of Etupass's pages or a registered http(s) address,
    // never a script or another scheme, even if a registration allowed it.
    let next = next.filter(|next| {
        (next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\"))
            || url::Url::parse(next).is_ok_and(|url| matches!(url.scheme(), "https" | "http"))
    });
    if front_channel.is_empty() {
        if let Some(next) = next {
            let mut response = HttpResponse::SeeOther();
            for cookie in cookies {
                response.cookie(cookie);
            }
            return response
                .insert_header((actix_web::http::header::LOCATION, next))
                .finish();
        }
    }
    let origins: std::collections::BTreeSet<String> = front_channel
        .iter()
        .filter_map(|logout| url::Url::parse(logout.location()).ok())
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin != "null")
        .collect();
    let frames: Vec<Value> = front_channel
        .iter()
        .map(|logout| match logout {
            FrontChannelLogout::Redirect(url) => serde_json::json!({ "src": url }),
            FrontChannelLogout::Post {
                location,
                saml_request,
            } => serde_json::json!({ "srcdoc": format!(
                "<form method=\"post\" action=\"{}\" id=\"saml-post\"><input type=\"hidden\" name=\"SAMLRequest\" value=\"{}\"></form><script src=\"/static/autosubmit.js\"></script>",
                crate::cas::response::xml_escape(location),
                crate::cas::response::xml_escape(saml_request),
            )}),
        })
        .collect();
    let page = Page::new("signed_out", "logout.title")
        .with("message", message)
        .with("frames", frames)
        .with("next", next.map(Value::from).unwrap_or(Value::Null));
    let mut response = render(state, lang, page, cookies);
    if !origins.is_empty() {
        let policy = format!(
            "{}; frame-src {}",
            super::routes::CONTENT_SECURITY_POLICY,
            origins.into_iter().collect::<Vec<_>>().join(" ")
        );
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}
