//! CAS 3.0 from a service's side: a browser goes through `/cas/login` and comes back with
//! a ticket, which the service validates over the back channel (XML, JSON, CAS 1.0).
//! Replayed, expired and misdirected tickets, unregistered services, gateway and renew,
//! the gates and restrictions of the sign-in, proxy tickets and single logout.

use std::sync::{Arc, Mutex};

use etupass::domain::cas::NewCasService;
use etupass::domain::clock::Clock;

use crate::helpers::{etupass, http_recorder, TestApp, PASSWORD};
use crate::rp::{form_field, Browser, Landing};

const NUMBER: &str = "21900700";
const PORTAL: &str = "https://ent.univ.example/portal/";

async fn add_service(
    app: &TestApp,
    name: &str,
    pattern: &str,
    change: impl FnOnce(&mut NewCasService),
) {
    let mut new = NewCasService {
        name: name.into(),
        url_pattern: pattern.into(),
        attributes: [
            "uid",
            "displayName",
            "eduPersonAffiliation",
            "eduPersonPrincipalName",
            "supannEtuId",
            "memberOf",
        ]
        .map(String::from)
        .to_vec(),
        proxy_allowed: false,
        logout_url: None,
        open_to_alumni: false,
        open_to_parents: false,
    };
    change(&mut new);
    new.validate().expect("a valid service");
    app.store
        .add_cas_service(new, app.clock.now())
        .await
        .expect("service registered");
}

fn login_url(app: &TestApp, service: &str, extra: &str) -> String {
    let service: String = url::form_urlencoded::byte_serialize(service.as_bytes()).collect();
    app.url(&format!("/cas/login?service={service}{extra}"))
}

/// Through `/cas/login`, signing in when asked: where the browser is sent back to.
async fn ticket_for(app: &TestApp, browser: &Browser, service: &str, extra: &str) -> String {
    let mut landing = browser.get(&login_url(app, service, extra)).await;
    if let Landing::Page(200, page) = &landing {
        landing = browser.sign_in(app, page, NUMBER, PASSWORD).await;
    }
    let back = landing.redirect();
    assert!(
        back.location.as_str().starts_with(service),
        "back at the service: {}",
        back.location
    );
    back.param("ticket").expect("a ticket")
}

async fn validate(
    app: &TestApp,
    path: &str,
    service: &str,
    ticket: &str,
    extra: &str,
) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(app.url(path))
        .query(&[("service", service), ("ticket", ticket)])
        .query(&url::form_urlencoded::parse(extra.as_bytes()).collect::<Vec<_>>())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn failure_code(xml: &str) -> Option<&str> {
    let start = xml.find("code=\"")? + 6;
    Some(&xml[start..start + xml[start..].find('"')?])
}

