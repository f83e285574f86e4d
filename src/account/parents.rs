//! Parents: a student invites a parent by e-mail, decides whether relying parties learn
//! of the link, and can end it at any time; the parent accepts with the mailed link,
//! which creates their identity (affiliation `parent`, signing in with that address).

use rand::Rng;

use super::throttle::{self, Action};
use super::AccountError;
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{
    parse_email, parse_name, Affiliation, BirthDate, Identity, IdentityStatus, NewIdentity,
    StudentNumber,
};
use crate::domain::link::LinkPurpose;
use crate::domain::parent::INVITATION_SECS;
use crate::domain::password_policy::PasswordContext;
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;
use crate::store::parents::{Acceptor, Invitation, Invited, NewInvitation};
use crate::store::StoreError;

/// Only students invite parents.
pub fn may_invite(identity: &Identity) -> bool {
    identity.affiliations.contains(&Affiliation::Student)
}

/// Sends an invitation; returns the refusals (empty when sent).
pub async fn invite(
    provider: &Provider,
    student: &Identity,
    typed: &str,
    shared_with_apps: bool,
    lang: &str,
    context: &RequestContext,
) -> Result<Vec<&'static str>, AccountError> {
    if !may_invite(student) {
        return Ok(vec!["parents.only_students"]);
    }
    let Ok(address) = parse_email(typed) else {
        return Ok(vec!["parents.invalid_email"]);
    };
    let own = [&student.institutional_email, &student.personal_email];
    if own.iter().any(|a| a.as_deref() == Some(address.as_str())) {
        return Ok(vec!["parents.own_address"]);
    }
    // The university's own addresses are the registrar's to give: a shared mailbox or a
    // former colleague's address must not become someone's sign-in address.
    let institutional = format!("@{}", provider.settings.eppn_domain.to_lowercase());
    if address.ends_with(&institutional) {
        return Ok(vec!["parents.institutional_address"]);
    }
    // Each invitation mails someone: a few are free, then they are spaced out, per
    // student and per recipient. Counted before checking, so a burst cannot slip past.
    for key in [student.number.as_str(), address.as_str()] {
        throttle::count(provider, Action::ParentInvitation, None, Some(key)).await?;
    }
    for key in [student.number.as_str(), address.as_str()] {
        if throttle::check(provider, Action::ParentInvitation, None, Some(key))
            .await?
            .is_some()
        {
            return Ok(vec!["login.throttled"]);
        }
    }
    let (url, link) = super::new_link(
        provider,
        LinkPurpose::ParentInvitation,
        INVITATION_SECS,
        "/parents/accept",
    );
    let mail = MailContent::parent_invitation(&student.display_name(), url).render(
        &provider.views,
        lang,
        &provider.settings.institution_name,
        &address,
    )?;
    let now = provider.now();
    let audit = AuditEvent::new(events::PARENT_INVITED, now, context)
        .identity(student)
        .detail(address.clone());
    let invited = provider
        .store
        .invite_parent(
            &student.id,
            NewInvitation {
                parent_email: address,
                shared_with_apps,
                link,
                mail,
            },
            audit,
            now,
        )
        .await?;
    Ok(match invited {
        Invited::Sent => Vec::new(),
        Invited::TooMany => vec!["parents.too_many"],
        Invited::AlreadyInvited => vec!["parents.already_invited"],
    })
}

/// Ends a link or withdraws an invitation; `false` if it is not the student's.
pub async fn revoke(
    provider: &Provider,
    student: &Identity,
    link_id: &str,
    context: &RequestContext,
) -> Result<bool, StoreError> {
    let now = provider.now();
    let audit = AuditEvent::new(events::PARENT_UNLINKED, now, context).identity(student);
    provider
        .store
        .revoke_parent_link(&student.id, link_id, audit, now)
        .await
}

/// The student lets relying parties know of a link, or stops: a consent, audited.
pub async fn share(
    provider: &Provider,
    student: &Identity,
    link_id: &str,
    shared: bool,
    context: &RequestContext,
) -> Result<bool, StoreError> {
    let changed = provider
        .store
        .share_parent_link(&student.id, link_id, shared)
        .await?;
    if changed {
        let audit = AuditEvent::new(events::PARENT_SHARING_CHANGED, provider.now(), context)
            .identity(student)
            .detail(if shared { "shared" } else { "not shared" });
        provider.store.record_audit(audit).await?;
    }
    Ok(changed)
}

/// What a presented invitation is.
pub async fn invitation(provider: &Provider, token: &str) -> Result<Invitation, StoreError> {
    provider
        .store
        .parent_invitation(&token::digest(token), provider.now())
        .await
}

/// What the parent typed on the invitation page. A parent who already has an identity
/// (invited by a brother or sister before) types only the password.
#[derive(Debug, Default)]
pub struct AcceptForm<'a> {
    pub family_name: &'a str,
    pub given_names: &'a str,
    pub birth_date: &'a str,
    pub password: &'a str,
    pub confirmation: &'a str,
}

