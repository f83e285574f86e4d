//! The personal space (`/account`): what a signed-in person sees of their own account and
//! the few things they change themselves. Every action here acts on the person's own
//! account only, named by the session, never by a form field.

use super::throttle::{self, Action};
use super::AccountError;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::provider::Provider;
use crate::store::audit::AuditFilter;
use crate::store::consents::ConnectedApp;
use crate::store::sessions::SessionSummary;
use crate::store::StoreError;

/// Everything the overview shows.
#[derive(Debug)]
pub struct Overview {
    /// The charter version accepted, and when.
    pub charter: Option<(i64, i64)>,
    /// The latest sign-ins, failed ones included: a stranger's attempts show here.
    pub recent_sign_ins: Vec<AuditEvent>,
    pub sessions: Vec<SessionSummary>,
    pub apps: Vec<ConnectedApp>,
    /// Tiles from other university systems (print credit, results…).
    pub attributes: Vec<crate::domain::attribute::Attribute>,
    pub app_passwords: Vec<crate::domain::app_password::AppPassword>,
}

const RECENT_SIGN_INS: usize = 10;

pub async fn overview(provider: &Provider, identity: &Identity) -> Result<Overview, StoreError> {
    let store = &provider.store;
    let events = store
        .list_audit(AuditFilter {
            identity_id: Some(identity.id.clone()),
            event: None,
            since: None,
            limit: 200,
        })
        .await?;
    let recent_sign_ins = events
        .into_iter()
        .filter(|e| e.event == events::SIGN_IN || e.event == events::SIGN_IN_FAILED)
        .take(RECENT_SIGN_INS)
        .collect();
    // Every application that received an identity, whatever its protocol, newest first.
    let mut apps = store.connected_apps(&identity.id).await?;
    apps.extend(
        store
            .cas_services_in_use(&identity.id)
            .await?
            .into_iter()
            .map(|(id, name, at)| ConnectedApp {
                client_id: id,
                name,
                scopes: Vec::new(),
                granted_at: at,
                protocol: "cas",
            }),
    );
    apps.extend(
        store
            .saml_sps_in_use(&identity.id)
            .await?
            .into_iter()
            .map(|(id, name, at)| ConnectedApp {
                client_id: id,
                name,
                scopes: Vec::new(),
                granted_at: at,
                protocol: "saml",
            }),
    );
    apps.sort_by_key(|app| std::cmp::Reverse(app.granted_at));
    Ok(Overview {
        charter: store.accepted_charter(&identity.id).await?,
        recent_sign_ins,
        sessions: store.live_sessions(&identity.id, provider.now()).await?,
        apps,
        attributes: store.attributes(&identity.id).await?,
        app_passwords: store.app_passwords(&identity.id).await?,
    })
}

/// Disconnects an application: an OpenID Connect relying party loses the consent and its
/// tokens (the next sign-in to it asks again); a CAS service or SAML SP is told to forget
/// the person's sessions (single logout). Returns the front-channel logouts for the
/// browser to carry (a SAML SP without SOAP).
pub async fn disconnect_app(
    provider: &Provider,
    identity: &Identity,
    protocol: &str,
    app_id: &str,
    context: &RequestContext,
) -> Result<Vec<crate::saml::logout::FrontChannelLogout>, AccountError> {
    let now = provider.now();
    let mut front_channel = Vec::new();
    let disconnected = match protocol {
        "cas" => crate::cas::logout::disconnect(provider, &identity.id, app_id).await? > 0,
        "saml" => {
            let told = crate::saml::logout::disconnect(provider, &identity.id, app_id).await?;
            front_channel = told.front_channel;
            told.queued > 0 || !front_channel.is_empty()
        }
        _ => {
            provider
                .store
                .withdraw_consent(&identity.id, app_id, now)
                .await?
        }
    };
    if disconnected {
        let audit = AuditEvent::new(events::APP_DISCONNECTED, now, context)
            .identity(identity)
            .detail(match protocol {
                "cas" => format!("CAS service {app_id}"),
                "saml" => format!("SAML service provider {app_id}"),
                _ => format!("client {app_id}"),
            });
        provider.store.record_audit(audit).await?;
    }
    Ok(front_channel)
}

