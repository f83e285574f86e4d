//! A database that goes away and comes back: a PostgreSQL server of the test's own (a
//! private cluster made with `initdb` on a free port) is stopped under a running `etupass
//! serve` and started again. Meanwhile requests that need it are answered 503 with
//! `Retry-After` after `database_wait`, never left hanging, and `/readyz` says false;
//! afterwards the same process answers again, with no restart. Run in CI's PostgreSQL
//! pass (the production database); the server binaries come with the machine's PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::serve::{free_port, Serve};

/// A PostgreSQL cluster in a temporary directory, run by the `postgres` system user when
/// the tests run as root (the server refuses to run as root), stopped when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn create(bin: PathBuf) -> PrivatePostgres {
        let dir = tempfile::tempdir().unwrap();
        let cluster = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
        };
        if running_as_root() {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(cluster.dir.path()));
        }
        run(cluster
            .as_server_user("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(cluster.data()));
        cluster.start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Through the Unix socket in the private directory: the cluster trusts whoever
    /// connects, so it listens on no TCP address another local user could reach.
    fn url(&self) -> String {
        format!(
            "postgres:///postgres?host={}&port={}&user=postgres",
            self.dir.path().display(),
            self.port
        )
    }

    /// A command of the server's binaries, as the user that may run them.
    fn as_server_user(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Starts the server and waits until it accepts connections (`pg_ctl -w`).
    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses= -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .as_server_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "start"]));
    }

    /// Stops the server the way a restart or a crash-free failover does: clients are
    /// disconnected and new connections are refused until it is back.
    fn stop(&self) {
        run(self
            .as_server_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_server_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The newest installed PostgreSQL's server binaries (Debian keeps them off the PATH).
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn running_as_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_stopped_database_gives_503_for_those_seconds_never_a_hang_and_the_instance_recovers() {
    // CI's PostgreSQL pass; the SQLite pass has no server to stop.
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return;
    }
    let Some(bin) = server_binaries() else {
        // A PostgreSQL reached over the network (a CI service container) has no server
        // binaries here to make a cluster of our own with.
        eprintln!("skipped: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin");
        return;
    };
    let database = tokio::task::spawn_blocking(move || PrivatePostgres::create(bin))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ETUPASS_DATABASE_URL", database.url()),
        (
            "ETUPASS_KEYS_DIR",
            dir.path().join("keys").display().to_string(),
        ),
        (
            "ETUPASS_MAIL_DIR",
            dir.path().join("mail").display().to_string(),
        ),
        ("ETUPASS_DATABASE_WAIT", "1s".to_string()),
    ];
    let serve = Serve::spawn(dir.path(), free_port(), &env);
    serve.ready().await;
    // A hang fails the test here instead of blocking it: no answer takes this long.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let status = |path: &'static str| {
        let (http, base) = (http.clone(), serve.base.clone());
        async move {
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path} did not answer: {e}"))
                .status()
                .as_u16()
        }
    };
    // A token request for a client that does not exist reads the database: 401 while it
    // is up, 503 while it is not.
    let token = || {
        let (http, base) = (http.clone(), serve.base.clone());
        async move {
            http.post(format!("{base}/token"))
                .basic_auth("no-such-client", Some("secret"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("/token answers")
        }
    };
    assert_eq!(status("/readyz").await, 200);
    assert_eq!(token().await.status(), 401);
    // A service with client_credentials: its tokens go through the group-commit writer.
    let added = Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args([
            "client",
            "add",
            "--name",
            "service",
            "--grant-type",
            "client_credentials",
        ])
        .args(["--redirect-uri", "http://127.0.0.1:9/cb"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let service: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let service_token = || {
        let (http, base) = (http.clone(), serve.base.clone());
        let (id, secret) = (
            service["client_id"].as_str().unwrap().to_string(),
            service["client_secret"].as_str().unwrap().to_string(),
        );
        async move {
            http.post(format!("{base}/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("/token answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(service_token().await, 200);

    // pg_ctl blocks this thread for a moment: the server under test is another process.
    database.stop();
    // The pooled connections were cut with the server: each fails once and is dropped;
    // then every request waits `database_wait` for a connection that cannot be made.
    let mut not_ready = 0;
    for _ in 0..20 {
        if status("/readyz").await == 503 {
            not_ready += 1;
            if not_ready == 2 {
                break;
            }
        }
    }
    assert_eq!(not_ready, 2, "/readyz says the database is away");
    let refused = token().await;
    assert_eq!(refused.status(), 503, "a request needing the database");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    // A bearer-protected resource says the same in its own form (RFC 6750).
    let userinfo = |token: &'static str| {
        let (http, base) = (http.clone(), serve.base.clone());
        async move {
            http.get(format!("{base}/userinfo"))
                .bearer_auth(token)
                .send()
                .await
                .expect("/userinfo answers")
        }
    };
    let refused = userinfo("no-such-token").await;
    assert_eq!(refused.status(), 503, "userinfo while the database is away");
    assert_eq!(refused.headers()["retry-after"], "1");
    // Twenty services asking at once: every one is told 503, none is left waiting.
    let during = futures_util::future::join_all((0..20).map(|_| service_token())).await;
    assert!(during.iter().all(|s| *s == 503), "{during:?}");
    // What needs no database goes on: health, discovery, the keys.
    assert_eq!(status("/healthz").await, 200);
    assert_eq!(status("/jwks").await, 200);
    assert_eq!(status("/.well-known/openid-configuration").await, 200);

    database.start();
    let mut polls = 0;
    while status("/readyz").await != 200 {
        polls += 1;
        assert!(polls < 100, "the instance did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(token().await.status(), 401, "the same process serves again");
    assert_eq!(service_token().await, 200, "and issues tokens again");
    assert_eq!(
        userinfo("no-such-token").await.status(),
        401,
        "an unknown token again"
    );
}
