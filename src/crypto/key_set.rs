//! The key set every instance shares, kept in the database and sealed under one
//! key-encryption key (`keys/key-encryption.key`, the only secret file instances share).
//!
//! It holds the JWT signing keys, the token secret, the second factor's sealing key and
//! the SAML credentials. The first instance to start on an empty database makes them
//! (or imports the files of the layout before this one, kids unchanged); unique names
//! and `(alg, generation)` pairs make that happen once however many instances start
//! together. A signing key lives `next` (published, not signing) → `active` → `retired`
//! (published until every token it signed has expired) → removed. A rotation schedules
//! the new key to sign only once every instance has published it for the JWKS cache
//! lifetime, and each instance reloads the set on an interval: no restart, and no relying
//! party meets a `kid` its cached JWKS lacks.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::keys::{self, io, write_private, KeyError, KeyMaterial, SigningKeys};
use super::sealed::Sealer;
use crate::config::Settings;
use crate::domain::client::SigningAlg;
use crate::domain::clock::{Clock, UnixTime};
use crate::store::key_set::{KeyReplacement, StoredKey};
use crate::store::{Store, StoreError};

/// The key-encryption key's file in `keys_dir`.
pub const KEK_FILE: &str = "key-encryption.key";
/// Where `keys rewrap` writes the new key-encryption key before it replaces the old.
const KEK_NEXT_FILE: &str = "key-encryption.key.new";

/// The shared secrets: name in the database, and the file each came from before.
const TOKEN_SECRET: (&str, &str) = ("token-secret", "token-secret.key");
const SECOND_FACTOR_KEY: (&str, &str) = ("second-factor", "second-factor.key");
const SAML_CREDENTIALS: (&str, &str) = ("saml-signing", super::saml_credentials::FILE);

#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("cannot create the key directory {}: {cause}", path.display())]
    Directory {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: the key-encryption key is missing, and the database holds keys sealed under it; restore it from the backup (a new one would not open them)", path.display())]
    MissingKek { path: PathBuf },
    #[error("{}: this key-encryption key does not open the database's keys (not the one they were sealed under: copy the file from an instance that runs)", path.display())]
    WrongKek { path: PathBuf },
    #[error("{}: a key-encryption key rewrap is running or was interrupted; if none runs, delete this file and rewrap again", path.display())]
    RewrapPending { path: PathBuf },
    #[error("{}: a key-encryption key holds exactly 32 bytes", path.display())]
    MalformedKek { path: PathBuf },
    #[error("no signing key has kid '{0}'")]
    UnknownKid(String),
    #[error("'{0}' is the active {1} key: rotate first, or --force if it is compromised")]
    RetireActive(String, SigningAlg),
    #[error("tokens signed by '{kid}' stay valid until {until}: retire it then, or --force if it is compromised (that revokes them)")]
    TokensStillValid { kid: String, until: String },
    #[error(
        "another {0} key was added at the same moment; list the keys and rotate again if needed"
    )]
    Concurrent(SigningAlg),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing failed: {0}")]
    Seal(String),
}

/// The secrets opened from the key set.
pub struct Secrets {
    /// Derives refresh-token successors, client secrets, pairwise subjects.
    pub token_secret: Vec<u8>,
    /// Seals the authenticator keys of the second factor.
    pub second_factor_key: Vec<u8>,
    /// The SAML signing key and its certificate, one PEM.
    pub saml_pem: Vec<u8>,
}

/// What a key set needs from the configuration.
#[derive(Debug, Clone)]
pub struct KeySetSettings {
    pub keys_dir: PathBuf,
    pub rsa_bits: u32,
    /// `/jwks`'s `Cache-Control: max-age`.
    pub jwks_max_age: i64,
    pub reload_interval: i64,
    /// How long a key stays after it stops signing: the longest a JWT it signed stays
    /// valid, or a session may present an ID token as `id_token_hint`, plus a reload
    /// interval for clocks and reloads that lag.
    pub retention: i64,
    /// The SAML certificate's common name, should one be made.
    pub host: String,
}

