//! Back-Channel Logout 1.0: when a session ends (sign-out, RP-initiated logout, password
//! reset, identity-theft lockdown), every relying party that received a code in it and
//! registered a `backchannel_logout_uri` gets a signed logout token. Deliveries go through
//! the outbox, so they are retried like mail and survive a restart.

use serde_json::{json, Map};

use super::error::OAuthError;
use crate::crypto::jwt;
use crate::domain::mail::OutgoingMail;
use crate::provider::Provider;

/// The outbox kind of a logout-token delivery (the worker POSTs it instead of mailing).
pub const KIND: &str = "backchannel_logout";
/// The same for a dynamically registered client: delivered to public addresses only
/// (`oauth::outbound`).
pub const KIND_REGISTRANT: &str = "backchannel_logout_registrant";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: it is posted at once (and retried for minutes).
pub const LOGOUT_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(120);

/// Queues logout tokens for the relying parties of `session_ids` (sessions of `subject`).
pub async fn notify(
    provider: &Provider,
    identity: &crate::domain::identity::Identity,
    session_ids: Vec<String>,
) -> Result<usize, OAuthError> {
    if session_ids.is_empty() {
        return Ok(0);
    }
    let now = provider.now();
    let mut queued = 0;
    for participant in provider.store.session_participants(session_ids).await? {
        let Some(client) = provider.store.find_client(&participant.client_id).await? else {
            continue;
        };
        let Some(uri) = &client.backchannel_logout_uri else {
            continue;
        };
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(provider.settings.issuer()));
        claims.insert("aud".into(), json!(client.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert(
            "exp".into(),
            json!(now + LOGOUT_TOKEN_LIFETIME.as_secs() as i64),
        );
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert(
            "sub".into(),
            json!(super::subject::for_client(provider, &client, identity)),
        );
        claims.insert("sid".into(), json!(participant.session_id));
        claims.insert("events".into(), json!({ EVENT: {} }));
        let token = jwt::sign(
            &provider.keys.current(),
            client.id_token_signed_response_alg,
            "logout+jwt",
            claims,
            now,
        )?
        .token;
        provider
            .store
            .queue_mail(
                OutgoingMail {
                    kind: if client.registration_token_hash.is_some() {
                        KIND_REGISTRANT
                    } else {
                        KIND
                    }
                    .to_string(),
                    recipient: uri.as_str().to_string(),
                    subject: String::new(),
                    body_text: token,
                    body_html: String::new(),
                },
                now,
            )
            .await?;
        queued += 1;
    }
    Ok(queued)
}