#[derive(Debug)]
pub enum Accepted {
    Done(Box<Identity>),
    Refused(Vec<&'static str>),
    /// Unknown, used, expired or revoked.
    Invalid,
}

pub async fn accept(
    provider: &Provider,
    token: &str,
    form: AcceptForm<'_>,
    context: &RequestContext,
) -> Result<Accepted, AccountError> {
    let Invitation::Valid {
        link,
        parent,
        student,
    } = invitation(provider, token).await?
    else {
        return Ok(Accepted::Invalid);
    };
    let acceptor = match parent {
        // Only a parent account joins another student: a staff or student account (or a
        // locked one) is not turned into someone's parent by an invitation.
        Some(other)
            if !other.affiliations.contains(&Affiliation::Parent) || !other.can_sign_in() =>
        {
            return Ok(Accepted::Refused(vec!["parents.address_taken"]))
        }
        Some(parent) => {
            // The address signs in already: its password proves the invitation reached them
            // (checked as a sign-in is, on the same counters).
            use super::sign_in::{check_password_of, PasswordCheck};
            let ip = context.ip.as_deref();
            match check_password_of(provider, &parent, form.password, ip)
                .await
                .map_err(AccountError::from)?
            {
                PasswordCheck::Right => {}
                PasswordCheck::Wrong => {
                    return Ok(Accepted::Refused(vec!["parents.wrong_password"]))
                }
                PasswordCheck::Throttled(_) => {
                    return Ok(Accepted::Refused(vec!["login.throttled"]))
                }
                PasswordCheck::Busy => return Ok(Accepted::Refused(vec!["login.busy"])),
            }
            Acceptor::Existing(parent.id)
        }
        None => match new_parent(provider, &link.parent_email, &form).await? {
            Ok(new) => Acceptor::New(Box::new(new)),
            Err(refusals) => return Ok(Accepted::Refused(refusals)),
        },
    };
    let audit = AuditEvent::new(events::PARENT_LINKED, provider.now(), context);
    match provider
        .store
        .accept_parent_invitation(&token::digest(token), acceptor, audit, provider.now())
        .await
    {
        Ok(parent) => {
            // The student hears of every parent linked to them: an invitation sent from a
            // session someone else was using does not go unnoticed.
            let lang = &provider.settings.default_locale;
            let content = MailContent::parent_linked(&link.parent_email);
            if let Some(mail) = super::personal_notice(provider, &student, lang, content)? {
                provider.store.queue_mail(mail, provider.now()).await?;
            }
            Ok(Accepted::Done(Box::new(parent)))
        }
        Err(LinkError::Invalid) => Ok(Accepted::Invalid),
        Err(LinkError::Store(StoreError::Conflict(_))) => {
            Ok(Accepted::Refused(vec!["parents.address_taken"]))
        }
        Err(LinkError::Store(error)) => Err(error.into()),
    }
}

/// The new parent identity, or the refusals of the form.
async fn new_parent(
    provider: &Provider,
    email: &str,
    form: &AcceptForm<'_>,
) -> Result<Result<NewIdentity, Vec<&'static str>>, AccountError> {
    let mut refusals = Vec::new();
    let family_name = parse_name("family name", form.family_name);
    let given_names = parse_name("given names", form.given_names);
    let birth_date = BirthDate::parse(form.birth_date);
    if family_name.is_err() || given_names.is_err() {
        refusals.push("parents.invalid_name");
    }
    if birth_date.is_err() {
        refusals.push("parents.invalid_birth_date");
    }
    let number = parent_number();
    let context = PasswordContext {
        family_name: form.family_name,
        given_names: form.given_names,
        number: number.as_str(),
        birth_date: form.birth_date,
        has_second_factor: false,
    };
    refusals.extend(super::passwords::refusals_in(
        &provider.settings,
        &context,
        form.password,
        form.confirmation,
    ));
    let (Ok(family_name), Ok(given_names), Ok(birth_date), true) =
        (family_name, given_names, birth_date, refusals.is_empty())
    else {
        return Ok(Err(refusals));
    };
    let password_hash = provider.passwords.hash(form.password).await?;
    Ok(Ok(NewIdentity {
        number,
        family_name,
        given_names,
        birth_date,
        affiliations: vec![Affiliation::Parent],
        // The address they sign in with, and where their recovery mails go.
        institutional_email: Some(email.to_string()),
        personal_email: Some(email.to_string()),
        status: IdentityStatus::Active,
        password_hash: Some(password_hash),
        phone: None,
        must_change_password: false,
        activation_due_at: None,
    }))
}

/// Parents have no student number: `P` and ten random digits, never typed (they sign in
/// with their address), unique by the odds and by the column's constraint.
fn parent_number() -> StudentNumber {
    let digits: u64 = rand::rngs::OsRng.gen_range(0..10_000_000_000);
    StudentNumber::parse(&format!("P{digits:010}")).expect("letters and digits")
}
