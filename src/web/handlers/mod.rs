//! Thin handlers: extract, call one function of `oauth` or `account`, map the result.

pub mod authorize;
pub mod health;
pub mod home;
pub mod metadata;
pub mod token;
pub mod userinfo;

use actix_web::HttpRequest;

/// A request header as text, if present and printable.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