impl KeySetSettings {
    pub fn from(settings: &Settings) -> KeySetSettings {
        let signed_token_lifetime = settings
            .access_token_lifetime
            .max(settings.id_token_lifetime)
            .max(crate::oauth::backchannel::LOGOUT_TOKEN_LIFETIME)
            .max(settings.session_lifetime);
        KeySetSettings {
            keys_dir: settings.keys_dir.clone(),
            rsa_bits: settings.rsa_key_bits,
            jwks_max_age: settings.jwks_max_age.as_secs() as i64,
            reload_interval: settings.keys_reload_interval.as_secs() as i64,
            retention: (signed_token_lifetime + settings.keys_reload_interval).as_secs() as i64,
            host: url::Url::parse(settings.issuer())
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "etupass".into()),
        }
    }

    /// How long after its publication a rotated key may sign: every instance has
    /// reloaded (one interval, and one more for a slow reload or a clock behind), then
    /// every cached JWKS has expired (max-age).
    pub fn publication_delay(&self) -> i64 {
        self.jwks_max_age + 2 * self.reload_interval
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    Active,
    /// Published, no longer signing, until every token it signed has expired.
    Retired,
}

/// Where a key is in its life at a moment, and when that changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyLife {
    pub state: KeyState,
    /// When a newer key takes over (scheduled, or past).
    pub stops_signing_at: Option<UnixTime>,
    /// When every token it signed has expired: it is removed then.
    pub removed_at: Option<UnixTime>,
}

/// The life of `key` among the keys of its algorithm: the newest key whose `signs_from`
/// has come signs (as [`SigningKeys`] chooses), so a key stops signing when the first
/// newer one starts.
pub fn life(key: &StoredKey, keys: &[StoredKey], now: UnixTime, token_lifetime: i64) -> KeyLife {
    if key.signs_from > now {
        return KeyLife {
            state: KeyState::Next,
            stops_signing_at: None,
            removed_at: None,
        };
    }
    let taken_over_at = keys
        .iter()
        .filter(|k| k.alg == key.alg && k.generation > key.generation)
        .map(|k| k.signs_from.max(key.signs_from))
        .min();
    KeyLife {
        state: match taken_over_at {
            Some(at) if at <= now => KeyState::Retired,
            _ => KeyState::Active,
        },
        stops_signing_at: taken_over_at,
        removed_at: taken_over_at.map(|at| at + token_lifetime),
    }
}

/// One line of `etupass keys list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyListing {
    pub alg: SigningAlg,
    pub kid: String,
    #[serde(flatten)]
    pub life: KeyLife,
    pub published_at: UnixTime,
    pub signs_from: UnixTime,
}

/// What `keys retire` did.
#[derive(Debug, Clone)]
pub struct Retirement {
    pub alg: SigningAlg,
    pub kid: String,
    /// JWT access tokens it signed, now revoked (`--force`).
    pub revoked_tokens: usize,
    /// The key that signs in its place from now (`--force` on the active key).
    pub replacement: Option<String>,
}

/// One instance's view of the key set: the signing keys in memory, reloaded on an
/// interval, and the means to change the set.
pub struct KeyRing {
    store: Store,
    settings: KeySetSettings,
    kek: Mutex<Sealer>,
    current: RwLock<Arc<SigningKeys>>,
    /// The private keys last opened, by kid: a key resealed under a key-encryption key
    /// this instance does not hold yet (a rewrap on another machine) keeps working.
    opened: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current())
            .finish()
    }
}