/// Ends one other session (`Some(id)`) or all the others (`None`), never the current
/// one (signing out does that); their relying parties hear of it on the back channel.
pub async fn end_sessions(
    provider: &Provider,
    identity: &Identity,
    current: &Session,
    which: Option<String>,
) -> Result<usize, StoreError> {
    let ended = provider
        .store
        .end_own_sessions(&identity.id, which, &current.id, provider.now())
        .await?;
    let count = ended.len();
    super::sign_in::tell_relying_parties(provider, identity, ended).await;
    Ok(count)
}

/// A password change the person asks for: the current password first (a session left
/// open on a lab computer must not let anyone choose a new one), then the policy. Other
/// sessions end and the personal address is told (as in the forced change); unless the
/// person keeps them (`keep_access`), every token, app password and device grant issued
/// before the change is revoked too.
#[allow(clippy::too_many_arguments)]
pub async fn change_own_password(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    current: &str,
    password: &str,
    confirmation: &str,
    keep_access: bool,
    lang: &str,
    context: &RequestContext,
) -> Result<Vec<&'static str>, AccountError> {
    if let Some(refusal) = check_current_password(provider, identity, current, context).await? {
        return Ok(vec![refusal]);
    }
    let others: Vec<String> = provider
        .store
        .live_session_ids(&identity.id, provider.now())
        .await?
        .into_iter()
        .filter(|id| *id != session.id)
        .collect();
    let refused = super::gates::set_new_password(
        provider,
        identity,
        session,
        password,
        confirmation,
        !keep_access,
        lang,
        context,
    )
    .await?;
    if refused.is_empty() {
        super::sign_in::tell_relying_parties(provider, identity, others).await;
    }
    Ok(refused)
}

/// What the person typed in the contact form; empty means "none".
#[derive(Debug, Default)]
pub struct ContactForm<'a> {
    pub phone: &'a str,
    pub postal_address: &'a str,
    pub keep_in_touch_email: &'a str,
}

/// Saves the person's phone, postal address and "keep in touch" address, each checked
/// as the registrar's import checks it. Returns the refusals (nothing is saved then).
pub async fn update_contact_details(
    provider: &Provider,
    identity: &Identity,
    form: ContactForm<'_>,
    context: &RequestContext,
) -> Result<Vec<&'static str>, StoreError> {
    use crate::domain::enrollment::{parse_address, parse_phone};
    use crate::domain::identity::parse_email;
    fn optional<T>(
        raw: &str,
        parse: impl Fn(&str) -> Result<T, crate::domain::Invalid>,
        refusal: &'static str,
        refused: &mut Vec<&'static str>,
    ) -> Option<T> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        parse(raw).map_err(|_| refused.push(refusal)).ok()
    }
    let mut refused = Vec::new();
    let details = crate::store::identities::ContactDetails {
        phone: optional(
            form.phone,
            parse_phone,
            "account.invalid_phone",
            &mut refused,
        ),
        postal_address: optional(
            &form.postal_address.replace("\r\n", "\n"),
            parse_address,
            "account.invalid_address",
            &mut refused,
        ),
        keep_in_touch_email: optional(
            form.keep_in_touch_email,
            parse_email,
            "account.invalid_email",
            &mut refused,
        ),
    };
    if !refused.is_empty() {
        return Ok(refused);
    }
    let now = provider.now();
    let audit = AuditEvent::new(events::CONTACT_DETAILS_CHANGED, now, context).identity(identity);
    provider
        .store
        .update_contact_details(&identity.id, details, audit, now)
        .await?;
    Ok(Vec::new())
}

