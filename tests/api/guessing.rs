//! Password guessing from outside: the time a failure takes must not tell whether the
//! account exists, a stranger must not lock the owner out, and a burst must not stall
//! everyone else.

use crate::helpers::{etupass, TestApp, PASSWORD};
use crate::rp::{form_field, Browser, Landing};

/// Posts the bare sign-in form (`/login`, no relying party) once; the status answered.
pub async fn post_sign_in(app: &TestApp, browser: &Browser, username: &str, password: &str) -> u16 {
    let (_, page) = browser.get(&app.url("/login")).await.page();
    match browser.sign_in(app, &page, username, password).await {
        Landing::Page(status, _) => status,
        Landing::Redirect(_) => 303,
    }
}

#[tokio::test]
async fn every_failed_sign_in_costs_one_argon2_verification_whatever_the_account() {
    let app = TestApp::spawn().await;
    app.add_identity("21901000").await;
    app.add_identity_with("21901001", "Martin", "Paul", None)
        .await; // awaiting activation: no password yet
    app.add_identity("21901002").await;
    assert!(etupass(&app, &["identity", "lock", "21901002"], None)
        .status
        .success());
    app.add_identity("21901003").await;
    assert!(etupass(&app, &["identity", "graduate", "21901003"], None)
        .status
        .success());
    app.add_identity_affiliated("21901004", "parent").await;
    let browser = Browser::new();
    for (name, password) in [
        ("21901000", "a wrong password here"),
        ("21999999", "a wrong password here"),
        ("nobody@univ.example", "a wrong password here"),
        ("21901001", "a wrong password here"),
        ("21901002", "a wrong password here"),
        ("21901002", PASSWORD),
        ("21901003", "a wrong password here"),
        ("21901004", "a wrong password here"),
    ] {
        let before = app.server.passwords.verifications();
        let status = post_sign_in(&app, &browser, name, password).await;
        assert!(
            matches!(status, 401 | 403),
            "{name}: a failed sign-in, not {status}"
        );
        assert_eq!(
            app.server.passwords.verifications(),
            before + 1,
            "{name}: exactly one argon2id verification"
        );
    }
    // The right password costs one too (and signs in).
    let before = app.server.passwords.verifications();
    assert_eq!(
        post_sign_in(&app, &browser, "21901000", PASSWORD).await,
        303
    );
    assert_eq!(app.server.passwords.verifications(), before + 1);
    // The sign-in page answers the same for an unknown name and a wrong password.
    let unknown = Browser::new();
    let (_, page) = unknown.get(&app.url("/login")).await.page();
    let (status_unknown, html_unknown) = unknown
        .sign_in(&app, &page, "21999998", "a wrong password here")
        .await
        .page();
    let (_, page) = unknown.get(&app.url("/login")).await.page();
    let (status_wrong, html_wrong) = unknown
        .sign_in(&app, &page, "21901000", "a wrong password here")
        .await
        .page();
    assert_eq!(status_unknown, status_wrong);
    assert_eq!(
        strip_tokens(&html_unknown).replace("21999998", "N"),
        strip_tokens(&html_wrong).replace("21901000", "N")
    );
}

/// The page without its per-response CSRF token.
fn strip_tokens(html: &str) -> String {
    match form_field(html, "csrf_token") {
        Some(token) => html.replace(&token, ""),
        None => html.to_string(),
    }
}

