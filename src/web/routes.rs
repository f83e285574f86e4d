//! Every route, and the headers every response carries.

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

use super::handlers::{
    account, app_passwords, attributes, authorize, cas, device, health, home, metadata,
    registration, saml, second_factor, space, token, userinfo,
};
use crate::oauth::discovery::{
    AUTHORIZATION_PATH, DEVICE_AUTHORIZATION_PATH, DEVICE_VERIFICATION_PATH, END_SESSION_PATH,
    INTROSPECTION_PATH, JWKS_PATH, PAR_PATH, REGISTRATION_PATH, REVOCATION_PATH, TOKEN_PATH,
    USERINFO_PATH,
};

/// Pages load only our stylesheet; nothing may frame them (clickjacking on the consent
/// page). No `form-action`: browsers apply it to the redirect back to the relying party.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(metadata::discovery),
    )
    .route(JWKS_PATH, web::get().to(metadata::jwks))
    .route(AUTHORIZATION_PATH, web::get().to(authorize::authorize_get))
    .route(
        AUTHORIZATION_PATH,
        web::post().to(authorize::authorize_post),
    )
    .route("/login", web::get().to(authorize::login_get))
    .route("/login", web::post().to(authorize::login_post))
    .route("/consent", web::post().to(authorize::consent_post))
    .route("/logout", web::post().to(authorize::sign_out))
    .route(END_SESSION_PATH, web::get().to(authorize::end_session_get))
    .route(
        END_SESSION_PATH,
        web::post().to(authorize::end_session_post),
    )
    .route(TOKEN_PATH, web::post().to(token::token))
    .route(
        TOKEN_PATH,
        web::method(Method::OPTIONS).to(metadata::preflight),
    )
    .route(
        USERINFO_PATH,
        web::method(Method::OPTIONS).to(metadata::preflight),
    )
    .route(
        JWKS_PATH,
        web::method(Method::OPTIONS).to(metadata::preflight),
    )
    .route(INTROSPECTION_PATH, web::post().to(token::introspect))
    .route(
        PAR_PATH,
        web::post().to(token::pushed_authorization_request),
    )
    .route(
        DEVICE_AUTHORIZATION_PATH,
        web::post().to(token::device_authorization),
    )
    .route(DEVICE_VERIFICATION_PATH, web::get().to(device::show))
    .route(DEVICE_VERIFICATION_PATH, web::post().to(device::submit))
    .route(REVOCATION_PATH, web::post().to(token::revoke))
    .route(
        REVOCATION_PATH,
        web::method(Method::OPTIONS).to(metadata::preflight),
    )
    .route(REGISTRATION_PATH, web::post().to(registration::register))
    .route("/register/{client_id}", web::get().to(registration::read))
    .route("/register/{client_id}", web::put().to(registration::update))
    .route(
        "/register/{client_id}",
        web::delete().to(registration::delete),
    )
    .route(USERINFO_PATH, web::get().to(userinfo::get))
    .route(USERINFO_PATH, web::post().to(userinfo::post))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/static/etupass.css", web::get().to(home::stylesheet))
    .route("/static/strength.js", web::get().to(home::strength_script))
    .route(
        "/password/forgot",
        web::get().to(account::forgot_password_form),
    )
    .route("/password/forgot", web::post().to(account::forgot_password))
    .route("/password/reset", web::get().to(account::reset_form))
    .route("/password/reset", web::post().to(account::reset))
    .route("/number/forgot", web::get().to(account::forgot_number_form))
    .route("/number/forgot", web::post().to(account::forgot_number))
    .route("/activate", web::get().to(account::activation_form))
    .route("/activate", web::post().to(account::activate))
    .route(
        "/activate/resend",
        web::post().to(account::resend_activation),
    )
    .route("/theft", web::get().to(account::theft_form))
    .route("/theft", web::post().to(account::report_theft))
    .route("/theft/confirm", web::get().to(account::theft_confirm_form))
    .route("/theft/confirm", web::post().to(account::confirm_theft))
    .route(
        "/password/change",
        web::post().to(authorize::change_required_password),
    )
    .route("/charter/accept", web::post().to(authorize::accept_charter))
    .route(
        "/parents/accept",
        web::get().to(account::parent_invitation_form),
    )
    .route(
        "/parents/accept",
        web::post().to(account::accept_parent_invitation),
    )
    .route("/account/parents", web::post().to(space::invite_parent))
    .route(
        "/account/parents/revoke",
        web::post().to(space::revoke_parent),
    )
    .route(
        "/account/parents/share",
        web::post().to(space::share_parent),
    )
    .route(
        "/login/second-factor",
        web::post().to(second_factor::second_step),
    )
    .route(
        "/account/second-factor",
        web::get().to(second_factor::setup_form),
    )
    .route(
        "/account/second-factor",
        web::post().to(second_factor::enable),
    )
    .route(
        "/account/second-factor/continue",
        web::post().to(second_factor::continue_after_codes),
    )
    .route(
        "/account/second-factor/disable",
        web::post().to(space::disable_second_factor),
    )
    .route("/account", web::get().to(space::show))
    .route(
        "/account/apps/disconnect",
        web::post().to(space::disconnect_app),
    )
    .route("/account/sessions/end", web::post().to(space::end_sessions))
    .route(
        "/account/password",
        web::post().to(space::change_own_password),
    )
    .route(
        "/account/contact",
        web::post().to(space::update_contact_details),
    )
    .route(
        "/account/email",
        web::post().to(space::request_email_change),
    )
    .route(
        "/account/app-passwords",
        web::post().to(space::create_app_password),
    )
    .route(
        "/account/app-passwords/revoke",
        web::post().to(space::revoke_app_password),
    )
    .route(
        "/account/email/confirm",
        web::get().to(account::email_change_form),
    )
    .route(
        "/account/email/confirm",
        web::post().to(account::confirm_email_change),
    )
    .route(
        "/api/attributes/{number}/{name}",
        web::put().to(attributes::put),
    )
    .route(
        "/api/attributes/{number}/{name}",
        web::delete().to(attributes::delete),
    )
    .route(
        "/api/app-passwords/{purpose}/check",
        web::post().to(app_passwords::check),
    )
    .route("/saml/metadata", web::get().to(metadata::saml_metadata))
    .route(crate::saml::SSO_PATH, web::get().to(saml::sso_get))
    .route(crate::saml::SSO_PATH, web::post().to(saml::sso_post))
    .route(crate::saml::SLO_PATH, web::get().to(saml::slo_get))
    .route(crate::saml::SLO_PATH, web::post().to(saml::slo_post))
    .route(
        "/static/autosubmit.js",
        web::get().to(home::autosubmit_script),
    )
    .route("/static/logout.js", web::get().to(home::logout_script))
    .route("/cas/login", web::get().to(cas::login_get))
    .route("/cas/logout", web::get().to(cas::logout))
    .route("/cas/validate", web::get().to(cas::validate_v1))
    .route("/cas/serviceValidate", web::get().to(cas::service_validate))
    .route(
        "/cas/p3/serviceValidate",
        web::get().to(cas::service_validate),
    )
    .route("/cas/proxyValidate", web::get().to(cas::proxy_validate))
    .route("/cas/p3/proxyValidate", web::get().to(cas::proxy_validate))
    .route("/cas/proxy", web::get().to(cas::proxy))
    .route("/cas/samlValidate", web::post().to(cas::saml_validate))
    .route("/", web::get().to(home::home))
    .default_service(web::to(home::not_found));
}

/// Headers added to every response that does not set its own.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    if https {
        headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}