/// The current password, before a change that could take the account over (a session
/// left open on a lab computer must not be enough): checked under the sign-in's rules,
/// on the same counters (`sign_in::check_password_of`), so a session gives no extra
/// guesses and a burst of them is refused before it is hashed.
pub(crate) async fn check_current_password(
    provider: &Provider,
    identity: &Identity,
    current: &str,
    context: &RequestContext,
) -> Result<Option<&'static str>, AccountError> {
    use super::sign_in::{check_password_of, PasswordCheck};
    let checked = check_password_of(provider, identity, current, context.ip.as_deref())
        .await
        .map_err(AccountError::from)?;
    Ok(match checked {
        PasswordCheck::Right => None,
        PasswordCheck::Wrong => Some("account.wrong_current_password"),
        PasswordCheck::Throttled(_) => Some("login.throttled"),
        PasswordCheck::Busy => Some("login.busy"),
    })
}

/// How long the link to confirm a new personal address lasts.
const EMAIL_CHANGE_LINK_SECS: u64 = 24 * 3600;

/// Asks to change the personal address: nothing changes until the link mailed to the new
/// address is followed (so a typo or someone else's address cannot take over recovery
/// mails), and the old address is told at once. Returns the refusals.
pub async fn request_email_change(
    provider: &Provider,
    identity: &Identity,
    current_password: &str,
    typed: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<Vec<&'static str>, AccountError> {
    if let Some(refusal) =
        check_current_password(provider, identity, current_password, context).await?
    {
        return Ok(vec![refusal]);
    }
    let Ok(address) = crate::domain::identity::parse_email(typed.trim()) else {
        return Ok(vec!["account.invalid_new_email"]);
    };
    if identity.personal_email.as_deref() == Some(address.as_str()) {
        return Ok(vec!["account.same_email"]);
    }
    // Each request mails two addresses: a few are free, then they are spaced out, so the
    // form cannot be used to flood mailboxes.
    let ip = context.ip.as_deref();
    let account = Some(identity.number.as_str());
    if throttle::take_request(provider, Action::EmailChange, ip, account)
        .await?
        .is_some()
    {
        return Ok(vec!["login.throttled"]);
    }
    let (url, mut link) = super::new_link(
        provider,
        crate::domain::link::LinkPurpose::EmailChange,
        EMAIL_CHANGE_LINK_SECS,
        "/account/email/confirm",
    );
    link.payload = Some(address.clone());
    let institution = &provider.settings.institution_name;
    let confirm = crate::mail::MailContent::email_change(url).render(
        &provider.views,
        lang,
        institution,
        &address,
    )?;
    let now = provider.now();
    let audit = AuditEvent::new(events::EMAIL_CHANGE_REQUESTED, now, context)
        .identity(identity)
        .detail(address.clone());
    provider
        .store
        .send_link(&identity.id, link, confirm, Some(audit), now)
        .await?;
    if let Some(old) = &identity.personal_email {
        let notice = crate::mail::MailContent::email_change_notice(&address).render(
            &provider.views,
            lang,
            institution,
            old,
        )?;
        provider.store.queue_mail(notice, now).await?;
    }
    Ok(Vec::new())
}

/// What a presented address-change link is (the page shows a button before acting, so
/// that a mail scanner following links changes nothing).
pub async fn inspect_email_change(
    provider: &Provider,
    token: &str,
) -> Result<crate::domain::link::LinkState, StoreError> {
    provider
        .store
        .inspect_link(
            &crate::crypto::token::digest(token),
            crate::domain::link::LinkPurpose::EmailChange,
            provider.now(),
        )
        .await
}

/// Follows the link: the new address is set. `None` if the link is unknown, used or expired.
pub async fn confirm_email_change(
    provider: &Provider,
    token: &str,
    context: &RequestContext,
) -> Result<Option<Identity>, StoreError> {
    let now = provider.now();
    let audit = AuditEvent::new(events::EMAIL_CHANGED, now, context);
    match provider
        .store
        .change_personal_email(&crate::crypto::token::digest(token), audit, now)
        .await
    {
        Ok(identity) => Ok(Some(identity)),
        Err(crate::store::lifecycle::LinkError::Invalid) => Ok(None),
        Err(crate::store::lifecycle::LinkError::Store(error)) => Err(error),
    }
}
