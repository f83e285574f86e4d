use std::sync::Arc;

use crate::provider::Provider;
use crate::views::Views;

/// Shared by every worker: the provider (read-only after start-up) and the templates.
#[derive(Clone, Debug)]
pub struct AppState {
    pub provider: Arc<Provider>,
    pub views: Arc<Views>,
}
