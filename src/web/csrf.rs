//! CSRF protection for every form: a random value in an HttpOnly cookie that the form
//! must echo (double submit, OWASP), compared in constant time; SameSite=Lax cookies
//! add a second barrier.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;

use super::cookies;
use crate::crypto::token;

/// The token for a form, and the cookie to set when the browser has none yet.
pub fn issue(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    match cookies::read(req, cookies::Name::Csrf, secure) {
        Some(existing) => (existing, None),
        None => {
            let fresh = token::generate();
            let cookie = cookies::build(cookies::Name::Csrf, fresh.clone(), secure, None);
            (fresh, Some(cookie))
        }
    }
}

pub fn verify(req: &HttpRequest, submitted: &str, secure: bool) -> bool {
    cookies::read(req, cookies::Name::Csrf, secure)
        .is_some_and(|expected| token::constant_time_eq(expected.as_bytes(), submitted.as_bytes()))
}