/// Opens the key set: makes (or imports) what an empty database lacks, opens the
/// secrets and loads the signing keys. A missing or wrong key-encryption key stops here.
pub async fn open(
    settings: KeySetSettings,
    store: &Store,
    now: UnixTime,
) -> Result<(Secrets, KeyRing), KeySetError> {
    let dir = settings.keys_dir.clone();
    ensure_directory(&dir)?;
    let kek_path = dir.join(KEK_FILE);
    let mut sealed = store.sealed_secrets().await?;
    let mut rows = store.signing_keys().await?;
    let kek = match read_kek(&kek_path)? {
        Some(kek) => kek,
        None if sealed.is_empty() && rows.is_empty() => create_kek(&dir, &kek_path)?,
        None => return Err(KeySetError::MissingKek { path: kek_path }),
    };
    let mut sealer = Sealer::new(&kek).map_err(|e| KeySetError::Seal(e.to_string()))?;
    if let Some((name, value)) = sealed.first() {
        // The first sealed secret tells whether this is the right key.
        if sealer.open(value, &secret_owner(name)).is_err() {
            sealer = finish_interrupted_rewrap(&dir, &kek_path, name, value)?;
        }
    }

    // What is missing is inserted in one transaction, so that instances started together
    // never each win a part; whoever won, read again.
    let mut missing = Vec::new();
    for (name, legacy_file) in [TOKEN_SECRET, SECOND_FACTOR_KEY, SAML_CREDENTIALS] {
        if sealed.iter().any(|(n, _)| n == name) {
            continue;
        }
        let value = match read_if_present(&dir.join(legacy_file))? {
            Some(value) => value,
            None if name == SAML_CREDENTIALS.0 => super::saml_credentials::make(&settings.host)
                .map_err(|e| KeyError::Generate(e.to_string()))?,
            None => random_secret(),
        };
        missing.push((
            name.to_string(),
            seal(&sealer, &value, &secret_owner(name))?,
        ));
    }
    if !missing.is_empty() {
        store.insert_sealed_secrets_once(missing, now).await?;
        sealed = store.sealed_secrets().await?;
    }
    let mut opened: HashMap<String, Vec<u8>> = HashMap::new();
    for (name, value) in &sealed {
        let plain = sealer
            .open(value, &secret_owner(name))
            .map_err(|_| KeySetError::WrongKek {
                path: kek_path.clone(),
            })?;
        opened.insert(name.clone(), plain);
    }
    let mut secret = |name: &str| {
        opened
            .remove(name)
            .ok_or_else(|| StoreError::Corrupt(format!("the secret '{name}' is missing")))
    };
    let secrets = Secrets {
        token_secret: secret(TOKEN_SECRET.0)?,
        second_factor_key: secret(SECOND_FACTOR_KEY.0)?,
        saml_pem: secret(SAML_CREDENTIALS.0)?,
    };

    let legacy = keys::legacy_key_files(&dir)?;
    let mut missing = false;
    for alg in SigningAlg::ALL {
        if rows.iter().any(|k| k.alg == alg.as_str()) {
            continue;
        }
        missing = true;
        let first = first_keys(alg, &legacy, &settings, &sealer, now)?;
        store.insert_signing_keys(first).await?;
    }
    if missing {
        rows = store.signing_keys().await?;
    }
    let legacy_secrets = [TOKEN_SECRET, SECOND_FACTOR_KEY, SAML_CREDENTIALS]
        .map(|(_, file)| dir.join(file))
        .into_iter()
        .filter(|path| path.exists());
    for path in legacy.iter().map(|f| f.path.clone()).chain(legacy_secrets) {
        tracing::warn!(
            file = %path.display(),
            "this file's key is in the database now: delete the file once a backup holds the database"
        );
    }

    let ring = KeyRing {
        store: store.clone(),
        settings,
        kek: Mutex::new(sealer),
        current: RwLock::new(Arc::new(SigningKeys::build(Vec::new()).0)),
        opened: Mutex::new(HashMap::new()),
    };
    ring.install(rows, now);
    Ok((secrets, ring))
}

impl KeyRing {
    /// The keys to sign and verify with now.
    pub fn current(&self) -> Arc<SigningKeys> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn settings(&self) -> &KeySetSettings {
        &self.settings
    }

    /// Reads the key set again (every instance, on an interval), removing the keys
    /// whose tokens have all expired.
    pub async fn reload(&self, now: UnixTime) -> Result<(), KeySetError> {
        let rows = self.store.signing_keys().await?;
        let expired: Vec<String> = rows
            .iter()
            .filter(|k| self.is_removed(k, &rows, now))
            .map(|k| k.kid.clone())
            .collect();
        if !expired.is_empty() {
            self.store.remove_signing_keys(expired.clone()).await?;
            tracing::info!(
                ?expired,
                "signing keys removed: every token they signed has expired"
            );
        }
        self.install(rows, now);
        Ok(())
    }

    fn is_removed(&self, key: &StoredKey, rows: &[StoredKey], now: UnixTime) -> bool {
        life(key, rows, now, self.settings.retention)
            .removed_at
            .is_some_and(|at| at <= now)
    }

