//! The wifi's RADIUS server: a real FreeRADIUS (Debian's `freeradius` and
//! `freeradius-rest`) configured with the two blocks of `docs/relying-parties.md`, asked
//! with `radtest` and `radclient` on loopback. `.ci/run` installs it; as root, the test
//! installs it when missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::app_passwords::{create, NUMBER};
use crate::helpers::{documented, etupass, http_recorder, TestApp};
use crate::rp::Browser;

/// Quotes, a backslash, a space, an accented letter and the characters that mean
/// something in a form body.
const AWKWARD_PASSWORD: &str = "Tr\"ès\\ sûr & x=1+%41 'ok'";
const SHARED_SECRET: &str = "radius-shared-secret";
const LAST_USED: &str = "dernière utilisation";

struct FreeRadius {
    child: Child,
    port: u16,
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ensure_installed() {
    let present = Command::new("radclient").arg("-v").output().is_ok()
        && Command::new("freeradius").arg("-v").output().is_ok()
        && Path::new("/usr/lib/freeradius/rlm_rest.so").exists();
    crate::helpers::install_debian_packages(
        present,
        &["freeradius", "freeradius-utils", "freeradius-rest"],
    );
}

/// A FreeRADIUS on a free loopback port whose `etupass` module asks `base_url` with these
/// client credentials: the documented module and policy, in a minimal server.
fn start_freeradius(
    dir: &Path,
    base_url: &str,
    client_id: &str,
    client_secret: &str,
) -> FreeRadius {
    ensure_installed();
    std::fs::create_dir_all(dir.join("log")).unwrap();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(dir.join("dictionary"), "").unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let module = documented("freeradius-module")
        .replace("https://id.univ.example", base_url)
        .replace("RADIUS_CLIENT_ID", client_id)
        .replace("RADIUS_CLIENT_SECRET", client_secret);
    let policy = documented("freeradius-policy");
    let d = dir.display();
    let config = format!(
        "prefix = /usr\nexec_prefix = /usr\nsysconfdir = /etc\nlocalstatedir = /var\n\
         sbindir = /usr/sbin\ndatarootdir = /usr/share\ndictdir = /usr/share/freeradius\n\
         raddbdir = {d}\nconfdir = {d}\nmodconfdir = {d}/mods-config\nlogdir = {d}/log\n\
         run_dir = {d}/run\ndb_dir = {d}\nlibdir = /usr/lib/freeradius\nname = freeradius\n\
         pidfile = {d}/run/freeradius.pid\nmax_request_time = 30\ncleanup_delay = 5\n\
         max_requests = 1024\nhostname_lookups = no\n\
         log {{\n destination = stdout\n auth = yes\n}}\n\
         security {{\n allow_core_dumps = no\n max_attributes = 200\n reject_delay = 0\n status_server = no\n}}\n\
         thread pool {{\n start_servers = 1\n max_servers = 4\n min_spare_servers = 1\n max_spare_servers = 2\n max_requests_per_server = 0\n}}\n\
         client localhost {{\n ipaddr = 127.0.0.1\n secret = {SHARED_SECRET}\n}}\n\
         modules {{\nexpr {{\n}}\n{module}}}\n\
         server etupass {{\nlisten {{\n type = auth\n ipaddr = 127.0.0.1\n port = {port}\n}}\n{policy}}}\n"
    );
    std::fs::write(dir.join("radiusd.conf"), config).unwrap();
    let log = dir.join("radiusd.log");
    let child = Command::new("freeradius")
        .args(["-X", "-d"])
        .arg(dir)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("freeradius starts");
    let mut radius = FreeRadius { child, port };
    for _ in 0..200 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to process requests") {
            return radius;
        }
        if let Ok(Some(status)) = radius.child.try_wait() {
            panic!("freeradius exited ({status}): {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = radius.child.kill();
    panic!(
        "freeradius did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `radtest`, as an administrator tries a user: Access-Accept or Access-Reject.
async fn radtest(radius: &FreeRadius, user: &str, password: &str) -> bool {
    let args = [
        user.to_string(),
        password.to_string(),
        format!("127.0.0.1:{}", radius.port),
        "0".into(),
        SHARED_SECRET.into(),
    ];
    answer(Command::new("radtest").args(args)).await
}

/// `radclient` with the attributes written out, for passwords `radtest` cannot quote.
async fn radclient(radius: &FreeRadius, user: &str, password: &str) -> bool {
    radclient_from(radius, user, password, None).await
}

/// The same from a station (a device's MAC: `Calling-Station-Id`).
async fn radclient_from(
    radius: &FreeRadius,
    user: &str,
    password: &str,
    station: Option<&str>,
) -> bool {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut attributes = format!(
        "User-Name = \"{}\"\nUser-Password = \"{}\"\n",
        quote(user),
        quote(password)
    );
    if let Some(station) = station {
        attributes.push_str(&format!("Calling-Station-Id = \"{}\"\n", quote(station)));
    }
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!(
        "radclient-{}-{}-{call}",
        std::process::id(),
        radius.port
    ));
    std::fs::write(&file, attributes).unwrap();
    let mut command = Command::new("radclient");
    command
        .args(["-r", "1", "-t", "5", "-f"])
        .arg(&file)
        .arg(format!("127.0.0.1:{}", radius.port))
        .args(["auth", SHARED_SECRET]);
    let accepted = answer(&mut command).await;
    let _ = std::fs::remove_file(file);
    accepted
}

async fn answer(command: &mut Command) -> bool {
    let mut command = std::mem::replace(command, Command::new("true"));
    // Off the runtime's threads: FreeRADIUS is calling the server this runtime serves.
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.contains("Received Access-Accept") {
        true
    } else if stdout.contains("Received Access-Reject") {
        false
    } else {
        panic!(
            "no RADIUS answer: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

#[tokio::test]
async fn freeradius_accepts_only_wifi_app_passwords_of_active_accounts() {
    let app = TestApp::spawn().await;
    app.add_identity_with(NUMBER, "Dupont", "Élodie", Some(AWKWARD_PASSWORD))
        .await;
    // Registered as docs/relying-parties.md says, with the real command.
    let added = etupass(
        &app,
        &[
            "client",
            "add",
            "--name",
            "FreeRADIUS wifi",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_post",
            "--check-app-passwords",
            "wifi",
        ],
        None,
    );
    assert!(added.status.success(), "{added:?}");
    let service: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let radius = start_freeradius(
        &app.dir.path().join("raddb"),
        app.issuer.trim_end_matches('/'),
        service["client_id"].as_str().unwrap(),
        service["client_secret"].as_str().unwrap(),
    );
    let browser = Browser::new();
    let page = browser.open(&app.url("/account")).await;
    browser.sign_in(&app, &page, NUMBER, AWKWARD_PASSWORD).await;
    let wifi = create(&app, &browser, "Laptop wifi", "wifi").await;
    let mail = create(&app, &browser, "Phone mail", "mail").await;

    assert!(
        radtest(&radius, NUMBER, &wifi).await,
        "the wifi app password"
    );
    assert!(
        !radtest(&radius, NUMBER, "abcd-efgh-jkmn-pqrs-tuvw").await,
        "a wrong one"
    );
    assert!(
        !radtest(&radius, NUMBER, &mail).await,
        "a mail app password"
    );
    assert!(
        !radclient(&radius, NUMBER, AWKWARD_PASSWORD).await,
        "the account password"
    );
    assert!(radclient(&radius, NUMBER, &wifi).await, "radclient agrees");
    // Junk logins from another station do not switch the owner's laptop off.
    for _ in 0..8 {
        assert!(
            !radclient_from(
                &radius,
                NUMBER,
                "abcd-efgh-jkmn-pqrs-tuvw",
                Some("02-00-5E-00-00-01")
            )
            .await
        );
    }
    assert!(
        radclient_from(&radius, NUMBER, &wifi, Some("02-00-5E-00-00-02")).await,
        "the owner's station still connects"
    );
    assert!(
        !radclient_from(&radius, NUMBER, &wifi, Some("02-00-5E-00-00-01")).await,
        "the guessing station waits, even with the right password"
    );
    let list = browser.open(&app.url("/account")).await;
    assert!(
        list.contains(LAST_USED),
        "the wifi password shows its last use"
    );

    // A suspended account: nothing is accepted any more.
    assert!(etupass(&app, &["identity", "lock", NUMBER], None)
        .status
        .success());
    assert!(
        !radtest(&radius, NUMBER, &wifi).await,
        "a suspended account"
    );
}

#[tokio::test]
async fn freeradius_sends_awkward_passwords_intact() {
    // The documented module against a recorder: what Etupass would receive, byte for byte.
    let app = TestApp::spawn().await;
    let (url, bodies) = http_recorder("/").await;
    let radius = start_freeradius(
        &app.dir.path().join("raddb"),
        url.trim_end_matches('/'),
        "wifi-radius",
        "c2VjcmV0LXNlY3JldA",
    );
    radclient_from(
        &radius,
        "élodie.o'brien@univ.example",
        AWKWARD_PASSWORD,
        Some("02-00-5E-00-53-01"),
    )
    .await;
    let body = bodies.lock().unwrap().first().cloned().expect("a request");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {body}"))
    };
    assert_eq!(field("password"), AWKWARD_PASSWORD);
    assert_eq!(field("username"), "élodie.o'brien@univ.example");
    assert_eq!(field("client_id"), "wifi-radius");
    assert_eq!(
        field("end_user"),
        "02-00-5E-00-53-01",
        "the station, for the throttle"
    );
    assert_eq!(form.len(), 5, "nothing split off: {body}");
}
