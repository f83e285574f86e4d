//! Parents: a student invites a parent by e-mail; the invitation creates the parent's
//! account, which signs in with that address; both personal spaces show the link; a
//! relying party learns of it (`followed_students`, scope `family`) only while the
//! student agrees; the student ends it.

use serde_json::Value;

use crate::helpers::{ClientOptions, TestApp, PASSWORD};
use crate::rp::{self, form_field, Browser};

const STUDENT: &str = "21900700";
const PARENT: &str = "claire.martin@famille.example";
const STRONG: &str = "Seven violet lanterns drift over the quiet harbour";

/// The hidden `id` of the first form posting to `action`.
fn form_id(html: &str, action: &str) -> String {
    let form = &html[html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action}"))..];
    form_field(form, "id").unwrap()
}

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_student_invites_a_parent_who_follows_them_until_the_student_ends_it() {
    let app = TestApp::spawn().await;
    let student = app.add_identity(STUDENT).await;
    // The e-learning platform is open to parents; the webmail is not.
    let client = app
        .add_client(ClientOptions {
            open_to_parents: true,
            ..ClientOptions::default()
        })
        .await;
    let webmail = app.add_client(ClientOptions::default()).await;
    let browser = Browser::new();
    let page = browser.open(&app.url("/account")).await;
    browser.sign_in(&app, &page, STUDENT, PASSWORD).await;
    let page = browser.open(&app.url("/account")).await;

    // Refusals first: the student's own address, a malformed one.
    let own = format!("{STUDENT}@personal.example");
    for (typed, message) in [
        (own.as_str(), "vos propres adresses"),
        ("not an address", "pas valide"),
        ("scolarite@univ.example", "adresse de l"),
    ] {
        let (status, html) = browser
            .submit(&app, &page, "/account/parents", &[("email", typed)])
            .await
            .page();
        assert_eq!(status, 400);
        assert!(html.contains(message), "{html}");
        assert!(html.contains("aria-describedby=\"parent-errors\""));
    }
    let (status, html) = browser
        .submit(&app, &page, "/account/parents", &[("email", PARENT)])
        .await
        .page();
    assert_eq!(status, 200);
    assert!(html.contains("invitation a été envoyée"));
    let (status, _) = browser
        .submit(&app, &html, "/account/parents", &[("email", PARENT)])
        .await
        .page();
    assert_eq!(status, 400, "invited once");

    // The parent's mail, and the page it leads to.
    let mail = app.mailbox.wait_for(PARENT, "/parents/accept?token=").await;
    assert!(mail.text.contains("Élodie Dupont"));
    let token = mail.link_token("/parents/accept").unwrap();
    let parent = Browser::new();
    let url = app.url(&format!("/parents/accept?token={token}"));
    let invitation = parent.open(&url).await;
    assert!(invitation.contains("Élodie Dupont") && invitation.contains(PARENT));
    let mut form = vec![
        ("token", token.as_str()),
        ("given_names", "Claire"),
        ("family_name", "Martin"),
        ("birth_date", "1975-03-02"),
        ("password", "short"),
        ("confirmation", "short"),
    ];
    let (status, again) = parent
        .submit(&app, &invitation, "/parents/accept", &form)
        .await
        .page();
    assert_eq!(status, 400, "the password policy applies");
    assert!(again.contains("trop court"));
    form.truncate(4);
    form.extend([("password", STRONG), ("confirmation", STRONG)]);
    let (status, done) = parent
        .submit(&app, &again, "/parents/accept", &form)
        .await
        .page();
    assert_eq!(status, 200, "{done}");
    let (status, _) = Browser::new().get(&url).await.page();
    assert_eq!(status, 410, "the invitation works once");
    // The student hears of it.
    app.mailbox
        .wait_for("21900700@personal.example", PARENT)
        .await;

    // The parent signs in with the address and sees the student; invites nobody.
    let page = parent.open(&app.url("/account")).await;
    let landing = parent.sign_in(&app, &page, PARENT, STRONG).await;
    assert_eq!(landing.redirect().location.path(), "/account");
    let space = parent.open(&app.url("/account")).await;
    assert!(space.contains("Étudiants que vous suivez") && space.contains("Élodie Dupont"));
    assert!(space.contains("parent"), "affiliation parent");
    assert!(!space.contains("action=\"/account/parents\""));
    assert!(
        !space.contains("action=\"/account/app-passwords\""),
        "no app passwords"
    );
    let mine = browser.open(&app.url("/account")).await;
    assert!(mine.contains(PARENT) && mine.contains("lié depuis"));

    // A relying party not opened to parents turns the parent away.
    let closed = rp::oidc_client(&app, &webmail).await;
    let auth = rp::authorization(&closed, &["profile"], true);
    let redirect = parent.authorize(&app, &auth.url, PARENT, STRONG).await;
    assert_eq!(redirect.param("error").as_deref(), Some("access_denied"));

    // A relying party asks for `family`: nothing until the student agrees.
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["family"], true);
    let redirect = parent.authorize(&app, &auth.url, PARENT, STRONG).await;
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    let token = rp::access_token(&signed_in.tokens).secret().clone();
    assert_eq!(
        userinfo(&app, &token).await["followed_students"],
        serde_json::json!([])
    );
    let link = form_id(&mine, "/account/parents/share");
    browser
        .submit(
            &app,
            &mine,
            "/account/parents/share",
            &[("id", &link), ("shared", "yes")],
        )
        .await
        .redirect();
    let claims = userinfo(&app, &token).await;
    assert_eq!(claims["followed_students"][0]["sub"], student.subject);
    assert_eq!(claims["followed_students"][0]["name"], "Élodie Dupont");
    assert_eq!(claims["followed_students"].as_array().unwrap().len(), 1);

    // The student ends it: gone everywhere.
    let mine = browser.open(&app.url("/account")).await;
    browser
        .submit(&app, &mine, "/account/parents/revoke", &[("id", &link)])
        .await
        .redirect();
    assert_eq!(
        userinfo(&app, &token).await["followed_students"],
        serde_json::json!([])
    );
    let space = parent.open(&app.url("/account")).await;
    assert!(!space.contains("Élodie Dupont"));

    // A brother invites the same parent: the existing account accepts with its password.
    app.add_identity_with("21900701", "Dupont", "Hugo", Some(PASSWORD))
        .await;
    let brother = Browser::new();
    let page = brother.open(&app.url("/account")).await;
    brother.sign_in(&app, &page, "21900701", PASSWORD).await;
    let page = brother.open(&app.url("/account")).await;
    let mark = app.mailbox.mark();
    brother
        .submit(&app, &page, "/account/parents", &[("email", PARENT)])
        .await
        .page();
    let mail = app
        .mailbox
        .wait_for_new(mark, PARENT, "/parents/accept?token=")
        .await;
    let token = mail.link_token("/parents/accept").unwrap();
    let invitation = parent
        .open(&app.url(&format!("/parents/accept?token={token}")))
        .await;
    assert!(invitation.contains("Hugo Dupont") && !invitation.contains("name=\"family_name\""));
    let (status, again) = parent
        .submit(
            &app,
            &invitation,
            "/parents/accept",
            &[("token", &token), ("password", "not the password")],
        )
        .await
        .page();
    assert_eq!(status, 400);
    let (status, _) = parent
        .submit(
            &app,
            &again,
            "/parents/accept",
            &[("token", &token), ("password", STRONG)],
        )
        .await
        .page();
    assert_eq!(status, 200);
    let space = parent.open(&app.url("/account")).await;
    assert!(space.contains("Hugo Dupont") && !space.contains("Élodie Dupont"));
}

/// Signs in if needed and invites `PARENT`; the answer's status.
async fn invite_parent(app: &TestApp, browser: &Browser) -> u16 {
    let mut page = browser.open(&app.url("/account")).await;
    if page.contains("action=\"/login\"") {
        browser.sign_in(app, &page, STUDENT, PASSWORD).await;
        page = browser.open(&app.url("/account")).await;
    }
    browser
        .submit(app, &page, "/account/parents", &[("email", PARENT)])
        .await
        .page()
        .0
}

#[tokio::test]
async fn an_expired_invitation_no_longer_holds_its_place() {
    let app = TestApp::spawn().await;
    app.add_identity(STUDENT).await;
    let browser = Browser::new();
    assert_eq!(invite_parent(&app, &browser).await, 200);
    assert_eq!(invite_parent(&app, &browser).await, 400, "invited already");
    app.clock.advance(8 * 24 * 3600);
    assert_eq!(
        invite_parent(&app, &browser).await,
        200,
        "the old invitation expired: a new one may go"
    );
    let page = browser.open(&app.url("/account")).await;
    assert_eq!(
        page.matches(&format!("<strong>{PARENT}</strong>")).count(),
        1,
        "listed once"
    );
}