#[tokio::test]
async fn a_student_signs_in_through_cas_and_the_service_reads_the_number_and_attributes() {
    let app = TestApp::spawn().await;
    let identity = app.add_identity(NUMBER).await;
    // Registered with the command line, as an administrator does.
    let output = etupass(
        &app,
        &[
            "cas",
            "service",
            "add",
            "--name",
            "ENT",
            "--url-pattern",
            "https://ent.univ.example/",
            "--attribute",
            "uid",
            "--attribute",
            "displayName",
            "--attribute",
            "eduPersonAffiliation",
            "--attribute",
            "eduPersonPrincipalName",
            "--attribute",
            "supannEtuId",
            "--attribute",
            "supannEmpId",
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let browser = Browser::new();

    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    assert!(
        ticket.starts_with("ST-") && ticket.len() >= 3 + 32,
        "{ticket}"
    );
    let (status, xml) = validate(&app, "/cas/p3/serviceValidate", PORTAL, &ticket, "").await;
    assert_eq!(status, 200);
    assert!(xml.contains("<cas:authenticationSuccess>"), "{xml}");
    assert!(
        xml.contains(&format!("<cas:user>{NUMBER}</cas:user>")),
        "{xml}"
    );
    assert!(
        xml.contains("<cas:displayName>Élodie Dupont</cas:displayName>"),
        "{xml}"
    );
    assert!(xml.contains("<cas:eduPersonAffiliation>student</cas:eduPersonAffiliation>"));
    assert!(xml.contains("<cas:eduPersonAffiliation>member</cas:eduPersonAffiliation>"));
    assert!(xml.contains(&format!(
        "<cas:eduPersonPrincipalName>{NUMBER}@univ.example<"
    )));
    assert!(xml.contains(&format!("<cas:supannEtuId>{NUMBER}</cas:supannEtuId>")));
    assert!(
        !xml.contains("supannEmpId"),
        "a student has no employee number: {xml}"
    );
    assert!(xml.contains("<cas:isFromNewLogin>true</cas:isFromNewLogin>"));

    // Single sign-on: the next ticket comes without the password, validated as JSON.
    let again = browser.get(&login_url(&app, PORTAL, "")).await.redirect();
    let ticket = again.param("ticket").expect("a ticket at once");
    let (_, json) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "format=JSON").await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let success = &json["serviceResponse"]["authenticationSuccess"];
    assert_eq!(success["user"], NUMBER, "{json}");
    assert_eq!(success["attributes"]["uid"], serde_json::json!([NUMBER]));
    assert_eq!(
        success["attributes"]["isFromNewLogin"],
        serde_json::json!([false])
    );

    // CAS 1.0.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, text) = validate(&app, "/cas/validate", PORTAL, &ticket, "").await;
    assert_eq!(text, format!("yes\n{NUMBER}\n"));
    let (_, text) = validate(&app, "/cas/validate", PORTAL, &ticket, "").await;
    assert_eq!(text, "no\n\n");

    // Each validation is in the person's audit trail, with what was released.
    let events = app
        .store
        .list_audit(etupass::store::audit::AuditFilter {
            identity_id: Some(identity.id.clone()),
            event: Some("cas_ticket_validated".into()),
            since: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 3);
    let detail: serde_json::Value =
        serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["service"], "ENT");
    assert_eq!(detail["url"], PORTAL);
    assert!(detail["attributes"]
        .as_array()
        .unwrap()
        .contains(&"supannEtuId".into()));
}

#[tokio::test]
async fn a_ticket_serves_once_in_time_and_only_for_its_service() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    add_service(&app, "ENT", "https://ent.univ.example/", |_| {}).await;
    add_service(&app, "Moodle", "https://moodle.univ.example/", |_| {}).await;
    let browser = Browser::new();
    let path = "/cas/serviceValidate";

    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, first) = validate(&app, path, PORTAL, &ticket, "").await;
    assert!(first.contains("authenticationSuccess"), "{first}");
    let (status, replay) = validate(&app, path, PORTAL, &ticket, "").await;
    assert_eq!(status, 200);
    assert_eq!(failure_code(&replay), Some("INVALID_TICKET"), "{replay}");

    // For another service: refused, and spent for its own as well.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, other) = validate(&app, path, "https://moodle.univ.example/", &ticket, "").await;
    assert_eq!(failure_code(&other), Some("INVALID_SERVICE"), "{other}");
    let (_, own) = validate(&app, path, PORTAL, &ticket, "").await;
    assert_eq!(failure_code(&own), Some("INVALID_TICKET"), "{own}");
    // The same host with another path is another service URL.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, moved) = validate(
        &app,
        path,
        "https://ent.univ.example/portal/admin",
        &ticket,
        "",
    )
    .await;
    assert_eq!(failure_code(&moved), Some("INVALID_SERVICE"), "{moved}");

    // Ten seconds by default.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    app.clock.advance(11);
    let (_, late) = validate(&app, path, PORTAL, &ticket, "").await;
    assert_eq!(failure_code(&late), Some("INVALID_TICKET"), "{late}");

    // Malformed requests: a clear code, never a 5xx.
    let (status, missing) = validate(&app, path, "", "", "").await;
    assert_eq!(status, 200);
    assert_eq!(failure_code(&missing), Some("INVALID_REQUEST"), "{missing}");
    let (_, unknown) = validate(&app, path, PORTAL, "ST-0000", "").await;
    assert_eq!(failure_code(&unknown), Some("INVALID_TICKET"), "{unknown}");
    let (_, spec) = validate(&app, path, PORTAL, "TGT-1<x>", "").await;
    assert_eq!(failure_code(&spec), Some("INVALID_TICKET_SPEC"), "{spec}");
    assert!(!spec.contains("<x>"), "nothing reflected unescaped: {spec}");
    let (_, json) = validate(&app, path, PORTAL, "ST-0000", "format=json").await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["serviceResponse"]["authenticationFailure"]["code"],
        "INVALID_TICKET"
    );
}

