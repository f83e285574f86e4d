//! HTTP: routes, thin handlers, cookies, CSRF, security headers. Only this layer imports
//! actix; `web/error.rs` is the one place errors become HTTP responses.

pub mod admission;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod handlers;
pub mod locale;
pub mod pages;
pub mod routes;
pub mod state;

pub use state::AppState;