    /// Opens the stored keys and makes them current. A damaged key is left out and logged
    /// with its kid; the others keep working. A key sealed under another key-encryption
    /// key than this instance's keeps the private part opened before, and a set where
    /// nothing opens never replaces one that works.
    fn install(&self, rows: Vec<StoredKey>, now: UnixTime) {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        let mut still_opened = HashMap::new();
        let mut material = Vec::new();
        for row in rows.iter().filter(|k| !self.is_removed(k, &rows, now)) {
            let alg = match row.alg() {
                Ok(alg) => alg,
                Err(error) => {
                    tracing::error!(kid = %row.kid, %error, "signing key refused");
                    continue;
                }
            };
            let private_pem = match self.open_private(row) {
                Ok(private_pem) => private_pem,
                Err(error) => {
                    let ours = self
                        .kek
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .key_id()
                        .to_string();
                    let sealed_under = Sealer::sealed_key_id(&row.sealed_private);
                    match opened.get(&row.kid) {
                        Some(before) if sealed_under.is_some_and(|id| id != ours) => {
                            tracing::warn!(kid = %row.kid, "signing key sealed under another key-encryption key: copy the new key-encryption.key to this instance; the key opened before keeps working");
                            before.clone()
                        }
                        _ => {
                            tracing::error!(kid = %row.kid, %error, "signing key refused: its sealed private part does not open");
                            continue;
                        }
                    }
                }
            };
            still_opened.insert(row.kid.clone(), private_pem.clone());
            material.push(KeyMaterial {
                kid: row.kid.clone(),
                alg,
                generation: row.generation,
                private_pem,
                signs_from: row.signs_from,
            });
        }
        if material.is_empty() && !rows.is_empty() && !opened.is_empty() {
            tracing::error!("no signing key of the set opens: the keys loaded before stay in use");
            return;
        }
        *opened = still_opened;
        let (keys, errors) = SigningKeys::build(material);
        for error in errors {
            tracing::error!(%error, "signing key refused");
        }
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
    }

    /// A key's private part. When it does not open, the key-encryption key may have been
    /// replaced by `keys rewrap` in another process: the file is read again once.
    fn open_private(&self, row: &StoredKey) -> Result<Vec<u8>, String> {
        let owner = key_owner(&row.kid);
        let mut kek = self.kek.lock().unwrap_or_else(|p| p.into_inner());
        match kek.open(&row.sealed_private, &owner) {
            Ok(pem) => Ok(pem),
            Err(first) => {
                let path = self.settings.keys_dir.join(KEK_FILE);
                let fresh = read_kek(&path)
                    .ok()
                    .flatten()
                    .and_then(|bytes| Sealer::new(&bytes).ok())
                    .ok_or_else(|| first.to_string())?;
                let pem = fresh
                    .open(&row.sealed_private, &owner)
                    .map_err(|_| first.to_string())?;
                *kek = fresh;
                Ok(pem)
            }
        }
    }

    /// Every key with its state, oldest first within each algorithm.
    pub async fn list(&self, now: UnixTime) -> Result<Vec<KeyListing>, KeySetError> {
        let rows = self.store.signing_keys().await?;
        rows.iter()
            .map(|row| {
                Ok(KeyListing {
                    alg: row.alg()?,
                    kid: row.kid.clone(),
                    life: life(row, &rows, now, self.settings.retention),
                    published_at: row.published_at,
                    signs_from: row.signs_from,
                })
            })
            .collect()
    }

    /// Adds a new key for each of `algs`, published now and signing once every instance
    /// has published it for the JWKS cache lifetime.
    pub async fn rotate(
        &self,
        algs: &[SigningAlg],
        clock: &dyn Clock,
    ) -> Result<Vec<KeyListing>, KeySetError> {
        let rows = self.store.signing_keys().await?;
        let mut added = Vec::new();
        for &alg in algs {
            // The key is made first (an RSA key takes a while): its publication starts
            // when it is stored, not when the command started.
            let new = keys::generate(alg, self.settings.rsa_bits)?;
            let now = clock.now();
            let key = self.sealed_key(
                new,
                alg,
                &rows,
                now,
                now + self.settings.publication_delay(),
            )?;
            added.push(key.kid.clone());
            if !self.store.insert_signing_keys(vec![key]).await? {
                return Err(KeySetError::Concurrent(alg));
            }
        }
        let now = clock.now();
        self.reload(now).await?;
        let listing = self.list(now).await?;
        Ok(listing
            .into_iter()
            .filter(|k| added.contains(&k.kid))
            .collect())
    }