#[tokio::test]
async fn an_unregistered_service_gets_a_page_that_names_no_one_and_redirects_nowhere() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    add_service(&app, "ENT", "https://ent.univ.example", |_| {}).await;
    let browser = Browser::new();
    // Signed in, so a ticket would be issued at once if the service were accepted.
    ticket_for(&app, &browser, PORTAL, "").await;
    for service in [
        "https://evil.example/",
        "https://ent.univ.example.evil.example/",
        "https://ent.univ.example@evil.example/",
        "https://ent.univ.example:8443/",
        "https://ent.univ.example/portal/../../evil.example/",
        "https://ent.univ.example/portal/%2e%2e/evil.example/",
        "javascript:alert(1)",
    ] {
        for extra in ["", "&gateway=true"] {
            let (status, page) = browser.get(&login_url(&app, service, extra)).await.page();
            assert_eq!(status, 400, "{service}");
            assert!(page.contains("pas enregistrée"), "{page}");
            assert!(
                !page.contains(NUMBER) && !page.contains("Dupont"),
                "names no one"
            );
            assert!(!page.contains("evil.example"), "links nowhere: {page}");
        }
    }
    // Logout does not send anyone to an unregistered service either.
    let (status, _) = browser
        .get(&app.url("/cas/logout?service=https%3A%2F%2Fevil.example%2F"))
        .await
        .page();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn gateway_never_shows_a_page_and_renew_asks_for_the_password_again() {
    let app = TestApp::spawn().await;
    let student = app.add_identity(NUMBER).await;
    add_service(&app, "ENT", "https://ent.univ.example/", |_| {}).await;
    let browser = Browser::new();

    let back = browser
        .get(&login_url(&app, PORTAL, "&gateway=true"))
        .await
        .redirect();
    assert_eq!(back.location.as_str(), PORTAL, "back without a ticket");

    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, from_sso) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;
    assert!(from_sso.contains("authenticationSuccess"));
    let ticket = browser
        .get(&login_url(&app, PORTAL, ""))
        .await
        .redirect()
        .param("ticket")
        .unwrap();
    let (_, renewed) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "renew=true").await;
    assert_eq!(
        failure_code(&renewed),
        Some("INVALID_TICKET"),
        "an SSO ticket is no renewed one"
    );

    // renew: the sign-in page although signed in, and a ticket that passes renew=true.
    let (status, page) = browser
        .get(&login_url(&app, PORTAL, "&renew=true&gateway=true"))
        .await
        .page();
    assert_eq!(status, 200);
    assert!(form_field(&page, "password").is_some() || page.contains("name=\"password\""));
    let back = browser
        .sign_in(&app, &page, NUMBER, PASSWORD)
        .await
        .redirect();
    let ticket = back.param("ticket").unwrap();
    let (_, renewed) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "renew=true").await;
    assert!(renewed.contains("authenticationSuccess"), "{renewed}");
    // Giving the password again restarted the session in place: the services that hold
    // it were not logged out (their tickets are still kept for single logout).
    let in_use = app.store.cas_services_in_use(&student.id).await.unwrap();
    assert_eq!(in_use.len(), 1, "ENT still holds the session");
    let sessions = app
        .store
        .live_sessions(&student.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "one session, never two at once");
}