#[tokio::test]
async fn a_stranger_guessing_does_not_keep_the_owner_out_of_a_known_browser() {
    let app = TestApp::spawn().await;
    app.add_identity("21901010").await;
    let owner = Browser::from_address("127.0.0.51");
    assert_eq!(post_sign_in(&app, &owner, "21901010", PASSWORD).await, 303);

    // A stranger elsewhere guesses until the account is blocked for unknown browsers.
    let stranger = Browser::from_address("127.0.0.50");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post_sign_in(&app, &stranger, "21901010", "guess guess guess").await);
    }
    assert!(statuses[..4].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");

    // The owner's known browser still signs in, every time.
    for _ in 0..3 {
        assert_eq!(
            post_sign_in(&app, &owner, "21901010", PASSWORD).await,
            303,
            "the owner's known browser is not locked out"
        );
    }
    // A browser the owner never used faces the account's limit.
    let new_laptop = Browser::from_address("127.0.0.52");
    assert_eq!(
        post_sign_in(&app, &new_laptop, "21901010", PASSWORD).await,
        429
    );
    // The stranger keeps going, waiting out each delay: past twice the free attempts,
    // the owner is told, with the way to report identity theft.
    for _ in 0..6 {
        app.clock.advance(15 * 60);
        assert_eq!(
            post_sign_in(&app, &stranger, "21901010", "guess guess guess").await,
            401
        );
    }
    let mail = app
        .mailbox
        .wait_for("21901010@personal.example", "/theft")
        .await;
    assert!(mail.text.contains("deviner"), "{}", mail.text);
}

#[tokio::test]
async fn the_number_and_the_institutional_address_share_one_counter() {
    let app = TestApp::spawn().await;
    let identity = app.add_identity("21901011").await;
    let address = identity
        .institutional_email
        .clone()
        .expect("an institutional address");
    let mut statuses = Vec::new();
    for round in 0..3 {
        for name in ["21901011", address.as_str()] {
            // Each from its own address: only the account's counter can add them up.
            let browser =
                Browser::from_address(&format!("127.0.2.{}", round * 2 + 1 + name.len() % 2));
            statuses.push(post_sign_in(&app, &browser, name, "guess guess guess").await);
        }
    }
    assert_eq!(statuses[..4], [401, 401, 401, 401], "{statuses:?}");
    assert_eq!(
        statuses[5], 429,
        "the sixth guess, whichever alias, finds the account blocked: {statuses:?}"
    );
}

#[tokio::test]
async fn a_known_browser_has_a_limit_of_its_own() {
    let app = TestApp::spawn().await;
    app.add_identity("21901012").await;
    let owner = Browser::from_address("127.0.0.53");
    assert_eq!(post_sign_in(&app, &owner, "21901012", PASSWORD).await, 303);
    // A stolen device cookie gives no endless guesses: its own counter blocks it.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(post_sign_in(&app, &owner, "21901012", "guess guess guess").await);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Those failures were not the account's: an unknown browser is not blocked by them.
    let other = Browser::from_address("127.0.0.54");
    assert_eq!(post_sign_in(&app, &other, "21901012", PASSWORD).await, 303);
}

#[tokio::test]
async fn too_many_failures_in_a_row_lock_the_account_for_unknown_browsers() {
    let app = TestApp::builder()
        .with_config(|s| s.throttle_account_lockout_after = 12)
        .spawn()
        .await;
    app.add_identity("21901013").await;
    let owner = Browser::from_address("127.0.0.55");
    assert_eq!(post_sign_in(&app, &owner, "21901013", PASSWORD).await, 303);
    let mut failures = 0;
    for round in 0..40 {
        // Each guess from a fresh address, once the last delay has passed.
        let stranger = Browser::from_address(&format!("127.0.3.{}", round + 1));
        app.clock.advance(15 * 60);
        if post_sign_in(&app, &stranger, "21901013", "guess guess guess").await == 401 {
            failures += 1;
        }
        if failures == 12 {
            break;
        }
    }
    assert_eq!(failures, 12);
    // Locked now for a day, even past the longest delay, even with the right password.
    app.clock.advance(2 * 15 * 60);
    let new_laptop = Browser::from_address("127.0.0.56");
    assert_eq!(
        post_sign_in(&app, &new_laptop, "21901013", PASSWORD).await,
        429
    );
    assert_eq!(post_sign_in(&app, &owner, "21901013", PASSWORD).await, 303);
    app.clock.advance(24 * 3600);
    assert_eq!(
        post_sign_in(&app, &new_laptop, "21901013", PASSWORD).await,
        303,
        "the lockout ends"
    );
}

