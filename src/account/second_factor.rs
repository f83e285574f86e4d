//! Two-factor sign-in: setting up an authenticator app, the second step after the
//! password, turning it off, and who must have one.
//!
//! Codes are checked here; spending them (once) is the store's conditional `UPDATE`.
//! Wrong codes count per account, so six digits cannot be guessed at leisure.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, Secret, TOTP};

use super::throttle::{self, Action};
use super::AccountError;
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::domain::second_factor::{self, TypedCode};
use crate::domain::session::Session;
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::second_factor::{Proof, ProofUse};
use crate::store::StoreError;

/// What the set-up page shows: the same key as a QR code, as an `otpauth://` link and
/// as text to type.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub key: String,
    pub uri: String,
    pub qr_svg: String,
}

/// Where a person stands, for the personal space.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub enabled: bool,
    pub recovery_codes_left: i64,
    /// Their affiliation requires it: it cannot be turned off.
    pub required: bool,
}

/// The answer to a code typed at sign-in, at set-up or to turn it off.
#[derive(Debug)]
pub enum CodeOutcome<T> {
    Accepted(T),
    /// Wrong, used already, or not a code at all (the i18n key says which to show).
    Refused(&'static str),
    Throttled(i64),
}

/// Whether the administrator requires a second factor of this person's affiliations.
pub fn required_by_affiliation(provider: &Provider, identity: &Identity) -> bool {
    identity
        .affiliations
        .iter()
        .any(|a| provider.settings.second_factor_required_for.contains(a))
}

pub async fn status(provider: &Provider, identity: &Identity) -> Result<Status, StoreError> {
    let enabled = is_enabled(provider, identity).await?;
    let recovery_codes_left = if enabled {
        provider.store.recovery_codes_left(&identity.id).await?
    } else {
        0
    };
    Ok(Status {
        enabled,
        recovery_codes_left,
        required: required_by_affiliation(provider, identity),
    })
}

pub async fn is_enabled(provider: &Provider, identity: &Identity) -> Result<bool, StoreError> {
    Ok(provider
        .store
        .second_factor(&identity.id)
        .await?
        .is_some_and(|s| s.confirmed_at.is_some()))
}

/// The key to set up (kept while unconfirmed, so reloading the page shows the same one),
/// or `None` when a second factor is already on.
pub async fn enrolment(
    provider: &Provider,
    identity: &Identity,
) -> Result<Option<Enrolment>, AccountError> {
    let now = provider.now();
    let key = match provider.store.second_factor(&identity.id).await? {
        Some(stored) if stored.confirmed_at.is_some() => return Ok(None),
        // Reloading the page shows the same key for a while; an old one is not reused
        // (whoever saw it then might not be the person who confirms it now).
        Some(stored) if now - stored.created_at < UNCONFIRMED_KEY_SECS => {
            open_key(provider, identity, &stored.secret_sealed)?
        }
        _ => {
            let mut key = vec![0u8; second_factor::KEY_BYTES];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            let sealed = seal_key(provider, identity, &key)?;
            if !provider
                .store
                .begin_second_factor(&identity.id, sealed, now)
                .await?
            {
                // Confirmed meanwhile, or another tab began at the same moment: use theirs.
                return match provider.store.second_factor(&identity.id).await? {
                    Some(stored) if stored.confirmed_at.is_none() => {
                        let key = open_key(provider, identity, &stored.secret_sealed)?;
                        Ok(Some(present(provider, identity, key)?))
                    }
                    _ => Ok(None),
                };
            }
            key
        }
    };
    Ok(Some(present(provider, identity, key)?))
}

/// How long an unconfirmed key is shown again.
const UNCONFIRMED_KEY_SECS: i64 = 10 * 60;

fn present(
    provider: &Provider,
    identity: &Identity,
    key: Vec<u8>,
) -> Result<Enrolment, AccountError> {
    let totp = authenticator(provider, identity, key)?;
    let uri = totp.get_url();
    let qr_svg = QrCode::new(uri.as_bytes())
        .map_err(|e| internal(format!("QR code: {e}")))?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        key: second_factor::display_key(&totp.get_secret_base32()),
        uri,
        qr_svg: strip_xml_declaration(qr_svg),
    })
}

