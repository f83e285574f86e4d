//! The session and CSRF cookies: HttpOnly, SameSite=Lax, Secure when the issuer is https.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

pub const SESSION: &str = "etupass_session";
pub const CSRF: &str = "etupass_csrf";

pub fn build(
    name: &'static str,
    value: String,
    secure: bool,
    max_age_secs: Option<i64>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
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

pub fn read(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
