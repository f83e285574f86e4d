//! The session and CSRF cookies: HttpOnly, SameSite=Lax, Secure when the issuer is https.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

/// Cookie names. Over https they take the `__Host-` prefix: the browser then refuses them
/// from a sibling subdomain (cookie tossing), and requires Secure, Path=/ and no Domain.
#[derive(Debug, Clone, Copy)]
pub enum Name {
    Session,
    Csrf,
    /// A browser the owner signed in from (`account::known_device`).
    Device,
}

impl Name {
    pub fn as_str(self, secure: bool) -> &'static str {
        match (self, secure) {
            (Name::Session, false) => "etupass_session",
            (Name::Session, true) => "__Host-etupass_session",
            (Name::Csrf, false) => "etupass_csrf",
            (Name::Csrf, true) => "__Host-etupass_csrf",
            (Name::Device, false) => "etupass_device",
            (Name::Device, true) => "__Host-etupass_device",
        }
    }
}

pub fn build(
    name: Name,
    value: String,
    secure: bool,
    max_age_secs: Option<i64>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name.as_str(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    if let Some(secs) = max_age_secs {
        cookie.set_max_age(CookieDuration::seconds(secs));
    }
    cookie
}

/// A cookie that makes the browser forget `name` (sign-out).
pub fn removal(name: Name, secure: bool) -> Cookie<'static> {
    let mut cookie = build(name, String::new(), secure, Some(0));
    cookie.make_removal();
    cookie
}

pub fn read(req: &HttpRequest, name: Name, secure: bool) -> Option<String> {
    req.cookie(name.as_str(secure))
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
