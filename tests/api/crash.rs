//! Crashes with a real SIGKILL of the real binary: an import of 50,000 rows, mail
//! delivery to a real SMTP listener, and a burst of token requests. After a restart
//! nothing is lost, nothing is sent or issued twice, and an import run again ends as a
//! clean run does.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etupass::crypto::token;
use etupass::domain::clock::Clock;
use etupass::domain::grant::AuthorizationCode;
use etupass::domain::identity::StudentNumber;
use etupass::store::sessions::NewSession;

use crate::helpers::{etupass, ClientOptions, TestApp, REDIRECT_URI};
use crate::serve::Serve;

pub fn number(i: usize) -> String {
    format!("{}", 23_000_000 + i)
}

pub fn registrar_file(app: &TestApp, rows: usize) -> std::path::PathBuf {
    let path = app.dir.path().join("registrar.csv");
    let mut csv = String::from("numero;nom;prenoms;date_naissance;affiliation;email_perso\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{};Nom{i};Prénom{i};2004-05-17;student;p{i}@perso.example\n",
            number(i)
        ));
    }
    std::fs::write(&path, csv).unwrap();
    path
}

async fn exists(app: &TestApp, i: usize) -> bool {
    app.store
        .find_identity_by_number(&StudentNumber::parse(&number(i)).unwrap())
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn an_import_killed_midway_ends_as_a_clean_run_once_run_again() {
    const ROWS: usize = 50_000;
    let app = TestApp::spawn().await;
    let file = registrar_file(&app, ROWS);
    let mut import = Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(["identity", "import"])
        .arg(&file)
        .current_dir(app.dir.path())
        .env("ETUPASS_DATABASE_URL", app.settings.database_url.expose())
        .env("ETUPASS_KEYS_DIR", &app.settings.keys_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as its first rows are committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !exists(&app, 0).await {
        assert!(
            Instant::now() < deadline,
            "the import never committed a row"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    import.kill().unwrap();
    import.wait().unwrap();
    assert!(
        !exists(&app, ROWS - 1).await,
        "the import was interrupted before its last rows"
    );
    // Run again: it completes what is missing and changes nothing else.
    let again = etupass(&app, &["identity", "import", file.to_str().unwrap()], None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let report = String::from_utf8_lossy(&again.stdout);
    assert!(report.contains(" 0 updated"), "{report}");
    assert!(report.contains(" 0 rejected"), "{report}");
    // The state of a clean run: every row once, as written in the file.
    let directory = app.store.load_directory().await.unwrap();
    assert_eq!(directory.len(), ROWS);
    for i in [0, 1, 1999, 2000, 2001, 25_000, ROWS - 1] {
        let identity = app
            .store
            .find_identity_by_number(&StudentNumber::parse(&number(i)).unwrap())
            .await
            .unwrap()
            .expect("imported");
        assert_eq!(identity.family_name, format!("Nom{i}"));
        assert_eq!(
            identity.personal_email.as_deref(),
            Some(format!("p{i}@perso.example").as_str())
        );
    }
    let third = etupass(&app, &["identity", "import", file.to_str().unwrap()], None);
    let report = String::from_utf8_lossy(&third.stdout);
    assert!(
        report.contains(&format!("0 created, 0 updated, {ROWS} unchanged")),
        "{report}"
    );
}

/// Imports `people` students whose activation mails all come due at once.
pub fn import_with_mails_due_now(app: &TestApp, people: usize) {
    let file = registrar_file(app, people);
    let import = Command::new(env!("CARGO_BIN_EXE_etupass"))
        .args(["identity", "import"])
        .arg(&file)
        .current_dir(app.dir.path())
        .env("ETUPASS_DATABASE_URL", app.settings.database_url.expose())
        .env("ETUPASS_KEYS_DIR", &app.settings.keys_dir)
        .env("ETUPASS_ACTIVATION_DELAY", "0s")
        .output()
        .unwrap();
    assert!(import.status.success());
}

/// The `Message-ID` of a mail as received.
pub fn message_id(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .map(|id| id.trim().to_string())
}

#[tokio::test]
async fn mail_delivery_killed_midway_loses_nothing_and_sends_nothing_twice() {
    const PEOPLE: usize = 300;
    let app = TestApp::spawn().await;
    app.stop_server().await;
    // Activation mails come due at once for every imported student.
    import_with_mails_due_now(&app, PEOPLE);
    let fast = [
        ("ETUPASS_MAIL_POLL_INTERVAL", "10ms"),
        ("ETUPASS_MAIL_CLAIM_LEASE", "1s"),
    ];
    let serve = Serve::start(&app, &fast).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.mailbox.all().len() < PEOPLE / 5 {
        assert!(Instant::now() < deadline, "no mail arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill();
    let at_kill = app.mailbox.all().len();
    assert!(at_kill < PEOPLE, "killed while mails were still being sent");
    let _serve = Serve::start(&app, &fast).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mails = app.mailbox.all();
        let missing = (0..PEOPLE)
            .filter(|i| {
                !mails
                    .iter()
                    .any(|m| m.is_for(&format!("p{i}@perso.example")))
            })
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} students never got their activation mail"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once each: a second copy would be the same outbox row sent again (the relay
    // accepted it, then the kill came before it was marked sent): same Message-ID, the
    // same link, never a second mail of its own.
    let mails = app.mailbox.all();
    for i in 0..PEOPLE {
        let mine: Vec<_> = mails
            .iter()
            .filter(|m| m.is_for(&format!("p{i}@perso.example")))
            .collect();
        let ids: std::collections::HashSet<_> =
            mine.iter().filter_map(|m| message_id(&m.text)).collect();
        assert_eq!(ids.len(), 1, "student {i}: {} distinct mails", ids.len());
        let links: std::collections::HashSet<_> = mine
            .iter()
            .filter_map(|m| m.link_token("/activate"))
            .collect();
        assert_eq!(links.len(), 1, "student {i}: one link");
    }
    let resent = mails.len() - PEOPLE;
    assert!(resent <= 1, "{resent} mails delivered again after the kill");
}

#[tokio::test]
async fn a_burst_of_token_requests_killed_midway_issues_each_code_once() {
    const CODES: usize = 150;
    let app = TestApp::spawn().await;
    app.stop_server().await;
    let identity = app.add_identity("23100000").await;
    let client = app.add_client(ClientOptions::default()).await;
    // The real binary runs on the system clock.
    let real_now = etupass::domain::clock::SystemClock.now();
    let now = real_now;
    let session = app
        .store
        .create_session(
            NewSession {
                identity_id: identity.id.clone(),
                token_hash: token::digest("session"),
                acr: "urn:etupass:acr:password".into(),
                amr: vec!["pwd".into()],
                ip: None,
                user_agent: None,
                expires_at: now + 36_000,
            },
            now,
        )
        .await
        .unwrap();
    let mut codes = Vec::new();
    for i in 0..CODES {
        let code = format!("crash-code-{i}-{}", token::generate());
        app.store
            .save_authorization_code(AuthorizationCode {
                code_hash: token::digest(&code),
                client_id: client.client_id.clone(),
                identity_id: identity.id.clone(),
                session_id: session.id.clone(),
                redirect_uri: REDIRECT_URI.into(),
                scope: "openid".into(),
                nonce: None,
                code_challenge: None,
                auth_time: real_now,
                acr: "urn:etupass:acr:password".into(),
                amr: vec!["pwd".into()],
                created_at: real_now,
                expires_at: real_now + 600,
                claims: None,
            })
            .await
            .unwrap();
        codes.push(code);
    }
    let redeem = |base: String, code: String| {
        let client = client.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/token"))
                .basic_auth(&client.client_id, client.client_secret.as_deref())
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT_URI),
                ])
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }
    };
    // Each code twice, sixteen requests at a time, until the kill.
    let serve = Serve::start(&app, &[]).await;
    let mut issued = vec![0u32; CODES];
    let attempts: Vec<usize> = (0..CODES).flat_map(|i| [i, i]).collect();
    let mut done = 0;
    for batch in attempts.chunks(16) {
        let answers = futures_util::future::join_all(
            batch
                .iter()
                .map(|&i| redeem(serve.base.clone(), codes[i].clone())),
        )
        .await;
        for (&i, answer) in batch.iter().zip(answers) {
            if answer == Some(200) {
                issued[i] += 1;
            }
        }
        done += batch.len();
        if done >= attempts.len() / 3 {
            break;
        }
    }
    // The kill lands while a batch is in flight.
    let in_flight = futures_util::future::join_all(
        attempts[done..done + 32]
            .iter()
            .map(|&i| redeem(serve.base.clone(), codes[i].clone())),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(3)).await;
        serve.kill();
    };
    let (answers, ()) = tokio::join!(in_flight, killer);
    for (&i, answer) in attempts[done..done + 32].iter().zip(answers) {
        if answer == Some(200) {
            issued[i] += 1;
        }
    }
    // After the restart every code is tried again.
    let serve = Serve::start(&app, &[]).await;
    for (i, code) in codes.iter().enumerate() {
        let answer = redeem(serve.base.clone(), code.clone()).await;
        assert!(matches!(answer, Some(200) | Some(400)), "{answer:?}");
        if answer == Some(200) {
            issued[i] += 1;
        }
    }
    for (i, count) in issued.iter().enumerate() {
        assert!(*count <= 1, "code {i} gave tokens {count} times");
    }
    assert!(
        issued.iter().filter(|c| **c == 1).count() >= CODES / 2,
        "the codes not tried before the kill are redeemed after it"
    );
}
