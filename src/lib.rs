//! Etupass: a university's digital account, as an OAuth 2.0 / OpenID Connect provider.
//!
//! Layers, outermost first: `web` (actix handlers) → `oauth` / `cas` / `saml` / `account` (protocol and
//! account logic) → `domain` (types and rules), `store` (diesel), `crypto`, `views`.

pub mod account;
pub mod app;
pub mod cas;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod mail;
pub mod oauth;
pub mod provider;
pub mod saml;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod web;

pub use app::Application;
pub use config::Settings;