    /// Removes a key. One that may still have valid tokens, or that signs, is kept unless
    /// `force` (a compromised key): then the access tokens it signed are revoked, and an
    /// active key is replaced at once by the next key of its algorithm or a new one.
    pub async fn retire(
        &self,
        kid: &str,
        force: bool,
        now: UnixTime,
    ) -> Result<Retirement, KeySetError> {
        let rows = self.store.signing_keys().await?;
        let key = rows
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeySetError::UnknownKid(kid.to_string()))?;
        let alg = key.alg()?;
        let key_life = life(key, &rows, now, self.settings.retention);
        let mut retirement = Retirement {
            alg,
            kid: kid.to_string(),
            revoked_tokens: 0,
            replacement: None,
        };
        let tokens_expire = key_life.removed_at.filter(|at| *at > now);
        match (key_life.state, force) {
            (KeyState::Active, false) => {
                return Err(KeySetError::RetireActive(kid.to_string(), alg));
            }
            (KeyState::Retired, false) if tokens_expire.is_some() => {
                return Err(KeySetError::TokensStillValid {
                    kid: kid.to_string(),
                    until: format_time(tokens_expire.unwrap_or(now)),
                });
            }
            (KeyState::Next, _) | (KeyState::Retired, false) => {
                self.store
                    .remove_signing_keys(vec![kid.to_string()])
                    .await?;
            }
            (state, true) => {
                let replacement = if state == KeyState::Active {
                    let next = rows
                        .iter()
                        .filter(|k| k.alg == key.alg && k.generation > key.generation)
                        .max_by_key(|k| k.generation);
                    Some(match next {
                        Some(next) => KeyReplacement::Existing(next.kid.clone()),
                        None => KeyReplacement::New(self.sealed_key(
                            keys::generate(alg, self.settings.rsa_bits)?,
                            alg,
                            &rows,
                            now,
                            now,
                        )?),
                    })
                } else {
                    None
                };
                retirement.replacement = replacement.as_ref().map(|r| match r {
                    KeyReplacement::Existing(kid) => kid.clone(),
                    KeyReplacement::New(key) => key.kid.clone(),
                });
                retirement.revoked_tokens = self
                    .store
                    .remove_compromised_key(kid.to_string(), replacement, now)
                    .await?;
            }
        }
        self.reload(now).await?;
        Ok(retirement)
    }

    fn sealed_key(
        &self,
        new: keys::NewKey,
        alg: SigningAlg,
        rows: &[StoredKey],
        published_at: UnixTime,
        signs_from: UnixTime,
    ) -> Result<StoredKey, KeySetError> {
        let generation = rows
            .iter()
            .filter(|k| k.alg == alg.as_str())
            .map(|k| k.generation)
            .max()
            .unwrap_or(0)
            + 1;
        let kek = self.kek.lock().unwrap_or_else(|p| p.into_inner());
        stored_key(new, generation, published_at, signs_from, &kek)
    }

    /// Seals the whole set under a new key-encryption key. The new key is written beside
    /// the old first, the database changed in one transaction, then the file replaced:
    /// a crash between the two is finished at the next start.
    pub async fn rewrap(&self) -> Result<(usize, usize), KeySetError> {
        let dir = &self.settings.keys_dir;
        let (kek_path, next_path) = (dir.join(KEK_FILE), dir.join(KEK_NEXT_FILE));
        let old = self.kek.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let secrets = self.store.sealed_secrets().await?;
        let rows = self.store.signing_keys().await?;
        let bytes = random_secret();
        let new = Sealer::new(&bytes).map_err(|e| KeySetError::Seal(e.to_string()))?;
        let mut resealed_secrets = Vec::new();
        for (name, value) in secrets {
            let owner = secret_owner(&name);
            let plain = old
                .open(&value, &owner)
                .map_err(|_| KeySetError::WrongKek {
                    path: kek_path.clone(),
                })?;
            let resealed = seal(&new, &plain, &owner)?;
            resealed_secrets.push((name, value, resealed));
        }
        let key_count = rows.len();
        let mut resealed_keys = Vec::new();
        for row in rows {
            let owner = key_owner(&row.kid);
            match old.open(&row.sealed_private, &owner) {
                Ok(plain) => {
                    let resealed = seal(&new, &plain, &owner)?;
                    resealed_keys.push((row.kid, row.sealed_private, resealed));
                }
                // It opens under no key: leave it as it is (it is refused at load anyway).
                Err(error) => {
                    tracing::error!(kid = %row.kid, %error, "signing key left as it was: it does not open")
                }
            }
        }
        // The new key's file doubles as the lock: a second rewrap at once stops here.
        match write_private(&next_path, &bytes) {
            Err(KeyError::Io { cause, .. })
                if cause.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                return Err(KeySetError::RewrapPending { path: next_path });
            }
            other => other?,
        }
        let counts = (resealed_secrets.len(), resealed_keys.len());
        if let Err(error) = self
            .store
            .reseal_key_set(resealed_secrets, resealed_keys, key_count)
            .await
        {
            let _ = fs::remove_file(&next_path);
            return Err(error.into());
        }
        fs::rename(&next_path, &kek_path).map_err(|cause| io(&kek_path, cause))?;
        sync_directory(dir);
        *self.kek.lock().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(counts)
    }
}

