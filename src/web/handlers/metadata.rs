//! Discovery and JWKS: bytes built ahead (at start-up, at each key set reload), served
//! as they are.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::web::AppState;

pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    public_json(state.provider.discovery.clone(), DISCOVERY_MAX_AGE)
}

/// The key set as this instance holds it now; relying parties may cache it for
/// `jwks_max_age`, which a rotated key waits out before it signs.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let max_age = state.provider.settings.jwks_max_age.as_secs();
    public_json(state.provider.keys.current().jwks().to_vec(), max_age)
}

const DISCOVERY_MAX_AGE: u64 = 300;

/// CORS preflight for the endpoints browser apps (public clients) call directly: no
/// cookies are involved there, so any origin may ask.
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

fn public_json(body: Vec<u8>, max_age: u64) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body)
}

/// `/saml/metadata`: the SAML IdP metadata, for service providers and the federation.
pub async fn saml_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(state.provider.saml_metadata.clone())
}