#[tokio::test]
async fn the_sign_in_rules_apply_to_cas_gates_alumni_and_locked_accounts() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    app.add_identity_affiliated("21900701", "alumni").await;
    add_service(&app, "ENT", "https://ent.univ.example/", |_| {}).await;
    add_service(&app, "Alumni", "https://alumni.univ.example/", |s| {
        s.open_to_alumni = true
    })
    .await;
    // A service open to alumni holds one that is not: the more specific one rules.
    add_service(&app, "Portail", "https://portail.univ.example/", |s| {
        s.open_to_alumni = true
    })
    .await;
    add_service(
        &app,
        "Gestion",
        "https://portail.univ.example/gestion/",
        |_| {},
    )
    .await;

    // A required password change comes first, then the ticket.
    let output = etupass(&app, &["identity", "require-password-change", NUMBER], None);
    assert!(output.status.success());
    let browser = Browser::new();
    let (_, page) = browser.get(&login_url(&app, PORTAL, "")).await.page();
    let (status, gate) = browser.sign_in(&app, &page, NUMBER, PASSWORD).await.page();
    assert_eq!(status, 200);
    assert!(gate.contains("/password/change"), "{gate}");
    let request = form_field(&gate, "request").unwrap();
    let new_password = "un tout autre mot de passe 2026";
    let back = browser
        .submit(
            &app,
            &gate,
            "/password/change",
            &[
                ("request", &request),
                ("password", new_password),
                ("confirmation", new_password),
            ],
        )
        .await
        .redirect();
    let ticket = back.param("ticket").expect("the ticket after the gate");
    let (_, xml) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "renew=true").await;
    assert!(
        xml.contains("authenticationSuccess"),
        "signed in for this ticket: {xml}"
    );

    // A ticket issued before a lock does not validate after it.
    let ticket = browser
        .get(&login_url(&app, PORTAL, ""))
        .await
        .redirect()
        .param("ticket")
        .unwrap();
    assert!(etupass(&app, &["identity", "lock", NUMBER], None)
        .status
        .success());
    let (_, locked) = validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;
    assert_eq!(failure_code(&locked), Some("INVALID_TICKET"), "{locked}");

    // An alumnus reaches only the services open to alumni.
    let alumnus = Browser::new();
    let (_, page) = alumnus.get(&login_url(&app, PORTAL, "")).await.page();
    let (status, refused) = alumnus
        .sign_in(&app, &page, "21900701", PASSWORD)
        .await
        .page();
    assert_eq!(status, 403);
    assert!(!refused.contains("ticket="), "{refused}");
    let (status, _) = alumnus
        .get(&login_url(
            &app,
            "https://portail.univ.example/gestion/notes",
            "",
        ))
        .await
        .page();
    assert_eq!(status, 403, "the most specific service decides");
    assert!(alumnus
        .get(&login_url(&app, "https://portail.univ.example/", ""))
        .await
        .redirect()
        .param("ticket")
        .is_some());
    // gateway never shows a page: back without a ticket.
    let back = alumnus
        .get(&login_url(&app, PORTAL, "&gateway=true"))
        .await
        .redirect();
    assert_eq!(back.location.as_str(), PORTAL);
    let back = alumnus
        .get(&login_url(&app, "https://alumni.univ.example/", ""))
        .await
        .redirect();
    assert!(back.param("ticket").is_some());
}

/// A callback listener (a proxying service's `pgtUrl`): answers 200 to each GET and keeps
/// its query.
async fn callback_recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pgt", listener.local_addr().unwrap());
    let queries = Arc::new(Mutex::new(Vec::new()));
    let kept = queries.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            while !String::from_utf8_lossy(&head).contains("\r\n\r\n") {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&chunk[..n]);
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let target = line.split(' ').nth(1).unwrap_or_default();
            kept.lock().unwrap().push(
                target
                    .split_once('?')
                    .map(|(_, q)| q.to_string())
                    .unwrap_or_default(),
            );
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    (url, queries)
}