/// The first keys of an algorithm: the legacy files' (oldest first, each signing from
/// when it was made), or one new key signing at once.
fn first_keys(
    alg: SigningAlg,
    legacy: &[keys::LegacyKeyFile],
    settings: &KeySetSettings,
    sealer: &Sealer,
    now: UnixTime,
) -> Result<Vec<StoredKey>, KeySetError> {
    let files: Vec<_> = legacy.iter().filter(|f| f.alg == alg).collect();
    if files.is_empty() {
        let new = keys::generate(alg, settings.rsa_bits)?;
        return Ok(vec![stored_key(new, 1, now, now, sealer)?]);
    }
    let mut imported = Vec::new();
    for (index, file) in files.into_iter().enumerate() {
        let private_pem = fs::read(&file.path).map_err(|cause| io(&file.path, cause))?;
        let material = KeyMaterial {
            kid: file.kid.clone(),
            alg,
            generation: index as i64 + 1,
            private_pem,
            signs_from: file.created_ms / 1000,
        };
        // The same checks as at load (the kid is the key's thumbprint), before it is kept.
        let (built, errors) = SigningKeys::build(vec![material.clone()]);
        if let Some(error) = errors.into_iter().next() {
            return Err(KeyError::Invalid {
                path: file.path.clone(),
                message: error.to_string(),
            }
            .into());
        }
        let public_jwk = serde_json::from_slice::<serde_json::Value>(built.jwks())
            .ok()
            .and_then(|jwks| jwks["keys"].get(0).cloned())
            .unwrap_or_default();
        imported.push(StoredKey {
            sealed_private: seal(sealer, &material.private_pem, &key_owner(&file.kid))?,
            kid: material.kid,
            alg: alg.as_str().to_string(),
            generation: material.generation,
            public_jwk: public_jwk.to_string(),
            published_at: material.signs_from,
            signs_from: material.signs_from,
        });
    }
    Ok(imported)
}

fn stored_key(
    new: keys::NewKey,
    generation: i64,
    published_at: UnixTime,
    signs_from: UnixTime,
    sealer: &Sealer,
) -> Result<StoredKey, KeySetError> {
    Ok(StoredKey {
        sealed_private: seal(sealer, &new.private_pem, &key_owner(&new.kid))?,
        alg: new.alg.as_str().to_string(),
        public_jwk: new.public_jwk.to_string(),
        kid: new.kid,
        generation,
        published_at,
        signs_from,
    })
}

/// Each sealed value names what it is: a value copied onto another row does not open.
fn secret_owner(name: &str) -> String {
    format!("secret:{name}")
}

