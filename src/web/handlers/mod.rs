//! Thin handlers: extract, call one function of `oauth` or `account`, map the result.

pub mod account;
pub mod app_passwords;
pub mod attributes;
pub mod authorize;
pub mod device;
pub mod health;
pub mod home;
pub mod metadata;
pub mod registration;
pub mod second_factor;
pub mod space;
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

/// What the sign-in form carries to come back to an Etupass page instead of a relying
/// party: `continue_to`, a path of ours.
pub const CONTINUE_TO: &str = "continue_to";

/// The carried request that brings the person back to `path` once signed in.
pub fn come_back_to(path: String) -> crate::oauth::authorize::RawRequest {
    crate::oauth::authorize::RawRequest(vec![(CONTINUE_TO.to_string(), path)])
}

/// Where to go back to after signing in, if the carried request says so. Only our own
/// pages: a path of the personal space or the device page, never another site.
pub fn continuation(raw: &crate::oauth::authorize::RawRequest) -> Option<String> {
    let (name, path) = raw.0.first()?;
    let ours = ["/account", "/account/second-factor", "/device"]
        .iter()
        .any(|page| path == page || path.starts_with(&format!("{page}?")));
    (raw.0.len() == 1 && name == CONTINUE_TO && ours && !path.contains(['\\', '\r', '\n']))
        .then(|| path.clone())
}

/// A request header as text, if present and printable.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
