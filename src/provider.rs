//! Everything a request needs, built once at start-up and shared read-only: settings,
//! store, signing keys, password hasher, clock, and the pre-serialized discovery document.

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::key_set::{self, KeyRing, KeySetSettings};
use crate::crypto::password::PasswordHasher;
use crate::crypto::sealed::Sealer;
use crate::domain::clock::{Clock, UnixTime};
use crate::oauth::client_assertion::ClientKeyCache;
use crate::oauth::discovery;
use crate::store::Store;
use crate::views::Views;

pub struct Provider {
    pub settings: Settings,
    pub store: Store,
    /// The signing keys, reloaded from the shared key set on an interval.
    pub keys: KeyRing,
    pub passwords: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    /// `/.well-known/openid-configuration`, serialized once.
    pub discovery: Vec<u8>,
    /// Pages and mails.
    pub views: Arc<Views>,
    /// Derives refresh-token successors (the concurrent-refresh grace window).
    pub token_secret: Vec<u8>,
    /// Seals the authenticator keys of the second factor.
    pub sealer: Sealer,
    /// The SAML signing key and certificate.
    pub saml: crate::crypto::saml_credentials::SamlCredentials,
    /// `/saml/metadata`, written once.
    pub saml_metadata: String,
    /// Public keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
    pub client_keys: ClientKeyCache,
    /// Sign-ins in progress per address on this instance.
    pub sign_ins_in_flight: crate::account::throttle::InFlight,
    /// Work queued after an answer (the account-dependent part of the mail forms).
    pub background: Background,
}

/// Work done after the answer to a request, counted so that a test (or a shutdown) can
/// wait until none is left.
#[derive(Debug, Clone, Default)]
pub struct Background {
    running: Arc<std::sync::atomic::AtomicUsize>,
    queued: Arc<std::sync::atomic::AtomicU64>,
    finished: Arc<tokio::sync::Notify>,
}

impl Background {
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        use std::sync::atomic::Ordering;
        self.running.fetch_add(1, Ordering::AcqRel);
        self.queued.fetch_add(1, Ordering::AcqRel);
        let (running, finished) = (self.running.clone(), self.finished.clone());
        tokio::spawn(async move {
            work.await;
            running.fetch_sub(1, Ordering::AcqRel);
            finished.notify_waiters();
        });
    }

    /// How many pieces of work were queued so far.
    pub fn queued(&self) -> u64 {
        self.queued.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Returns once no queued work is running.
    pub async fn idle(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let finished = self.finished.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            finished.await;
        }
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer())
            .field("store", &self.store)
            .finish()
    }
}

impl Provider {
    /// Connects and migrates the database, opens the key set (made on an empty database).
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Provider> {
        let store = Store::connect_waiting(
            settings.database_url.expose(),
            settings.database_pool_size,
            settings.database_wait,
        )?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, backend = store.backend(), "applied migrations");
        }
        let (secrets, keys) =
            key_set::open(KeySetSettings::from(&settings), &store, clock.now()).await?;
        let token_secret = secrets.token_secret;
        let sealer = Sealer::new(&secrets.second_factor_key)?;
        let saml = crate::crypto::saml_credentials::SamlCredentials::from_pem(&secrets.saml_pem)
            .map_err(|e| anyhow::anyhow!("the SAML credentials in the key set: {e}"))?;
        let saml_metadata = crate::saml::metadata::document(&settings, &saml);
        let concurrency = match settings.password_hash_concurrency {
            0 => Settings::cores(),
            n => n,
        };
        let passwords = PasswordHasher::new(settings.argon2(), concurrency)?
            .with_queue_limit(settings.password_hash_queue);
        let discovery = discovery::document(&settings);
        let views = Arc::new(Views::new()?);
        let outbound_allow_loopback = settings.outbound_allow_loopback;
        Ok(Provider {
            token_secret,
            sealer,
            saml,
            saml_metadata,
            views,
            settings,
            store,
            keys,
            passwords,
            clock,
            discovery,
            client_keys: ClientKeyCache::new(outbound_allow_loopback),
            sign_ins_in_flight: Default::default(),
            background: Background::default(),
        })
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Neither revoked nor expired, and, for a JWT, signed by a key still in the set: a
    /// key retired by force (compromised) stops the tokens it signed on every instance,
    /// those signed by an instance that had not reloaded yet included.
    pub fn access_token_usable(
        &self,
        token: &crate::domain::grant::AccessToken,
        now: UnixTime,
    ) -> bool {
        token.is_usable(now)
            && token
                .signing_kid
                .as_deref()
                .is_none_or(|kid| self.keys.current().publishes(kid))
    }

    pub fn shared(self) -> Arc<Provider> {
        Arc::new(self)
    }
}