fn key_owner(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn seal(sealer: &Sealer, plain: &[u8], owner: &str) -> Result<String, KeySetError> {
    sealer
        .seal(plain, owner)
        .map_err(|e| KeySetError::Seal(e.to_string()))
}

fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut secret = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// Creates `dir` when missing; a directory created (or found empty) is made owner-only.
fn ensure_directory(dir: &Path) -> Result<(), KeySetError> {
    let failed = |cause| KeySetError::Directory {
        path: dir.to_path_buf(),
        cause,
    };
    fs::create_dir_all(dir).map_err(failed)?;
    #[cfg(unix)]
    if fs::read_dir(dir).map_err(failed)?.next().is_none() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(failed)?;
    }
    Ok(())
}

fn read_kek(path: &Path) -> Result<Option<Vec<u8>>, KeySetError> {
    match read_if_present(path)? {
        Some(bytes) if bytes.len() != 32 => Err(KeySetError::MalformedKek {
            path: path.to_path_buf(),
        }),
        found => Ok(found),
    }
}

/// Makes the key-encryption key. Written whole under a temporary name, then linked to
/// its own (which fails if it exists): of instances starting together on one
/// directory, one makes it and the others read the complete file.
fn create_kek(dir: &Path, path: &Path) -> Result<Vec<u8>, KeySetError> {
    let bytes = random_secret();
    let temporary = dir.join(format!(".{KEK_FILE}.{}", uuid::Uuid::new_v4()));
    write_private(&temporary, &bytes)?;
    let linked = fs::hard_link(&temporary, path);
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            sync_directory(dir);
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_kek(path)?.ok_or_else(|| KeySetError::MissingKek {
                path: path.to_path_buf(),
            })
        }
        Err(cause) => Err(io(path, cause).into()),
    }
}

/// The key-encryption key does not open the set: if `keys rewrap` stopped after the
/// database took the new key but before the file was replaced, finish it.
fn finish_interrupted_rewrap(
    dir: &Path,
    kek_path: &Path,
    name: &str,
    value: &str,
) -> Result<Sealer, KeySetError> {
    let wrong = || KeySetError::WrongKek {
        path: kek_path.to_path_buf(),
    };
    let next_path = dir.join(KEK_NEXT_FILE);
    let next = read_kek(&next_path)
        .ok()
        .flatten()
        .and_then(|bytes| Sealer::new(&bytes).ok())
        .ok_or_else(wrong)?;
    next.open(value, &secret_owner(name)).map_err(|_| wrong())?;
    match fs::rename(&next_path, kek_path) {
        Ok(()) => sync_directory(dir),
        // Another instance starting at the same moment finished it first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(cause) => return Err(io(kek_path, cause).into()),
    }
    tracing::warn!(file = %kek_path.display(), "finished an interrupted key-encryption key rewrap");
    Ok(next)
}

/// Makes a new or renamed file's name durable (the key-encryption key must not vanish in a
/// power loss after the keys it seals reached the database). Best effort.
fn sync_directory(dir: &Path) {
    if let Ok(directory) = fs::File::open(dir) {
        let _ = directory.sync_all();
    }
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, KeySetError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(io(path, cause).into()),
    }
}

/// A moment as RFC 3339, for people.
pub fn format_time(at: UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: &str, generation: i64, signs_from: UnixTime) -> StoredKey {
        StoredKey {
            kid: format!("{alg}-{generation}"),
            alg: alg.into(),
            generation,
            public_jwk: String::new(),
            sealed_private: String::new(),
            published_at: signs_from - 10,
            signs_from,
        }
    }

    #[test]
    fn a_key_is_next_then_active_then_retired_until_its_tokens_expire() {
        let keys = [
            key("RS256", 1, 100),
            key("RS256", 2, 500),
            key("ES256", 1, 100),
        ];
        let at = |index: usize, now| life(&keys[index], &keys, now, 60);
        // Before the rotation's key may sign, the first signs and knows when it stops.
        assert_eq!(
            at(0, 400),
            KeyLife {
                state: KeyState::Active,
                stops_signing_at: Some(500),
                removed_at: Some(560)
            }
        );
        assert_eq!(at(1, 400).state, KeyState::Next);
        assert_eq!(at(0, 500).state, KeyState::Retired);
        assert_eq!(at(1, 500).state, KeyState::Active);
        // Another algorithm's keys do not count.
        assert_eq!(at(2, 10_000).state, KeyState::Active);
        assert_eq!(at(2, 10_000).removed_at, None);
    }
}
