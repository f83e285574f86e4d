//! `etupass serve` as its own process: the real binary, as production runs it (the crash
//! tests kill it; the multi-instance tests run two against one database).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestApp;

/// `etupass serve` as its own process, on a free port, against the app's database, keys
/// and SMTP sink.
pub struct Serve {
    child: Child,
    pub base: String,
}

impl Serve {
    /// `extra` environment variables override the defaults (`ETUPASS_ISSUER`: the
    /// public address several instances share).
    pub async fn start(app: &TestApp, extra: &[(&str, &str)]) -> Serve {
        let mut env = vec![
            (
                "ETUPASS_DATABASE_URL",
                app.settings.database_url.expose().to_string(),
            ),
            (
                "ETUPASS_KEYS_DIR",
                app.settings.keys_dir.display().to_string(),
            ),
            ("ETUPASS_SMTP_URL", app.smtp_url()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let serve = Serve::spawn(app.dir.path(), free_port(), &env);
        serve.ready().await;
        serve
    }

    /// Starts the process without waiting for it to answer; `env` (the database and key
    /// directory at least) overrides the defaults.
    pub fn spawn(dir: &std::path::Path, port: u16, env: &[(&str, String)]) -> Serve {
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_etupass"));
        command
            .arg("serve")
            .current_dir(dir)
            .env("ETUPASS_ISSUER", &base)
            .env("ETUPASS_BIND", format!("127.0.0.1:{port}"))
            .env("ETUPASS_ARGON2_MEMORY_KIB", "64")
            .env("ETUPASS_ARGON2_ITERATIONS", "1")
            .env("ETUPASS_WORKERS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        // Held by the guard from the start: killed and waited for on every path.
        Serve {
            child: command.spawn().expect("etupass serve starts"),
            base,
        }
    }

    /// Waits until the instance answers `/healthz`.
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("etupass serve did not answer /healthz");
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
