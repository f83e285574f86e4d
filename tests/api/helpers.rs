//! `TestApp::spawn()`: a temporary directory with keys and a SQLite file — or a fresh
//! PostgreSQL database `etupass_test_<uuid>` when `TEST_DATABASE_URL` is set, dropped
//! afterwards — the real server on `127.0.0.1:0`, and a browser-like HTTP client.

use std::net::TcpListener;
use std::sync::Arc;

use diesel::r2d2::ManageConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use etupass::account::provisioning::{self, IdentityInput};
use etupass::crypto::password::PasswordHasher;
use etupass::crypto::Secret;
use etupass::domain::client::{AuthMethod, GrantType, NewClient, SigningAlg};
use etupass::domain::clock::{Clock, ManualClock};
use etupass::domain::identity::Identity;
use etupass::domain::redirect_uri::RedirectUri;
use etupass::store::conn::{AnyConnection, Manager, Target};
use etupass::store::Store;
use etupass::{Application, Settings};
use tempfile::TempDir;

use crate::smtp::{Mailbox, SmtpSink};

pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

pub struct TestApp {
    pub issuer: String,
    pub mailbox: Mailbox,
    pub settings: Settings,
    pub store: Store,
    pub clock: ManualClock,
    pub dir: TempDir,
    hasher: PasswordHasher,
    /// The running server's own context (its password hasher's counters, say).
    pub server: Arc<etupass::provider::Provider>,
    handle: actix_web::dev::ServerHandle,
    database: Option<TestDatabase>,
}

/// A registered client as the relying party knows it.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub alg: SigningAlg,
    pub auth_method: AuthMethod,
}

pub struct ClientOptions {
    pub pairwise: bool,
    pub access_token_format: etupass::domain::client::AccessTokenFormat,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<GrantType>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub alg: SigningAlg,
    pub auth_method: AuthMethod,
    pub redirect_uri: String,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub require_par: bool,
    pub refresh_lifetimes: Option<etupass::domain::client::RefreshLifetimes>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
    pub attribute_writer: bool,
    pub released_attributes: Vec<String>,
    pub app_password_purposes: Vec<etupass::domain::app_password::Purpose>,
    /// A resource server that introspects other clients' tokens (`--introspect`).
    pub introspect: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            pairwise: false,
            access_token_format: etupass::domain::client::AccessTokenFormat::Opaque,
            backchannel_logout_uri: None,
            grant_types: vec![GrantType::AuthorizationCode],
            post_logout_redirect_uris: Vec::new(),
            public: false,
            first_party: false,
            alg: SigningAlg::RS256,
            auth_method: AuthMethod::ClientSecretBasic,
            redirect_uri: REDIRECT_URI.to_string(),
            jwks: None,
            jwks_uri: None,
            require_par: false,
            refresh_lifetimes: None,
            open_to_alumni: false,
            open_to_parents: false,
            attribute_writer: false,
            released_attributes: Vec::new(),
            app_password_purposes: Vec::new(),
            introspect: false,
        }
    }
}

type Configure = Box<dyn FnOnce(&mut Settings)>;

#[derive(Default)]
pub struct TestAppBuilder {
    configure: Vec<Configure>,
    dir: Option<TempDir>,
    database_url: Option<String>,
    port: u16,
    /// Point SMTP at a closed port: mail delivery fails (outbox retry tests).
    smtp_down: bool,
}

