//! Overload: past `max_requests_in_flight` requests being answered, an instance answers
//! 503 with `Retry-After` at once, health checks still pass, and it serves again as soon
//! as the requests in flight end. Requests are held in flight by clients that send the
//! headers of a form and never its body.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// A POST to `/token` whose body never comes: in flight until the connection closes.
async fn stalled_request(app: &TestApp) -> TcpStream {
    let address = app.settings.bind.clone();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
    stream
}

/// The status of discovery, polled until it is `expected` (the stalled requests reach
/// the server in their own time).
async fn discovery_becomes(app: &TestApp, expected: u16) -> reqwest::Response {
    let url = app.url("/.well-known/openid-configuration");
    for _ in 0..200 {
        let response = reqwest::get(&url).await.unwrap();
        if response.status().as_u16() == expected {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("discovery never answered {expected}");
}

#[tokio::test]
async fn past_the_requests_in_flight_an_instance_answers_503_and_recovers() {
    let app = TestApp::builder()
        .with_config(|s| s.max_requests_in_flight = 2)
        .spawn()
        .await;
    discovery_becomes(&app, 200).await;
    let held = [stalled_request(&app).await, stalled_request(&app).await];
    let busy = discovery_becomes(&app, 503).await;
    assert_eq!(busy.headers()["retry-after"], "1");
    assert!(
        busy.headers().contains_key("content-security-policy"),
        "the refusal keeps the security headers"
    );
    for health in ["/healthz", "/readyz"] {
        let response = reqwest::get(app.url(health)).await.unwrap();
        assert_eq!(response.status(), 200, "{health} gets through");
    }
    // The clients give up: their places are free again.
    drop(held);
    discovery_becomes(&app, 200).await;
}
