//! What the server writes to disk is readable by its owner only: the SQLite database and
//! its `-wal`/`-shm` files (password hashes, personal data), mails kept as files (live
//! links), and the keys.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::helpers::TestApp;
use crate::rp::Browser;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_database_mails_and_keys_are_private_to_the_server() {
    let app = TestApp::builder()
        .with_config(|s| s.smtp_url = None)
        .spawn()
        .await;
    app.add_identity("21901200").await;
    // A reset link, written as a file since no SMTP relay is configured.
    let browser = Browser::new();
    let form = browser.open(&app.url("/password/forgot")).await;
    browser
        .submit(&app, &form, "/password/forgot", &[("username", "21901200")])
        .await;
    let mail_dir = app.settings.mail_dir.clone();
    let mut eml = None;
    for _ in 0..200 {
        eml = std::fs::read_dir(&mail_dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if eml.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let eml = eml.expect("the mail was written");
    assert_eq!(mode(&mail_dir), 0o700, "the mail directory");
    assert_eq!(mode(&eml), 0o600, "a mail with a live link");
    assert_eq!(mode(&app.settings.keys_dir), 0o700, "the keys directory");
    let kek = app.settings.keys_dir.join("key-encryption.key");
    assert_eq!(mode(&kek), 0o600, "the key-encryption key");
    for key in std::fs::read_dir(&app.settings.keys_dir).unwrap() {
        let key = key.unwrap().path();
        if key.extension().is_some_and(|x| x == "pem" || x == "key") {
            assert_eq!(mode(&key), 0o600, "{}", key.display());
        }
    }
    if std::env::var("TEST_DATABASE_URL").is_err() {
        let db = app.dir.path().join("etupass.db");
        assert_eq!(mode(&db), 0o600, "the SQLite database");
        for side in ["etupass.db-wal", "etupass.db-shm"] {
            let path = app.dir.path().join(side);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{side}");
            }
        }
    }
}
