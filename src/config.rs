//! Settings: defaults < `etupass.toml` < `ETUPASS_*` environment variables < CLI flags.
//! Every key is documented, at its default, in `docs/configuration.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto::password::Argon2Settings;
use crate::crypto::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The issuer identifier; every endpoint URL is built from it.
    pub issuer: String,
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// `sqlite://PATH`, a plain path, or `postgres://…` (selects PostgreSQL).
    pub database_url: Secret,
    /// Connections in the pool.
    pub database_pool_size: u32,
    /// How long a request waits for a database connection. While the database is down,
    /// requests fail (503) after this instead of hanging.
    #[serde(with = "humantime_serde")]
    pub database_wait: Duration,
    /// Holds the key-encryption key (`key-encryption.key`) that seals the key set kept in
    /// the database; made at the first start on an empty database.
    pub keys_dir: PathBuf,
    /// Size of the RSA signing keys generated from now on (RS256): 2048, 3072 or 4096.
    /// Keys already made keep their size.
    pub rsa_key_bits: u32,
    /// How long relying parties may cache `/jwks` (`Cache-Control: max-age`). A rotated
    /// key signs only after it has been published that long (plus one reload interval).
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// How often each instance reads the key set again (rotations, retirements).
    #[serde(with = "humantime_serde")]
    pub keys_reload_interval: Duration,
    /// How often each instance deletes the access tokens and codes expired an hour ago.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// SMTP relay for mail (used by the account lifecycle).
    pub smtp_url: Option<Secret>,
    /// Where mails are written as `.eml` files when no SMTP relay is configured.
    pub mail_dir: PathBuf,
    /// Domain of the scoped `eduPersonPrincipalName` (`number@domain`).
    pub eppn_domain: String,
    /// Display name of the institution on pages and mails.
    pub institution_name: String,
    /// Language of pages when neither `ui_locales` nor `Accept-Language` choose one.
    pub default_locale: String,
    #[serde(with = "humantime_serde")]
    pub authorization_code_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub access_token_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub id_token_lifetime: Duration,
    /// How long a single sign-on session lasts after the password was given.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub password_hash_concurrency: usize,
    /// Sign-ins waiting for a hash slot, at most; past it a sign-in is answered at once
    /// with 503 and `Retry-After` instead of queueing without limit.
    pub password_hash_queue: usize,
    /// Sign-ins in progress at once from one address (per instance); more are answered
    /// at once with 429.
    pub sign_in_concurrency_per_address: u32,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Requests an instance answers at once; past that it answers 503 with `Retry-After`.
    pub max_requests_in_flight: usize,
    /// `text` or `json`.
    pub log_format: String,

    // --- Refresh tokens ---
    /// A refresh token unused this long expires.
    #[serde(with = "humantime_serde")]
    pub refresh_token_idle_lifetime: Duration,
    /// A family of refresh tokens ends this long after the sign-in, however used.
    #[serde(with = "humantime_serde")]
    pub refresh_token_absolute_lifetime: Duration,
    /// Two refreshes racing with the same token within this window get the same
    /// successor instead of tripping reuse detection. Zero by default: every reuse
    /// revokes the family (RFC 9700 §4.14.2), and `0s` means no window at all.
    #[serde(with = "humantime_serde")]
    pub refresh_token_reuse_grace: Duration,

    // --- Pushed authorization requests and the device flow ---
    /// How long a pushed authorization request (RFC 9126) can be used; it must cover
    /// the sign-in, since the request_uri is spent only when the code is issued.
    #[serde(with = "humantime_serde")]
    pub pushed_request_lifetime: Duration,
    /// How long a device code and its user code (RFC 8628) wait for the person.
    #[serde(with = "humantime_serde")]
    pub device_code_lifetime: Duration,
    /// The minimum polling interval a device is told (RFC 8628 §3.2); polling faster
    /// answers `slow_down` and adds 5 seconds.
    #[serde(with = "humantime_serde")]
    pub device_poll_interval: Duration,

    // --- Mail ---
    /// Sender of every mail.
    pub mail_from: String,
    /// Who is told at once of an identity-theft report.
    pub security_team_email: String,
    /// How often the mail worker looks for mail to send.
    #[serde(with = "humantime_serde")]
    pub mail_poll_interval: Duration,
    /// How long a mail claimed by a worker stays reserved to it: after a crash, the
    /// mails it was sending are retried once this has passed.
    #[serde(with = "humantime_serde")]
    pub mail_claim_lease: Duration,

    // --- Lifecycle ---
    /// Delay between enrollment and the activation mail.
    #[serde(with = "humantime_serde")]
    pub activation_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub activation_link_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub reset_link_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub theft_link_lifetime: Duration,
    /// Numbers assigned at import when the row has none: prefix + zero-padded counter.
    pub number_prefix: String,
    pub number_digits: usize,

    // --- Password policy (NIST SP 800-63B rev. 4) ---
    /// Minimum length when the password is the only factor.
    pub password_min_length: usize,
    /// Minimum length once a second factor is enrolled.
    pub password_min_length_with_second_factor: usize,
    pub password_max_length: usize,
    /// Minimum zxcvbn score (0 to 4).
    pub password_min_strength: u8,
    /// Force a change after this age; off when absent.
    #[serde(with = "humantime_serde")]
    pub password_max_age: Option<Duration>,

    // --- Second factor ---
    /// People with any of these affiliations must set up two-factor sign-in before they
    /// reach a relying party (or their personal space).
    pub second_factor_required_for: Vec<crate::domain::identity::Affiliation>,

    // --- Throttling ---
    /// Failures per sign-in name (or account) before delays start.
    pub throttle_account_free_attempts: u32,
    /// Failures per IP address before delays start.
    pub throttle_ip_free_attempts: u32,
    /// First delay; doubles with each further failure.
    #[serde(with = "humantime_serde")]
    pub throttle_base_delay: Duration,
    /// Longest delay of the growing ones.
    #[serde(with = "humantime_serde")]
    pub throttle_max_delay: Duration,
    /// Failed sign-ins in a row on one account (from browsers that are not the owner's
    /// known devices) before it is locked for `throttle_account_lockout` (NIST SP
    /// 800-63B §5.2.2: at most 100).
    pub throttle_account_lockout_after: u32,
    #[serde(with = "humantime_serde")]
    pub throttle_account_lockout: Duration,
    /// Failed app-password checks per account, from all end users together, before
    /// delays start (each end user, by the address the mail or RADIUS server reports,
    /// has `throttle_account_free_attempts` of its own).
    pub throttle_app_password_account_free_attempts: u32,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` is believed: behind them, the
    /// client's address is the right-most entry not itself a trusted proxy. Empty by
    /// default: the header is ignored and the peer's address counts.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Calls to dynamically registered clients' URLs (`jwks_uri`, back-channel logout)
    /// may reach this machine's loopback addresses. For tests only: a registrant could
    /// otherwise make Etupass call services listening on localhost.
    pub outbound_allow_loopback: bool,
    /// How long a browser stays known as the owner's after a sign-in (device cookie).
    #[serde(with = "humantime_serde")]
    pub device_cookie_lifetime: Duration,
    /// How long a CAS service or proxy ticket may wait for its validation.
    #[serde(with = "humantime_serde")]
    pub cas_ticket_lifetime: Duration,
    /// The university's logo (an https URL, 80×80), named in the SAML metadata for the
    /// federation's discovery pages.
    pub logo_url: Option<String>,
    /// The institution's UAI (its code in the French national directory, `0751234A`),
    /// released to SAML services as `supannEtablissement` (`{UAI}0751234A`).
    pub uai: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let argon2 = Argon2Settings::default();
        Settings {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            database_url: Secret::new("sqlite://etupass.db"),
            database_pool_size: 8,
            database_wait: Duration::from_secs(3),
            keys_dir: "keys".into(),
            rsa_key_bits: 2048,
            jwks_max_age: Duration::from_secs(300),
            keys_reload_interval: Duration::from_secs(30),
            purge_interval: Duration::from_secs(600),
            smtp_url: None,
            mail_dir: "mail".into(),
            eppn_domain: "univ.example".into(),
            institution_name: "Université".into(),
            default_locale: "fr".into(),
            authorization_code_lifetime: Duration::from_secs(60),
            access_token_lifetime: Duration::from_secs(3600),
            id_token_lifetime: Duration::from_secs(3600),
            session_lifetime: Duration::from_secs(10 * 3600),
            argon2_memory_kib: argon2.memory_kib,
            argon2_iterations: argon2.iterations,
            argon2_parallelism: argon2.parallelism,
            password_hash_concurrency: 0,
            password_hash_queue: 64,
            sign_in_concurrency_per_address: 4,
            workers: 0,
            max_requests_in_flight: 1024,
            log_format: "text".into(),
            refresh_token_idle_lifetime: Duration::from_secs(14 * 24 * 3600),
            refresh_token_absolute_lifetime: Duration::from_secs(90 * 24 * 3600),
            refresh_token_reuse_grace: Duration::ZERO,
            pushed_request_lifetime: Duration::from_secs(600),
            device_code_lifetime: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
            mail_from: "Etupass <no-reply@univ.example>".into(),
            security_team_email: "security@univ.example".into(),
            mail_poll_interval: Duration::from_secs(1),
            mail_claim_lease: Duration::from_secs(120),
            activation_delay: Duration::from_secs(24 * 3600),
            activation_link_lifetime: Duration::from_secs(7 * 24 * 3600),
            reset_link_lifetime: Duration::from_secs(30 * 60),
            theft_link_lifetime: Duration::from_secs(3600),
            number_prefix: String::new(),
            number_digits: 8,
            password_min_length: 15,
            password_min_length_with_second_factor: 8,
            password_max_length: 128,
            password_min_strength: 3,
            password_max_age: None,
            second_factor_required_for: Vec::new(),
            throttle_account_free_attempts: 5,
            throttle_ip_free_attempts: 50,
            throttle_base_delay: Duration::from_secs(1),
            throttle_max_delay: Duration::from_secs(15 * 60),
            throttle_account_lockout_after: 100,
            outbound_allow_loopback: false,
            trusted_proxies: Vec::new(),
            throttle_app_password_account_free_attempts: 50,
            throttle_account_lockout: Duration::from_secs(24 * 3600),
            device_cookie_lifetime: Duration::from_secs(180 * 24 * 3600),
            cas_ticket_lifetime: Duration::from_secs(10),
            logo_url: None,
            uai: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Settings {
    /// Reads `file` (default `etupass.toml` when it exists) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        // Defaults come from `#[serde(default)]`, not a serialized provider: `Secret`
        // serializes as "[redacted]" and would replace the real default.
        let mut figment = Figment::new();
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Load(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("etupass.toml")),
        }
        let settings: Settings = figment
            .merge(Env::prefixed("ETUPASS_").ignore(&["config"]))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = Url::parse(&self.issuer).map_err(|e| ConfigError::Invalid {
            key: "issuer",
            message: format!("'{}' is not a URL: {e}", self.issuer),
        })?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(ConfigError::Invalid {
                key: "issuer",
                message: "must be an http(s) URL without query or fragment (OIDC Discovery §2)"
                    .into(),
            });
        }
        if self.bind.parse::<std::net::SocketAddr>().is_err() && !self.bind.contains(':') {
            return Err(ConfigError::Invalid {
                key: "bind",
                message: format!("'{}' is not HOST:PORT", self.bind),
            });
        }
        if !matches!(self.default_locale.as_str(), "fr" | "en") {
            return Err(ConfigError::Invalid {
                key: "default_locale",
                message: "must be fr or en".into(),
            });
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid {
                key: "log_format",
                message: "must be text or json".into(),
            });
        }
        if self.throttle_account_lockout_after == 0 || self.throttle_account_lockout_after > 100 {
            return Err(ConfigError::Invalid {
                key: "throttle_account_lockout_after",
                message: "must be between 1 and 100 (NIST SP 800-63B §5.2.2)".into(),
            });
        }
        if self.database_pool_size == 0 {
            return Err(ConfigError::Invalid {
                key: "database_pool_size",
                message: "must be at least 1".into(),
            });
        }
        if self.database_wait < Duration::from_millis(100) {
            return Err(ConfigError::Invalid {
                key: "database_wait",
                message: "must be at least 100 ms".into(),
            });
        }
        for (key, lifetime) in [
            (
                "authorization_code_lifetime",
                self.authorization_code_lifetime,
            ),
            ("access_token_lifetime", self.access_token_lifetime),
            ("id_token_lifetime", self.id_token_lifetime),
            ("cas_ticket_lifetime", self.cas_ticket_lifetime),
            ("session_lifetime", self.session_lifetime),
            (
                "refresh_token_idle_lifetime",
                self.refresh_token_idle_lifetime,
            ),
            (
                "refresh_token_absolute_lifetime",
                self.refresh_token_absolute_lifetime,
            ),
            ("activation_link_lifetime", self.activation_link_lifetime),
            ("pushed_request_lifetime", self.pushed_request_lifetime),
            ("device_code_lifetime", self.device_code_lifetime),
            ("device_poll_interval", self.device_poll_interval),
            ("reset_link_lifetime", self.reset_link_lifetime),
            ("theft_link_lifetime", self.theft_link_lifetime),
        ] {
            if lifetime.as_secs() == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be at least one second".into(),
                });
            }
        }
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| ConfigError::Invalid {
            key: "argon2_memory_kib",
            message: format!("invalid argon2 parameters: {e}"),
        })?;
        if self.max_requests_in_flight == 0 {
            return Err(ConfigError::Invalid {
                key: "max_requests_in_flight",
                message: "must be at least 1".into(),
            });
        }
        if !crate::crypto::keys::RSA_KEY_BITS.contains(&self.rsa_key_bits) {
            return Err(ConfigError::Invalid {
                key: "rsa_key_bits",
                message: format!(
                    "{} is not one of {:?}",
                    self.rsa_key_bits,
                    crate::crypto::keys::RSA_KEY_BITS
                ),
            });
        }
        if self.purge_interval < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                key: "purge_interval",
                message: "must be at least one second".into(),
            });
        }
        if self.keys_reload_interval < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                key: "keys_reload_interval",
                message: "must be at least one second".into(),
            });
        }
        if self.password_max_length < 64 || self.password_min_length > self.password_max_length {
            return Err(ConfigError::Invalid {
                key: "password_max_length",
                message: "must be at least 64 and at least password_min_length".into(),
            });
        }
        let policy = crate::domain::password_policy::PasswordPolicy {
            min_length: self.password_min_length,
            min_length_with_second_factor: self.password_min_length_with_second_factor,
            max_length: self.password_max_length,
            min_strength: self.password_min_strength,
            ..Default::default()
        };
        if self.password_min_strength > 4 {
            return Err(ConfigError::Invalid {
                key: "password_min_strength",
                message: "is a zxcvbn score, 0 to 4".into(),
            });
        }
        policy.validate().map_err(|e| ConfigError::Invalid {
            key: "password_policy",
            message: e.to_string(),
        })?;
        if lettre::Address::try_from(self.security_team_email.clone()).is_err() {
            return Err(ConfigError::Invalid {
                key: "security_team_email",
                message: format!("'{}' is not an address", self.security_team_email),
            });
        }
        if self.mail_poll_interval < Duration::from_millis(10) {
            return Err(ConfigError::Invalid {
                key: "mail_poll_interval",
                message: "must be at least 10ms".into(),
            });
        }
        if self.password_min_strength > 4 {
            return Err(ConfigError::Invalid {
                key: "password_min_strength",
                message: "is a zxcvbn score, 0 to 4".into(),
            });
        }
        if lettre::Address::try_from(self.mail_from_address()).is_err() {
            return Err(ConfigError::Invalid {
                key: "mail_from",
                message: format!("'{}' is not an address", self.mail_from),
            });
        }
        if let Some(url) = &self.smtp_url {
            if !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://")) {
                return Err(ConfigError::Invalid {
                    key: "smtp_url",
                    message: "must start with smtp:// (STARTTLS with ?tls=required) or smtps://"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// The bare address of `mail_from` (`Name <addr>` or `addr`).
    pub fn mail_from_address(&self) -> String {
        match (self.mail_from.find('<'), self.mail_from.rfind('>')) {
            (Some(start), Some(end)) if start < end => {
                self.mail_from[start + 1..end].trim().to_string()
            }
            _ => self.mail_from.trim().to_string(),
        }
    }

    /// The issuer without a trailing slash, the base of every endpoint URL.
    pub fn issuer(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    pub fn argon2(&self) -> Argon2Settings {
        Argon2Settings {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    pub fn cores() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn a_bad_issuer_is_refused_with_its_key() {
        let settings = Settings {
            issuer: "not a url".into(),
            ..Settings::default()
        };
        let message = settings.validate().unwrap_err().to_string();
        assert!(message.contains("issuer"), "{message}");
    }

    #[test]
    fn a_purge_interval_under_a_second_is_refused_with_its_key() {
        let settings = Settings {
            purge_interval: Duration::from_millis(500),
            ..Settings::default()
        };
        let message = settings.validate().unwrap_err().to_string();
        assert!(message.contains("purge_interval"), "{message}");
    }

    #[test]
    fn rsa_key_bits_takes_the_sizes_etupass_makes() {
        let mut settings = Settings::default();
        assert_eq!(settings.rsa_key_bits, 2048);
        for bits in [2048, 3072, 4096] {
            settings.rsa_key_bits = bits;
            assert!(settings.validate().is_ok(), "{bits}");
        }
        for bits in [1024, 2047, 8192] {
            settings.rsa_key_bits = bits;
            assert!(settings.validate().is_err(), "{bits}");
        }
    }

    #[test]
    fn loading_keeps_the_secret_defaults_and_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etupass.toml");
        std::fs::write(&path, "issuer = \"https://login.univ.example\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.database_url.expose(), "sqlite://etupass.db");
        assert_eq!(settings.issuer, "https://login.univ.example");
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        assert!(
            Settings::load(Some(&path)).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn lifetimes_read_human_durations() {
        let settings: Settings =
            toml::from_str("access_token_lifetime = \"10m\"\nsession_lifetime = \"8h\"").unwrap();
        assert_eq!(settings.access_token_lifetime, Duration::from_secs(600));
        assert_eq!(settings.session_lifetime, Duration::from_secs(8 * 3600));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "issuer",
            "bind",
            "database_pool_size",
            "session_lifetime",
            "refresh_token_reuse_grace",
            "throttle_account_lockout_after",
            "trusted_proxies",
            "password_min_length",
            "argon2_memory_kib",
            "default_locale",
            "second_factor_required_for",
            "unknown_key",
        ]);
        let value = prop::sample::select(vec![
            "\"http://127.0.0.1:8080\"",
            "\"not a url\"",
            "0",
            "-1",
            "101",
            "\"10s\"",
            "3600",
            "[\"10.0.0.0/8\"]",
            "[\"10.0.0.0/33\"]",
            "[\"staff\"]",
            "true",
            "\"fr\"",
            "{ a = 1 }",
            "\"",
        ]);
        prop_oneof![
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            ".{0,40}"
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any `etupass.toml`: loaded and validated, or refused with a configuration
        /// error (one readable line), never a panic.
        #[test]
        fn any_configuration_file_loads_or_is_refused_with_a_reason(
            lines in prop::collection::vec(line(), 0..8)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("etupass.toml");
            std::fs::write(&path, lines.join("\n")).unwrap();
            match Settings::load(Some(&path)) {
                Ok(settings) => {
                    if let Err(error) = settings.validate() {
                        prop_assert!(error.to_string().starts_with("configuration"));
                    }
                }
                Err(error) => prop_assert!(error.to_string().starts_with("configuration")),
            }
        }
    }
}