#[tokio::test]
async fn a_burst_from_one_address_is_refused_before_it_is_hashed() {
    let app = TestApp::spawn().await;
    app.add_identity("21901014").await;
    let before = app.server.passwords.verifications();
    let attempts = (0..80).map(|n| {
        let app = &app;
        async move {
            let browser = Browser::from_address("127.0.0.60");
            let response = browser
                .sign_in_response(app, &format!("2199{n:04}"), "guess guess guess", None)
                .await;
            let retry_after = response.headers().get("retry-after").is_some();
            (response.status().as_u16(), retry_after)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(
        answers.iter().all(|(s, _)| *s == 401 || *s == 429),
        "{answers:?}"
    );
    assert!(
        answers.iter().filter(|(s, _)| *s == 429).all(|(_, r)| *r),
        "every refusal says when to come back"
    );
    let hashed = app.server.passwords.verifications() - before;
    assert!(
        hashed <= 50,
        "at most the address's free attempts are hashed, not {hashed}"
    );
    assert_eq!(hashed as usize + refused, 80);
    // Someone else, elsewhere, signs in meanwhile.
    let student = Browser::from_address("127.0.0.61");
    assert_eq!(
        post_sign_in(&app, &student, "21901014", PASSWORD).await,
        303
    );
    // And a success gives its attempt back: the address is not charged for it.
    let again = Browser::from_address("127.0.0.61");
    for _ in 0..3 {
        assert_eq!(post_sign_in(&app, &again, "21901014", PASSWORD).await, 303);
    }
}

#[tokio::test]
async fn a_full_hashing_queue_answers_at_once_with_retry_after() {
    // A costlier hash and a queue of one: a storm from many addresses overflows it.
    let app = TestApp::builder()
        .with_config(|s| {
            s.argon2_memory_kib = 4096;
            s.argon2_iterations = 2;
            s.password_hash_concurrency = 1;
            s.password_hash_queue = 1;
        })
        .spawn()
        .await;
    let attempts = (0..24).map(|n| {
        let app = &app;
        async move {
            let browser = Browser::from_address(&format!("127.0.4.{}", n + 1));
            let response = browser
                .sign_in_response(app, "21999999", "guess guess guess", None)
                .await;
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").is_some();
            (status, retry_after)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    // Whatever the interleaving: a wrong password, the unknown name's own delay, or
    // "busy, try again" with Retry-After; never a 500, never an endless wait.
    for (status, retry_after) in &answers {
        assert!(matches!(status, 401 | 429 | 503), "{answers:?}");
        if *status == 503 {
            assert!(retry_after);
        }
    }
}

/// A wrong sign-in posted through a reverse proxy that says who the client is.
async fn wrong_sign_in_forwarded(app: &TestApp, browser: &Browser, forwarded_for: &str) -> u16 {
    let (_, page) = browser.get(&app.url("/login")).await.page();
    let csrf = form_field(&page, "csrf_token").unwrap();
    browser
        .http
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", ""),
            (
                "username",
                &format!("2198{}", uuid::Uuid::new_v4().as_u128() % 10_000),
            ),
            ("password", "guess guess guess"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_by_its_own_address() {
    let app = TestApp::builder()
        .with_config(|s| {
            s.throttle_ip_free_attempts = 3;
            s.trusted_proxies = vec!["127.0.0.70/32".parse().unwrap()];
        })
        .spawn()
        .await;
    let proxy = Browser::from_address("127.0.0.70");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        // The left entry is the client's own claim; the proxy appended the real address.
        statuses.push(wrong_sign_in_forwarded(&app, &proxy, "192.0.2.1, 198.51.100.9").await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "that client is slowed down");
    assert_eq!(
        wrong_sign_in_forwarded(&app, &proxy, "198.51.100.10").await,
        401,
        "another client behind the same proxy is not"
    );
    // From anyone else the header is ignored: a forger is counted by its own address.
    let forger = Browser::from_address("127.0.0.71");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(wrong_sign_in_forwarded(&app, &forger, "198.51.100.11").await);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    assert_eq!(
        wrong_sign_in_forwarded(&app, &proxy, "198.51.100.11").await,
        401,
        "the forged address was never charged"
    );
}

#[tokio::test]
async fn an_administrator_lifts_a_lockout_at_once() {
    let app = TestApp::builder()
        .with_config(|s| s.throttle_account_lockout_after = 6)
        .spawn()
        .await;
    app.add_identity("21901015").await;
    for round in 0..6 {
        let stranger = Browser::from_address(&format!("127.0.5.{}", round + 1));
        app.clock.advance(15 * 60);
        assert_eq!(
            post_sign_in(&app, &stranger, "21901015", "guess guess guess").await,
            401
        );
    }
    let laptop = Browser::from_address("127.0.0.57");
    assert_eq!(post_sign_in(&app, &laptop, "21901015", PASSWORD).await, 429);
    assert!(etupass(&app, &["identity", "unlock", "21901015"], None)
        .status
        .success());
    assert_eq!(post_sign_in(&app, &laptop, "21901015", PASSWORD).await, 303);
}

#[tokio::test]
async fn the_owners_known_browser_gets_in_from_an_address_strangers_have_blocked() {
    let app = TestApp::builder()
        .with_config(|s| s.throttle_ip_free_attempts = 3)
        .spawn()
        .await;
    app.add_identity("21901016").await;
    // The owner and a stranger behind one campus NAT.
    let owner = Browser::from_address("127.0.0.80");
    assert_eq!(post_sign_in(&app, &owner, "21901016", PASSWORD).await, 303);
    let stranger = Browser::from_address("127.0.0.80");
    for n in 0..6 {
        post_sign_in(&app, &stranger, &format!("2199{n:04}"), "guess guess guess").await;
    }
    assert_eq!(
        post_sign_in(&app, &stranger, "21901016", PASSWORD).await,
        429,
        "the address is blocked"
    );
    assert_eq!(
        post_sign_in(&app, &owner, "21901016", PASSWORD).await,
        303,
        "but not for the owner's known browser"
    );
}

#[tokio::test]
async fn the_current_password_forms_count_on_the_sign_in_counters() {
    let app = TestApp::spawn().await;
    app.add_identity("21901017").await;
    let browser = Browser::new();
    assert_eq!(
        post_sign_in(&app, &browser, "21901017", PASSWORD).await,
        303
    );
    // A session left open: guesses at the current password in the personal space…
    let page = browser.open(&app.url("/account")).await;
    for _ in 0..5 {
        browser
            .submit(
                &app,
                &page,
                "/account/password",
                &[
                    ("current_password", "guess guess guess"),
                    (
                        "password",
                        "Seven violet lanterns drift over the quiet harbour",
                    ),
                    (
                        "confirmation",
                        "Seven violet lanterns drift over the quiet harbour",
                    ),
                ],
            )
            .await;
    }
    // …count on the account like sign-in failures: no extra guesses there.
    let (status, html) = browser
        .submit(
            &app,
            &page,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                (
                    "password",
                    "Seven violet lanterns drift over the quiet harbour",
                ),
                (
                    "confirmation",
                    "Seven violet lanterns drift over the quiet harbour",
                ),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(html.contains("Trop de tentatives"), "{html}");
    let elsewhere = Browser::from_address("127.0.0.81");
    assert_eq!(
        post_sign_in(&app, &elsewhere, "21901017", PASSWORD).await,
        429,
        "the same account counter"
    );
}

#[tokio::test]
async fn a_burst_of_reset_requests_sends_no_more_mails_than_the_free_ones() {
    let app = TestApp::spawn().await;
    app.add_identity("21901018").await;
    let requests = (0..20).map(|n| {
        let app = &app;
        async move {
            let browser = Browser::from_address(&format!("127.0.6.{}", n + 1));
            let form = browser.open(&app.url("/password/forgot")).await;
            browser
                .submit(app, &form, "/password/forgot", &[("username", "21901018")])
                .await
                .page()
                .0
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    app.server.background.idle().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = app.mailbox.count_for("21901018@personal.example");
    assert!(
        (1..=5).contains(&mails),
        "{mails} mails for 20 parallel requests: at most the free ones"
    );
}

/// The throttle counters on the database itself: an attempt within the free ones is one
/// statement (`take_free`), the one that starts a delay takes the key in a transaction
/// (`take_one`); both must count the same, block the same, and forget the same.
#[tokio::test]
async fn an_attempt_counts_the_same_within_the_free_ones_and_past_them() {
    use etupass::store::throttles::{AttemptTaken, ThrottleRule};
    let app = TestApp::spawn().await;
    let rule = ThrottleRule::delays(3, 10, 60);
    let take = |keys: &[&str], now: i64| {
        let keys = keys.iter().map(|k| (k.to_string(), rule)).collect();
        let store = app.store.clone();
        async move { store.take_throttled_attempt(keys, now).await.unwrap() }
    };
    let t = 1_000_000;
    assert_eq!(
        take(&["a"], t).await,
        AttemptTaken::Counted(vec![1]),
        "a new key"
    );
    assert_eq!(take(&["a"], t).await, AttemptTaken::Counted(vec![2]));
    assert_eq!(
        take(&["a"], t).await,
        AttemptTaken::Counted(vec![3]),
        "the third starts a delay of 10 s"
    );
    assert_eq!(take(&["a"], t + 5).await, AttemptTaken::Blocked(t + 10));
    assert_eq!(take(&["a"], t + 10).await, AttemptTaken::Counted(vec![4]));
    assert_eq!(
        take(&["a"], t + 11).await,
        AttemptTaken::Blocked(t + 30),
        "then 20 s"
    );
    assert_eq!(
        take(&["a"], t + 10 + 121).await,
        AttemptTaken::Counted(vec![1]),
        "left alone twice the longest delay, the count starts again"
    );

    // A blocked key refuses the attempt on every key, and the ones before it keep their
    // count: "b" was at 1 before the refused attempt, and counts 2 after it.
    assert_eq!(take(&["b"], t).await, AttemptTaken::Counted(vec![1]));
    for _ in 0..3 {
        take(&["c"], t).await;
    }
    assert_eq!(
        take(&["b", "c"], t + 1).await,
        AttemptTaken::Blocked(t + 10)
    );
    assert_eq!(take(&["b"], t + 1).await, AttemptTaken::Counted(vec![2]));

    // A rule with no free attempt delays from the first one, on a new key too.
    let strict = ThrottleRule::delays(0, 10, 60);
    let first = app
        .store
        .take_throttled_attempt(vec![("d".to_string(), strict)], t)
        .await
        .unwrap();
    assert_eq!(first, AttemptTaken::Counted(vec![1]));
    let second = app
        .store
        .take_throttled_attempt(vec![("d".to_string(), strict)], t + 1)
        .await
        .unwrap();
    assert_eq!(second, AttemptTaken::Blocked(t + 20));
}

/// A burst on one key at the moment its free attempts run out: exactly the free ones are
/// counted, whichever path each attempt takes, and every other one finds the key blocked
/// (on PostgreSQL the upsert and the delaying update wait for each other's row lock).
/// A lockout that comes before the doubling delays starts where the rule says.
#[tokio::test]
async fn a_burst_at_the_last_free_attempt_passes_no_more_than_the_free_ones() {
    use etupass::store::throttles::{AttemptTaken, ThrottleRule};
    let app = TestApp::spawn().await;
    let t = 2_000_000;
    let rule = ThrottleRule::delays(3, 10, 60);
    let attempts = (0..12).map(|_| {
        let store = app.store.clone();
        async move {
            store
                .take_throttled_attempt(vec![("burst".to_string(), rule)], t)
                .await
                .unwrap()
        }
    });
    let mut outcomes = futures_util::future::join_all(attempts).await;
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    let mut expected = vec![AttemptTaken::Blocked(t + 10); 9];
    expected.extend((1..=3).map(|n| AttemptTaken::Counted(vec![n])));
    expected.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(outcomes, expected);

    let lockout_first = ThrottleRule {
        lockout_after: Some(2),
        lockout: 600,
        ..ThrottleRule::delays(5, 1, 60)
    };
    let take = || {
        app.store
            .take_throttled_attempt(vec![("lockout".to_string(), lockout_first)], t)
    };
    assert_eq!(take().await.unwrap(), AttemptTaken::Counted(vec![1]));
    assert_eq!(take().await.unwrap(), AttemptTaken::Counted(vec![2]));
    assert_eq!(take().await.unwrap(), AttemptTaken::Blocked(t + 600));
}