#[tokio::test]
async fn a_proxy_gets_its_granting_ticket_at_its_callback_and_proxy_tickets_name_it() {
    let app = TestApp::builder()
        .with_config(|settings| settings.outbound_allow_loopback = true)
        .spawn()
        .await;
    app.add_identity(NUMBER).await;
    let (callback, queries) = callback_recorder().await;
    let proxy_home = callback.trim_end_matches("/pgt").to_string() + "/";
    add_service(&app, "Portlet", &proxy_home, |s| s.proxy_allowed = true).await;
    add_service(&app, "Mail", "https://mail.univ.example/", |_| {}).await;
    add_service(&app, "ENT", "https://ent.univ.example/", |_| {}).await;
    let browser = Browser::new();

    let ticket = ticket_for(&app, &browser, &proxy_home, "").await;
    let (_, xml) = validate(
        &app,
        "/cas/serviceValidate",
        &proxy_home,
        &ticket,
        &format!("pgtUrl={callback}"),
    )
    .await;
    let iou_start =
        xml.find("<cas:proxyGrantingTicket>").expect(&xml) + "<cas:proxyGrantingTicket>".len();
    let iou = &xml[iou_start..iou_start + xml[iou_start..].find('<').unwrap()];
    assert!(iou.starts_with("PGTIOU-"));
    let query = queries.lock().unwrap()[0].clone();
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["pgtIou"], iou, "the callback got the same IOU");
    let pgt = params["pgtId"].clone();
    assert!(pgt.starts_with("PGT-"));

    let mail = "https://mail.univ.example/imap";
    let proxy = |pgt: String, target: &str| {
        let url = app.url("/cas/proxy");
        let target = target.to_string();
        async move {
            reqwest::Client::new()
                .get(url)
                .query(&[("pgt", pgt.as_str()), ("targetService", target.as_str())])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let answer = proxy(pgt.clone(), mail).await;
    let start = answer.find("<cas:proxyTicket>").expect(&answer) + "<cas:proxyTicket>".len();
    let proxy_ticket = answer[start..start + answer[start..].find('<').unwrap()].to_string();
    assert!(proxy_ticket.starts_with("PT-"));
    let (_, wrong_endpoint) = validate(&app, "/cas/serviceValidate", mail, &proxy_ticket, "").await;
    assert_eq!(failure_code(&wrong_endpoint), Some("INVALID_TICKET_SPEC"));
    let (_, xml) = validate(&app, "/cas/p3/proxyValidate", mail, &proxy_ticket, "").await;
    assert!(
        xml.contains(&format!("<cas:user>{NUMBER}</cas:user>")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<cas:proxy>{callback}</cas:proxy>")),
        "{xml}"
    );

    assert_eq!(
        failure_code(&proxy(pgt.clone(), "https://evil.example/").await),
        Some("UNAUTHORIZED_SERVICE")
    );
    assert_eq!(
        failure_code(&proxy("PGT-0000".into(), mail).await),
        Some("BAD_PGT")
    );
    assert_eq!(
        failure_code(&proxy(String::new(), mail).await),
        Some("INVALID_REQUEST")
    );

    // A service not allowed to proxy, and a callback outside the service's own URLs.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let (_, refused) = validate(
        &app,
        "/cas/serviceValidate",
        PORTAL,
        &ticket,
        &format!("pgtUrl={callback}"),
    )
    .await;
    assert_eq!(
        failure_code(&refused),
        Some("UNAUTHORIZED_SERVICE_PROXY"),
        "{refused}"
    );
    let ticket = ticket_for(&app, &browser, &proxy_home, "").await;
    let (_, outside) = validate(
        &app,
        "/cas/serviceValidate",
        &proxy_home,
        &ticket,
        "pgtUrl=http://127.0.0.2:9/pgt",
    )
    .await;
    assert_eq!(
        failure_code(&outside),
        Some("INVALID_PROXY_CALLBACK"),
        "{outside}"
    );

    // CAS 1.0 has no proxies: a pgtUrl there is ignored.
    let delivered = queries.lock().unwrap().len();
    let ticket = ticket_for(&app, &browser, &proxy_home, "").await;
    let (_, text) = validate(
        &app,
        "/cas/validate",
        &proxy_home,
        &ticket,
        &format!("pgtUrl={callback}"),
    )
    .await;
    assert_eq!(text, format!("yes\n{NUMBER}\n"));
    assert_eq!(
        queries.lock().unwrap().len(),
        delivered,
        "no callback from /cas/validate"
    );

    // A gate (here a required password change) stops proxying until it is met.
    assert!(
        etupass(&app, &["identity", "require-password-change", NUMBER], None)
            .status
            .success()
    );
    let gated = proxy(pgt.clone(), mail).await;
    assert!(gated.contains("proxyFailure"), "{gated}");

    // The granting ticket ends with the session.
    browser.get(&app.url("/cas/logout")).await;
    assert_eq!(failure_code(&proxy(pgt, mail).await), Some("BAD_PGT"));
}

async fn next_logout_request(bodies: &Arc<Mutex<Vec<String>>>, seen: usize) -> String {
    for _ in 0..200 {
        if let Some(body) = bodies.lock().unwrap().get(seen).cloned() {
            return url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "logoutRequest")
                .map(|(_, v)| v.into_owned())
                .expect("a logoutRequest parameter");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no logout request delivered");
}

#[tokio::test]
async fn single_logout_tells_each_service_the_ticket_it_knows_the_session_by() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let (receiver, bodies) = http_recorder("/cas-logout").await;
    add_service(&app, "ENT", "https://ent.univ.example/", |s| {
        s.logout_url = Some(receiver.clone())
    })
    .await;
    let browser = Browser::new();

    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;
    // A ticket never validated is no session of the service's: nothing to tell.
    ticket_for(&app, &browser, PORTAL, "").await;
    let back = browser
        .get(&app.url("/cas/logout?service=https%3A%2F%2Fent.univ.example%2Fbye"))
        .await;
    assert_eq!(
        back.redirect().location.as_str(),
        "https://ent.univ.example/bye"
    );
    let message = next_logout_request(&bodies, 0).await;
    assert!(message.contains("<samlp:LogoutRequest"), "{message}");
    assert!(
        message.contains(&format!(
            "<samlp:SessionIndex>{ticket}</samlp:SessionIndex>"
        )),
        "{message}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        bodies.lock().unwrap().len(),
        1,
        "one message, for the validated ticket"
    );
    // The session is over: the password is asked again.
    let (status, page) = browser.get(&login_url(&app, PORTAL, "")).await.page();
    assert_eq!(status, 200);
    assert!(page.contains("name=\"password\""));

    // An administrator's lock ends the session as well, and the service hears of it.
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;
    assert!(etupass(&app, &["identity", "lock", NUMBER], None)
        .status
        .success());
    // The command queued the message at the system time; the test's clock lags it.
    app.clock.advance(120);
    let message = next_logout_request(&bodies, 1).await;
    assert!(message.contains(&ticket), "{message}");
}

#[tokio::test]
async fn the_service_registry_refuses_what_it_cannot_honour() {
    let app = TestApp::spawn().await;
    let run = |args: &[&str]| etupass(&app, args, None);
    let add = ["cas", "service", "add", "--name", "ENT"];
    let bad_regex = run(&[&add[..], &["--url-pattern", "^https://(ent"]].concat());
    assert!(!bad_regex.status.success());
    assert!(String::from_utf8_lossy(&bad_regex.stderr).contains("regular expression"));
    let bad_attribute = run(&[
        &add[..],
        &[
            "--url-pattern",
            "https://ent.univ.example/",
            "--attribute",
            "password",
        ],
    ]
    .concat());
    assert!(String::from_utf8_lossy(&bad_attribute.stderr).contains("unknown attribute 'password'"));
    let not_a_url = run(&[&add[..], &["--url-pattern", "ent.univ.example"]].concat());
    assert!(!not_a_url.status.success());

    let ok = run(&[
        &add[..],
        &[
            "--url-pattern",
            r"^https://ent\.univ\.example/.*",
            "--proxy-allowed",
        ],
    ]
    .concat());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(shown["url_pattern"], r"^https://ent\.univ\.example/.*");
    assert_eq!(shown["proxy_allowed"], true);
    let twice = run(&[&add[..], &["--url-pattern", "https://ent.univ.example/"]].concat());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already named 'ENT'"));
    let list: serde_json::Value =
        serde_json::from_slice(&run(&["cas", "service", "list"]).stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(run(&["cas", "service", "show", "ENT"]).status.success());
    assert!(run(&["cas", "service", "remove", "ENT"]).status.success());
    assert!(!run(&["cas", "service", "show", "ENT"]).status.success());
    assert!(!run(&["cas", "service", "remove", "ENT"]).status.success());
}

#[tokio::test]
async fn the_personal_space_lists_cas_services_and_disconnecting_one_logs_it_out() {
    let app = TestApp::spawn().await;
    app.add_identity(NUMBER).await;
    let (receiver, bodies) = http_recorder("/slo").await;
    add_service(&app, "Portail ENT", "https://ent.univ.example/", |s| {
        s.logout_url = Some(receiver.clone())
    })
    .await;
    let service_id = app
        .store
        .find_cas_service("Portail ENT")
        .await
        .unwrap()
        .unwrap()
        .id;
    let browser = Browser::new();
    let ticket = ticket_for(&app, &browser, PORTAL, "").await;
    let account = browser.open(&app.url("/account")).await;
    assert!(
        !account.contains("Portail ENT"),
        "a ticket never validated gave nothing away"
    );
    validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;

    let account = browser.open(&app.url("/account")).await;
    assert!(account.contains("Portail ENT"), "{account}");
    assert!(account.contains(&format!("value=\"{service_id}\"")));
    let landing = browser
        .submit(
            &app,
            &account,
            "/account/apps/disconnect",
            &[("client_id", &service_id), ("protocol", "cas")],
        )
        .await;
    assert!(matches!(landing, Landing::Redirect(_)));
    let message = next_logout_request(&bodies, 0).await;
    assert!(
        message.contains(&ticket),
        "the service forgets that session: {message}"
    );
    let account = browser.open(&app.url("/account")).await;
    assert!(!account.contains("Portail ENT"), "no longer connected");
    // Etupass's own session goes on: the next visit gets a ticket without a password.
    let again = browser.get(&login_url(&app, PORTAL, "")).await.redirect();
    assert!(again.param("ticket").is_some());
}

#[tokio::test]
async fn tickets_of_sessions_long_over_are_deleted_as_new_ones_come() {
    let app = TestApp::spawn().await;
    let student = app.add_identity(NUMBER).await;
    app.add_identity_affiliated("21900702", "student").await;
    add_service(&app, "ENT", "https://ent.univ.example/", |_| {}).await;
    let ticket = ticket_for(&app, &Browser::new(), PORTAL, "").await;
    validate(&app, "/cas/serviceValidate", PORTAL, &ticket, "").await;
    let in_use = |app: &TestApp| {
        let store = app.store.clone();
        let id = student.id.clone();
        async move { store.cas_services_in_use(&id).await.unwrap().len() }
    };
    assert_eq!(
        in_use(&app).await,
        1,
        "kept for single logout while the session may live"
    );
    // Past the longest session, the next ticket anyone gets clears the old ones.
    app.clock
        .advance(app.settings.session_lifetime.as_secs() as i64 + 120);
    let other = Browser::new();
    let (_, page) = other.get(&login_url(&app, PORTAL, "")).await.page();
    other
        .sign_in(&app, &page, "21900702", PASSWORD)
        .await
        .redirect();
    assert_eq!(in_use(&app).await, 0);
}
