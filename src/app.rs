//! The application: build (bind, port 0 allowed), report the port, run until stopped.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::mail::{worker, Transport};
use crate::provider::Provider;
use crate::web::{routes, AppState};

pub struct Application {
    port: u16,
    server: Server,
    /// Tells the mail worker to stop once the server has.
    stop_worker: tokio::sync::watch::Sender<bool>,
    provider: Arc<Provider>,
}

impl Application {
    /// Binds `settings.bind` and prepares the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        Self::build_with(settings, listener, Arc::new(SystemClock)).await
    }

    /// Serves on an already-bound listener with the given clock (tests move it by hand).
    pub async fn build_with(
        settings: Settings,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        let workers = match settings.workers {
            0 => Settings::cores(),
            n => n,
        };
        let transport = Transport::from_settings(&settings)?;
        let provider = Provider::open(settings, clock).await?.shared();
        let state = AppState {
            provider: provider.clone(),
            views: provider.views.clone(),
        };
        let (stop_worker, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(worker::run(provider.clone(), transport, stop.clone()));
        tokio::spawn(reload_keys(provider.clone(), stop.clone()));
        tokio::spawn(purge_expired(provider.clone(), stop));
        let https = provider.settings.issuer_is_https();
        // One count for every worker of the instance.
        let admission = web::Data::new(crate::web::admission::Admission::new(
            provider.settings.max_requests_in_flight,
        ));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(admission.clone())
                .wrap(actix_web::middleware::from_fn(crate::web::admission::admit))
                .wrap(routes::security_headers(https))
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .app_data(web::Data::new(state.clone()))
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .configure(routes::configure)
        })
        .workers(workers)
        .listen(listener)?
        .run();
        tracing::info!(
            port,
            issuer = provider.settings.issuer(),
            backend = provider.store.backend(),
            "etupass listening"
        );
        Ok(Application {
            port,
            server,
            stop_worker,
            provider,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The running server's shared context (tests read its counters).
    pub fn provider(&self) -> Arc<Provider> {
        self.provider.clone()
    }

    /// A handle to stop the server (tests, signals).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.stop_worker.send(true);
        result
    }
}

/// How long an expired access token or code is kept before it is deleted: introspection
/// answers `active: false` for it either way, and an hour leaves it in the database
/// for anyone looking into what just happened.
const PURGE_GRACE_SECONDS: i64 = 3600;

/// The most rows of each table one purge deletes; the next purge takes the rest.
const PURGE_LIMIT: usize = 100_000;

/// Deletes the expired access tokens and codes every `purge_interval`, until the server
/// stops (`store::housekeeping`).
async fn purge_expired(provider: Arc<Provider>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = provider.settings.purge_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
        let before = provider.now() - PURGE_GRACE_SECONDS;
        match provider.store.purge_expired(before, PURGE_LIMIT).await {
            Ok(purged) if purged == Default::default() => {}
            Ok(purged) => tracing::info!(
                access_tokens = purged.access_tokens,
                authorization_codes = purged.authorization_codes,
                "expired rows purged"
            ),
            // Nothing is lost: the next round tries again.
            Err(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
    }
}

/// Reads the shared key set again every `keys_reload_interval`, until the server stops: a
/// rotation or retirement made anywhere reaches this instance without a restart.
async fn reload_keys(provider: Arc<Provider>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = provider.settings.keys_reload_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
        if let Err(error) = provider.keys.reload(provider.now()).await {
            // The keys in memory keep working; the next round tries again.
            tracing::error!(%error, "reloading the key set failed");
        }
    }
}
