//! Thin handlers: extract, call one function of `oauth` or `account`, map the result.

pub mod account;
pub mod authorize;
pub mod device;
pub mod health;
pub mod home;
pub mod metadata;
pub mod registration;
pub mod token;
pub mod userinfo;

use actix_web::HttpRequest;

/// Where the request came from. The peer address, not `X-Forwarded-For`, which anyone
/// can write; behind a proxy, that address is the proxy's.
pub fn request_context(req: &HttpRequest) -> crate::domain::audit::RequestContext {
    crate::domain::audit::RequestContext {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: header(req, "user-agent").map(str::to_string),
    }
}

/// A request header as text, if present and printable.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