/// Turns the second factor on with the current password (a session left open must not
/// let someone else register their phone) and the first code from the app. Returns the
/// ten recovery codes, to be shown once. The session becomes a two-factor one.
pub async fn enable(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    current_password: &str,
    typed: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<CodeOutcome<Vec<String>>, AccountError> {
    let Some(stored) = provider.store.second_factor(&identity.id).await? else {
        return Ok(CodeOutcome::Refused("second_factor.start_again"));
    };
    if stored.confirmed_at.is_some() {
        return Ok(CodeOutcome::Refused("second_factor.already_on"));
    }
    if let Some(refusal) =
        super::space::check_current_password(provider, identity, current_password, context).await?
    {
        return Ok(CodeOutcome::Refused(refusal));
    }
    if let Some(wait) = attempt(provider, identity).await? {
        return Ok(CodeOutcome::Throttled(wait));
    }
    let key = open_key(provider, identity, &stored.secret_sealed)?;
    let step = match TypedCode::parse(typed) {
        TypedCode::Totp(code) => matching_step(provider, identity, key, &code)?,
        _ => None,
    };
    let Some(step) = step else {
        return Ok(CodeOutcome::Refused("second_factor.wrong_code"));
    };
    let codes = second_factor::new_recovery_codes();
    let hashes = codes
        .iter()
        .map(|c| token::digest(&crate::domain::app_password::normalize(c)))
        .collect();
    let used = ProofUse {
        upgrade_session: Some(session.id.clone()),
        remove: false,
        mail: super::personal_notice(
            provider,
            identity,
            lang,
            MailContent::second_factor_enabled(),
        )?,
        audit: AuditEvent::new(events::SECOND_FACTOR_ENABLED, provider.now(), context)
            .identity(identity),
    };
    if !provider
        .store
        .confirm_second_factor(&identity.id, step, hashes, used, provider.now())
        .await?
    {
        return Ok(CodeOutcome::Refused("second_factor.already_on"));
    }
    throttle::clear(provider, Action::SecondFactor, &identity.id).await?;
    Ok(CodeOutcome::Accepted(codes))
}

/// The second step of a sign-in (or a step up): a code from the app or a recovery code.
/// The session then counts as two-factor.
pub async fn verify(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    typed: &str,
    context: &RequestContext,
) -> Result<CodeOutcome<()>, AccountError> {
    let (proof, method) = match check(provider, identity, typed).await? {
        CodeOutcome::Accepted(found) => found,
        CodeOutcome::Refused(key) => return Ok(CodeOutcome::Refused(key)),
        CodeOutcome::Throttled(wait) => return Ok(CodeOutcome::Throttled(wait)),
    };
    // A recovery code means a lost phone, or someone who found the codes: the owner hears.
    let mail = match proof {
        Proof::Recovery(_) => super::personal_notice(
            provider,
            identity,
            &provider.settings.default_locale,
            MailContent::recovery_code_used(),
        )?,
        Proof::Totp(_) => None,
    };
    let used = ProofUse {
        upgrade_session: Some(session.id.clone()),
        remove: false,
        mail,
        audit: AuditEvent::new(events::SECOND_FACTOR_USED, provider.now(), context)
            .identity(identity)
            .detail(method),
    };
    spend(provider, identity, proof, used).await
}

/// Turns the second factor off: the current password and a code (or a recovery code).
/// Refused while the person's affiliation requires one.
pub async fn disable(
    provider: &Provider,
    identity: &Identity,
    current_password: &str,
    typed: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<CodeOutcome<()>, AccountError> {
    if required_by_affiliation(provider, identity) {
        return Ok(CodeOutcome::Refused("second_factor.required"));
    }
    if let Some(refusal) =
        super::space::check_current_password(provider, identity, current_password, context).await?
    {
        return Ok(CodeOutcome::Refused(refusal));
    }
    let (proof, _) = match check(provider, identity, typed).await? {
        CodeOutcome::Accepted(found) => found,
        CodeOutcome::Refused(key) => return Ok(CodeOutcome::Refused(key)),
        CodeOutcome::Throttled(wait) => return Ok(CodeOutcome::Throttled(wait)),
    };
    let used = ProofUse {
        upgrade_session: None,
        remove: true,
        mail: super::personal_notice(
            provider,
            identity,
            lang,
            MailContent::second_factor_disabled(),
        )?,
        audit: AuditEvent::new(events::SECOND_FACTOR_DISABLED, provider.now(), context)
            .identity(identity),
    };
    spend(provider, identity, proof, used).await
}

/// Finds which proof a typed code is, without spending it.
async fn check(
    provider: &Provider,
    identity: &Identity,
    typed: &str,
) -> Result<CodeOutcome<(Proof, &'static str)>, AccountError> {
    let Some(stored) = provider
        .store
        .second_factor(&identity.id)
        .await?
        .filter(|s| s.confirmed_at.is_some())
    else {
        return Ok(CodeOutcome::Refused("second_factor.not_on"));
    };
    if let Some(wait) = attempt(provider, identity).await? {
        return Ok(CodeOutcome::Throttled(wait));
    }
    let found = match TypedCode::parse(typed) {
        TypedCode::Totp(code) => {
            let key = open_key(provider, identity, &stored.secret_sealed)?;
            matching_step(provider, identity, key, &code)?.map(|step| (Proof::Totp(step), "totp"))
        }
        TypedCode::Recovery(letters) => {
            Some((Proof::Recovery(token::digest(&letters)), "recovery code"))
        }
        TypedCode::Malformed => None,
    };
    match found {
        Some(found) => Ok(CodeOutcome::Accepted(found)),
        None => Ok(CodeOutcome::Refused("second_factor.wrong_code")),
    }
}

/// Spends the proof; a code used before (a replay, or a recovery code that is unknown or
/// spent) is refused like a wrong one (the attempt was counted already).
async fn spend(
    provider: &Provider,
    identity: &Identity,
    proof: Proof,
    used: ProofUse,
) -> Result<CodeOutcome<()>, AccountError> {
    if provider
        .store
        .spend_second_factor(&identity.id, proof, used, provider.now())
        .await?
    {
        throttle::clear(provider, Action::SecondFactor, &identity.id).await?;
        Ok(CodeOutcome::Accepted(()))
    } else {
        Ok(CodeOutcome::Refused("second_factor.wrong_code"))
    }
}

/// The time step whose code this is, if any (compared in constant time).
fn matching_step(
    provider: &Provider,
    identity: &Identity,
    key: Vec<u8>,
    code: &str,
) -> Result<Option<i64>, AccountError> {
    let totp = authenticator(provider, identity, key)?;
    Ok(second_factor::acceptable_steps(provider.now())
        .into_iter()
        .filter(|step| *step >= 0)
        .find(|step| {
            let expected = totp.generate(*step as u64 * second_factor::STEP_SECONDS);
            token::constant_time_eq(expected.as_bytes(), code.as_bytes())
        }))
}

fn authenticator(
    provider: &Provider,
    identity: &Identity,
    key: Vec<u8>,
) -> Result<TOTP, AccountError> {
    // The otpauth label may not hold ':' (it separates issuer and account).
    let label = |s: &str| s.replace(':', " ");
    let account = identity
        .institutional_email
        .clone()
        .unwrap_or_else(|| identity.number.as_str().to_string());
    TOTP::new(
        Algorithm::SHA1,
        second_factor::DIGITS,
        1,
        second_factor::STEP_SECONDS,
        Secret::Raw(key)
            .to_bytes()
            .map_err(|e| internal(format!("TOTP key: {e:?}")))?,
        Some(label(&provider.settings.institution_name)),
        label(&account),
    )
    .map_err(|e| internal(format!("TOTP: {e}")))
}

fn seal_key(provider: &Provider, identity: &Identity, key: &[u8]) -> Result<String, AccountError> {
    provider
        .sealer
        .seal(key, &identity.id)
        .map_err(|e| internal(e.to_string()))
}

fn open_key(
    provider: &Provider,
    identity: &Identity,
    sealed: &str,
) -> Result<Vec<u8>, AccountError> {
    provider
        .sealer
        .open(sealed, &identity.id)
        .map_err(|e| internal(e.to_string()))
}

/// Counts this attempt *before* checking the code, then says how long to wait, if at all.
/// Counting first means a burst of parallel guesses cannot all slip past the check before
/// any of them is counted; a right code clears the count.
async fn attempt(provider: &Provider, identity: &Identity) -> Result<Option<i64>, StoreError> {
    let account = Some(identity.id.as_str());
    if let Some(wait) = throttle::check(provider, Action::SecondFactor, None, account).await? {
        return Ok(Some(wait.0));
    }
    throttle::count(provider, Action::SecondFactor, None, account).await?;
    let wait = throttle::check(provider, Action::SecondFactor, None, account).await?;
    if wait.is_some() {
        tracing::info!(event = "second_factor_throttled", subject = %identity.subject, "second factor throttled");
    }
    Ok(wait.map(|wait| wait.0))
}

/// The SVG goes inside the page: no `<?xml …?>` line in the middle of HTML.
fn strip_xml_declaration(svg: String) -> String {
    match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    }
}

/// An authenticator key that does not open (the key file changed) or a library refusal.
fn internal(message: String) -> AccountError {
    AccountError::Store(StoreError::Corrupt(message))
}
