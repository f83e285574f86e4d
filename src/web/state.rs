use std::sync::Arc;

use crate::provider::Provider;
use crate::views::Views;

/// Shared by every worker: the provider (read-only after start-up) and the templates.
#[derive(Clone, Debug)]
pub struct AppState {
    pub provider: Arc<Provider>,
    pub views: Arc<Views>,
}

impl AppState {
    /// Whether a submitted form carries this browser's CSRF token.
    pub fn csrf_ok(&self, req: &actix_web::HttpRequest, submitted: &str) -> bool {
        super::csrf::verify(req, submitted, self.provider.settings.issuer_is_https())
    }
}
