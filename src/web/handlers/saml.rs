//! `/saml/sso` and `/saml/slo` on both bindings: the browser side of the SAML IdP. It shares the sign-in
//! page, session and gates with OpenID Connect and CAS; what it answers is a page that
//! POSTs the signed `Response` to the SP's consumer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::authorize::{gate_page, page_lang, server_error, session_for_pass, sign_in_to_continue};
use super::request_context;
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::oauth::authorize::{Interaction, RawRequest};
use crate::saml::incoming::Message;
use crate::saml::slo::{self, SloAnswer, SloOutcome};
use crate::saml::sso::{self, Binding, SamlOutcome};
use crate::web::pages::{self, Page};
use crate::web::{cookies, AppState};

/// HTTP-Redirect: the query string, kept as it came (its signature covers those octets).
pub async fn sso_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let binding = Binding::Redirect {
        query: req.query_string().to_string(),
    };
    sso_pass(&state, &req, binding.carried(), Interaction::Fresh, None).await
}

#[derive(Debug, Deserialize)]
pub struct PostBinding {
    #[serde(default, rename = "SAMLRequest")]
    saml_request: String,
    #[serde(default, rename = "RelayState")]
    relay_state: Option<String>,
    /// Set when our own page posted the request again (see `sso_post`).
    #[serde(default)]
    etupass_hop: Option<String>,
}

/// HTTP-POST. The SP's page posts from another site, and the session cookie (SameSite
/// Lax) does not come with such a POST: the request is then posted again from our own
/// page, which brings the cookie, so single sign-on works on this binding too.
pub async fn sso_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PostBinding>,
) -> HttpResponse {
    let form = form.into_inner();
    let secure = state.provider.settings.issuer_is_https();
    if form.etupass_hop.is_none() && cookies::read(&req, cookies::Name::Session, secure).is_none() {
        let mut fields = vec![
            json!({"name": "SAMLRequest", "value": form.saml_request}),
            json!({"name": "etupass_hop", "value": "1"}),
        ];
        if let Some(relay) = &form.relay_state {
            fields.push(json!({"name": "RelayState", "value": relay}));
        }
        let lang = page_lang(&state, &req, None);
        let page = Page::new("saml_post", "saml.post_title")
            .with("action", crate::saml::SSO_PATH)
            .with("fields", fields);
        return pages::render(&state, lang, page, Vec::new());
    }
    let binding = Binding::Post {
        saml_request: form.saml_request,
        relay_state: form.relay_state,
    };
    sso_pass(&state, &req, binding.carried(), Interaction::Fresh, None).await
}

/// One pass through `/saml/sso`: from the SP, or back from the sign-in page or a gate
/// (`authorize::run` sends carried SAML requests here).
pub async fn sso_pass(
    state: &AppState,
    req: &HttpRequest,
    carried: RawRequest,
    interaction: Interaction,
    fresh_session: Option<(Session, Identity)>,
) -> HttpResponse {
    let lang = page_lang(state, req, None);
    let session = match session_for_pass(state, req, fresh_session).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let context = request_context(req);
    match sso::sso(&state.provider, carried, session, interaction, &context).await {
        Ok(SamlOutcome::Post {
            consumer,
            saml_response,
            relay_state,
        }) => {
            let mut fields = vec![json!({"name": "SAMLResponse", "value": saml_response})];
            if let Some(relay) = relay_state {
                fields.push(json!({"name": "RelayState", "value": relay}));
            }
            let page = Page::new("saml_post", "saml.post_title")
                .with("action", consumer)
                .with("fields", fields);
            pages::render(state, lang, page, Vec::new())
        }
        Ok(SamlOutcome::SignIn { carried }) => {
            sign_in_to_continue(state, req, lang, &carried).await
        }
        Ok(SamlOutcome::Gate {
            carried,
            identity,
            gate,
        }) => gate_page(state, req, lang, &carried, &identity, gate, Vec::new()).await,
        Ok(SamlOutcome::Refused(refusal)) => {
            pages::error(state, lang, StatusCode::BAD_REQUEST, refusal.message_key())
        }
        Err(error) => server_error(state, lang, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct PostLogout {
    #[serde(default, rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(default, rename = "RelayState")]
    relay_state: Option<String>,
}

/// `/saml/slo` on the Redirect binding.
pub async fn slo_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let has_request = RawRequest::from_urlencoded(req.query_string())
        .get("SAMLRequest")
        .is_some();
    let message = has_request.then(|| Message::Redirect {
        query: req.query_string().to_string(),
    });
    slo(&state, &req, message).await
}

/// `/saml/slo` on the POST binding.
pub async fn slo_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PostLogout>,
) -> HttpResponse {
    let form = form.into_inner();
    let message = form.saml_request.map(|message| Message::Post {
        message,
        relay_state: form.relay_state,
    });
    slo(&state, &req, message).await
}

/// Answers a `LogoutRequest`; anything else at this address (an SP's `LogoutResponse`)
/// just shows the signed-out page.
async fn slo(state: &AppState, req: &HttpRequest, message: Option<Message>) -> HttpResponse {
    let lang = page_lang(state, req, None);
    let signed_out = |cookies: Vec<actix_web::cookie::Cookie<'static>>| {
        let page = Page::new("notice", "logout.title")
            .with("heading", "logout.title")
            .with("message", "logout.done");
        pages::render(state, lang, page, cookies)
    };
    let Some(message) = message else {
        return signed_out(Vec::new());
    };
    let browser_session = match super::authorize::current_session(state, req).await {
        Ok(session) => session.map(|(session, _)| session.id),
        Err(response) => return response,
    };
    let SloAnswer {
        outcome,
        ended,
        front_channel,
    } = match slo::logout(&state.provider, message, browser_session.as_deref()).await {
        Ok(answer) => answer,
        Err(error) => return server_error(state, lang, &error),
    };
    // The browser's own session may be among those ended: its cookie goes too.
    let own_ended = browser_session.is_some_and(|own| ended.contains(&own));
    let removal = own_ended.then(|| {
        cookies::removal(
            cookies::Name::Session,
            state.provider.settings.issuer_is_https(),
        )
    });
    match outcome {
        SloOutcome::Refused(refusal) => {
            pages::error(state, lang, StatusCode::BAD_REQUEST, refusal.message_key())
        }
        // The other SPs' front-channel logouts load on the way back to this SP (on the
        // POST binding the form leaves at once: they are not carried).
        SloOutcome::Done => pages::signed_out(
            state,
            lang,
            "logout.done",
            front_channel,
            None,
            removal.into_iter().collect(),
        ),
        SloOutcome::Redirect(location) => pages::signed_out(
            state,
            lang,
            "logout.done",
            front_channel,
            Some(location),
            removal.into_iter().collect(),
        ),
        SloOutcome::Post {
            destination,
            saml_response,
            relay_state,
        } => {
            let mut fields = vec![json!({"name": "SAMLResponse", "value": saml_response})];
            if let Some(relay) = relay_state {
                fields.push(json!({"name": "RelayState", "value": relay}));
            }
            let page = Page::new("saml_post", "saml.post_title")
                .with("action", destination)
                .with("fields", fields);
            pages::render(state, lang, page, removal.into_iter().collect())
        }
    }
}