impl TestAppBuilder {
    pub fn with_config(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    pub fn with_smtp_down(mut self) -> Self {
        self.smtp_down = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_logs();
        let dir = self
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let (database_url, database) = match self.database_url {
            Some(url) => (url, None),
            None => match std::env::var("TEST_DATABASE_URL") {
                Ok(base) if !base.is_empty() => {
                    let db = TestDatabase::create(&base);
                    (db.url.clone(), Some(db))
                }
                _ => (
                    format!("sqlite://{}", dir.path().join("etupass.db").display()),
                    None,
                ),
            },
        };
        let sink = SmtpSink::start().await;
        let smtp_port = if self.smtp_down {
            // A port that was free a moment ago: connections are refused.
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        } else {
            sink.port
        };
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind a port");
        let port = listener.local_addr().unwrap().port();
        let mut settings = Settings {
            issuer: format!("http://127.0.0.1:{port}"),
            bind: format!("127.0.0.1:{port}"),
            database_url: Secret::new(database_url.clone()),
            database_pool_size: 4,
            keys_dir: dir.path().join("keys"),
            mail_dir: dir.path().join("mail"),
            // Cheap hashing: the tests exercise the flow, not argon2.
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            workers: 2,
            smtp_url: Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}"))),
            mail_poll_interval: std::time::Duration::from_millis(50),
            ..Settings::default()
        };
        for f in self.configure {
            f(&mut settings);
        }
        let clock = ManualClock::default();
        let app = Application::build_with(settings.clone(), listener, Arc::new(clock.clone()))
            .await
            .expect("the application builds");
        let handle = app.handle();
        let server = app.provider();
        tokio::spawn(app.run_until_stopped());
        let store = Store::connect(&database_url, 2).expect("test store");
        let hasher = PasswordHasher::new(settings.argon2(), 2).unwrap();
        TestApp {
            issuer: settings.issuer.clone(),
            mailbox: sink.mailbox,
            settings,
            store,
            clock,
            dir,
            hasher,
            server,
            handle,
            database,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::builder().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// Stops this server and starts another on the same port, database and keys.
    pub async fn restart(mut self) -> TestApp {
        self.handle.stop(true).await;
        let port = self
            .settings
            .bind
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let database = self.database.take();
        let url = self.settings.database_url.expose().to_string();
        let keys_dir = self.settings.keys_dir.clone();
        let mut app = TestAppBuilder {
            configure: vec![Box::new(move |s: &mut Settings| s.keys_dir = keys_dir)],
            dir: Some(dir),
            database_url: Some(url),
            port,
            smtp_down: false,
        }
        .spawn()
        .await;
        app.database = database;
        app
    }

    /// Stops the in-process server (and its mail worker), keeping the database, keys and
    /// SMTP sink: for tests that run the real `etupass serve` binary against them.
    pub async fn stop_server(&self) {
        self.handle.stop(true).await;
    }

    /// The SMTP sink's address, as `smtp_url`.
    pub fn smtp_url(&self) -> String {
        self.settings
            .smtp_url
            .as_ref()
            .map(|url| url.expose().to_string())
            .unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub async fn add_identity(&self, number: &str) -> Identity {
        self.add_identity_with(number, "Dupont", "Élodie", Some(PASSWORD))
            .await
    }

    pub async fn add_identity_with(
        &self,
        number: &str,
        family: &str,
        given: &str,
        password: Option<&str>,
    ) -> Identity {
        self.add_identity_full(number, family, given, password, "student")
            .await
    }

    /// An identity with the test password and these affiliations (`staff`, say).
    pub async fn add_identity_affiliated(&self, number: &str, affiliations: &str) -> Identity {
        self.add_identity_full(number, "Dupont", "Élodie", Some(PASSWORD), affiliations)
            .await
    }

    async fn add_identity_full(
        &self,
        number: &str,
        family: &str,
        given: &str,
        password: Option<&str>,
        affiliations: &str,
    ) -> Identity {
        provisioning::add_identity(
            &self.store,
            &self.hasher,
            "univ.example",
            IdentityInput {
                number: number.into(),
                family_name: family.into(),
                given_names: given.into(),
                birth_date: "2004-05-17".into(),
                affiliations: affiliations.into(),
                personal_email: Some(format!("{number}@personal.example")),
                institutional_email: None,
                password: password.map(Secret::new),
            },
            self.clock.now(),
        )
        .await
        .expect("identity created")
    }

    /// Damages the sealed private part of a signing key in the database, as a bad disk
    /// or a careless hand would.
    pub async fn corrupt_sealed_key(&self, kid: &str) {
        let changed = self
            .execute_elsewhere(format!(
                "UPDATE signing_keys SET sealed_private = replace(sealed_private, '.', '.A') \
                 WHERE kid = '{kid}'"
            ))
            .await;
        assert_eq!(changed, 1, "the key is in the database");
    }

    /// Runs `sql` on a connection of its own, as another instance or the command line
    /// would, behind the server's back; the number of rows it changed.
    pub async fn execute_elsewhere(&self, sql: impl Into<String>) -> usize {
        let sql = sql.into();
        self.raw_connection(move |conn| diesel::sql_query(sql).execute(conn))
            .await
            .unwrap()
    }

    /// How the database would run `query`: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on
    /// PostgreSQL with sequential scans discouraged (a test table is too small for the
    /// planner to prefer an index it can use), one line per step.
    pub async fn query_plan(&self, query: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct PgStep {
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
            step: String,
        }
        #[derive(diesel::QueryableByName)]
        struct SqliteStep {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let query = query.to_string();
        self.raw_connection(move |conn| {
            Ok(match conn {
                AnyConnection::Postgresql(c) => {
                    diesel::sql_query("SET enable_seqscan = off").execute(c)?;
                    let steps: Vec<PgStep> =
                        diesel::sql_query(format!("EXPLAIN {query}")).load(c)?;
                    steps.into_iter().map(|s| s.step).collect::<Vec<_>>()
                }
                AnyConnection::Sqlite(c) => {
                    let steps: Vec<SqliteStep> =
                        diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}")).load(c)?;
                    steps.into_iter().map(|s| s.detail).collect()
                }
            }
            .join("\n"))
        })
        .await
        .unwrap()
    }

    /// Runs `work` on a connection of its own to the test's database, beside the
    /// server's (the backend chosen from the URL as the store chooses it).
    async fn raw_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> diesel::QueryResult<T> {
        let target = Target::parse(self.settings.database_url.expose());
        tokio::task::spawn_blocking(move || {
            let mut conn = Manager::new(target)
                .connect()
                .expect("a connection of its own");
            work(&mut conn)
        })
        .await
        .unwrap()
    }

    /// The token secret the running server uses (from the key set).
    pub fn server_key(&self) -> Vec<u8> {
        self.server.token_secret.clone()
    }

    pub async fn add_client(&self, options: ClientOptions) -> TestClient {
        let auth_method = if options.public {
            AuthMethod::None
        } else {
            options.auth_method
        };
        let (client, secret) = etupass::oauth::clients::register(
            &self.store,
            &self.server_key(),
            NewClient {
                name: "Test RP".into(),
                redirect_uris: vec![RedirectUri::parse(&options.redirect_uri).unwrap()],
                post_logout_redirect_uris: options
                    .post_logout_redirect_uris
                    .iter()
                    .map(|u| RedirectUri::parse(u).unwrap())
                    .collect(),
                grant_types: options.grant_types.clone(),
                auth_method,
                public: options.public,
                first_party: options.first_party,
                id_token_alg: options.alg,
                access_token_format: options.access_token_format,
                pairwise: options.pairwise,
                backchannel_logout_uri: options
                    .backchannel_logout_uri
                    .as_deref()
                    .map(|u| RedirectUri::parse(u).unwrap()),
                jwks: options.jwks,
                jwks_uri: options
                    .jwks_uri
                    .as_deref()
                    .map(|u| RedirectUri::parse(u).unwrap()),
                require_par: options.require_par,
                refresh_lifetimes: options.refresh_lifetimes,
                open_to_alumni: options.open_to_alumni,
                open_to_parents: options.open_to_parents,
                attribute_writer: options.attribute_writer,
                released_attributes: options.released_attributes,
                app_password_purposes: options.app_password_purposes,
                may_introspect: options.introspect,
            },
            self.clock.now(),
        )
        .await
        .expect("client registered");
        TestClient {
            client_id: client.client_id,
            client_secret: secret,
            redirect_uri: options.redirect_uri,
            alg: options.alg,
            auth_method,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// A PostgreSQL database of its own for one test, dropped when the test ends.
/// A database no instance has touched: a new PostgreSQL database under
/// `TEST_DATABASE_URL` (dropped with it), or a new SQLite file in `dir`.
pub struct EmptyDatabase {
    pub url: String,
    _dropped_with: Option<TestDatabase>,
}

impl EmptyDatabase {
    pub fn create(dir: &std::path::Path) -> EmptyDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let db = TestDatabase::create(&base);
                EmptyDatabase {
                    url: db.url.clone(),
                    _dropped_with: Some(db),
                }
            }
            _ => EmptyDatabase {
                url: format!("sqlite://{}", dir.join("empty.db").display()),
                _dropped_with: None,
            },
        }
    }
}

struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    fn create(base: &str) -> TestDatabase {
        let name = format!("etupass_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(base).expect("TEST_DATABASE_URL reachable");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create the test database");
        let mut url = url::Url::parse(base).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        TestDatabase {
            admin_url: base.to_string(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

fn init_logs() {
    // Before any test thread touches OpenSSL (josekit, libpq): see `crypto::init`.
    etupass::crypto::init();
    if std::env::var("TEST_LOG").is_ok() {
        etupass::telemetry::init("text", "debug");
    }
}

/// The configuration block shown in `docs/relying-parties.md` after
/// `<!-- tested: NAME -->`: the tests run what the docs say.
pub fn documented(name: &str) -> String {
    let docs = include_str!("../../docs/relying-parties.md");
    let after = docs
        .split(&format!("<!-- tested: {name} -->"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/relying-parties.md has no block {name}"));
    let block = &after[after.find("```").unwrap() + 3..];
    let block = &block[block.find('\n').unwrap() + 1..];
    block[..block.find("```").unwrap()].to_string()
}

/// Runs the real `etupass` binary against this app's database and keys.
pub fn etupass(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(args)
        .current_dir(app.dir.path())
        .env("ETUPASS_DATABASE_URL", app.settings.database_url.expose())
        .env("ETUPASS_KEYS_DIR", &app.settings.keys_dir)
        .env("ETUPASS_ARGON2_MEMORY_KIB", "64")
        .env("ETUPASS_ARGON2_ITERATIONS", "1")
        .env("ETUPASS_ISSUER", &app.issuer)
        .env("ETUPASS_EPPN_DOMAIN", &app.settings.eppn_domain)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the etupass binary runs");
    if let Some(input) = stdin {
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Installs Debian packages a test runs (a real relying party), unless `present`.
/// `.ci/run` installs them beforehand; as root, a test does it itself. policy-rc.d keeps
/// the packages from starting system-wide services.
pub fn install_debian_packages(present: bool, packages: &[&str]) {
    if present {
        return;
    }
    let _ = std::fs::write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n");
    let _ = std::process::Command::new("chmod")
        .args(["+x", "/usr/sbin/policy-rc.d"])
        .status();
    let installed = std::process::Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file("/usr/sbin/policy-rc.d");
    assert!(
        installed,
        "this test needs {packages:?}: apt-get install {} (as root)",
        packages.join(" ")
    );
}

/// A real HTTP listener that answers 200 to every POST and keeps each body (a relying
/// party's back-channel endpoint, a stand-in for a service); returns its URL at `path`.
pub async fn http_recorder(path: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buffer).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buffer.len() >= end + 4 + length {
                            kept.lock()
                                .unwrap()
                                .push(text[end + 4..end + 4 + length].to_string());
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, bodies)
}

/// An RSA key and a self-signed certificate for it, valid two days: what a peer (an SP,
/// a federation) signs with in the tests.
pub fn self_signed(
    name: &str,
) -> (
    openssl::pkey::PKey<openssl::pkey::Private>,
    openssl::x509::X509,
) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut subject = x509::X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", name).unwrap();
    let subject = subject.build();
    let mut builder = x509::X509Builder::new().unwrap();
    builder.set_subject_name(&subject).unwrap();
    builder.set_issuer_name(&subject).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    (key, builder.build())
}

/// Whether the introspection endpoint at `base` says `token` is active, asked as `caller`.
pub async fn introspected_active(base: &str, caller: &TestClient, token: &str) -> bool {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/introspect"))
        .basic_auth(&caller.client_id, caller.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["active"] == true
}
