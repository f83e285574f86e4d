//! The one integration-test binary: every file is a feature, against the real server.

mod chromium;
mod helpers;
mod rp;
mod smtp;

mod alumni;
mod apache;
mod apache_cas;
mod app_passwords;
mod authorization_code;
mod browser;
mod cas;
mod cli;
mod client_auth;
mod crash;
mod device;
mod discovery;
mod dovecot;
mod errors;
mod files;
mod guessing;
mod keys;
mod lifecycle;
mod lifecycle_rules;
mod logout;
mod oauth_requests;
mod parents;
mod radius;
mod registration;
mod saml;
mod saml_federation;
mod second_factor;
mod sessions;
mod shibboleth;
mod space;
mod tokens;
