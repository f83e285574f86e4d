//! Progressive delays per IP address and per account, kept in the database so every
//! instance counts the same. Password checks count each attempt before hashing (and give
//! it back on success), keyed on the account whatever alias was typed, and a browser the
//! owner signed in from before has a counter of its own: strangers failing from anywhere
//! else slow the account down, up to a lockout after 100 failures in a row (NIST SP
//! 800-63B), but do not keep the owner out of a device they used before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::provider::Provider;
use crate::store::throttles::{AttemptTaken, ThrottleRule};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    SignIn,
    PasswordReset,
    NumberRecovery,
    Activation,
    TheftReport,
    /// Typing user codes at `/device`.
    DeviceCode,
    /// App passwords checked by the mail or RADIUS server.
    AppPassword,
    /// Changes of the personal address asked for (each sends two mails).
    EmailChange,
    /// Wrong second-factor codes (six digits must not be guessable at leisure).
    SecondFactor,
    /// Invitations a student sends to parents (each sends a mail).
    ParentInvitation,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::PasswordReset => "password_reset",
            Action::NumberRecovery => "number_recovery",
            Action::Activation => "activation",
            Action::TheftReport => "theft_report",
            Action::DeviceCode => "device_code",
            Action::AppPassword => "app_password",
            Action::EmailChange => "email_change",
            Action::SecondFactor => "second_factor",
            Action::ParentInvitation => "parent_invitation",
        }
    }
}

/// Seconds to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub i64);

/// Whose failures a guarded attempt (a password checked) counts against, besides the
/// address it comes from.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An account that exists, by its id: one counter whichever alias was typed (the
    /// number, the institutional address).
    Identity(&'a str),
    /// A browser the account's owner signed in from before (its device cookie): a
    /// counter of its own, so strangers failing elsewhere do not lock the owner out
    /// (the OWASP "device cookie" scheme).
    Device {
        identity_id: &'a str,
        device: &'a str,
    },
    /// What was typed, when no account matches: unknown names are slowed down alike.
    Typed(&'a str),
}

impl Subject<'_> {
    fn key(&self, provider: &Provider, action: Action) -> Option<String> {
        match self {
            Subject::Identity(id) => Some(key(provider, action, "identity", id)),
            Subject::Device {
                identity_id,
                device,
            } => Some(key(
                provider,
                action,
                "device",
                &format!("{identity_id}:{device}"),
            )),
            // Folded as the look-up folds it (addresses lower-cased, numbers as typed), so
            // that two spellings share a counter exactly when they would name one account.
            Subject::Typed(typed) => {
                let typed = typed.trim();
                let folded = if typed.contains('@') {
                    typed.to_lowercase()
                } else {
                    typed.to_string()
                };
                (!folded.is_empty()).then(|| key(provider, action, "account", &folded))
            }
        }
    }
}

/// What a guarded attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go on; the subject's failures in a row so far, this attempt included.
    Allowed {
        subject_failures: i64,
    },
    Throttled(Throttled),
}

/// Keys are HMACs under the server key: what people type as a sign-in name is sometimes
/// a password, and must not sit in a table in clear nor as a digest anyone can test
/// guesses against; hashing also bounds their length.
fn key(provider: &Provider, action: Action, kind: &str, value: &str) -> String {
    let value = match kind {
        "ip" => address_block(value),
        _ => value.to_string(),
    };
    crate::crypto::token::derive(
        &provider.token_secret,
        &format!("throttle:{}:{kind}:{value}", action.as_str()),
    )
}

/// What an address counts as: an IPv4 address itself, an IPv6 address by its /64 (one
/// subscriber gets a whole /64: counting each address apart would give an attacker
/// endless fresh ones). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn address_block(address: &str) -> String {
    match address
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical())
    {
        Ok(std::net::IpAddr::V6(ip)) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(ip) => ip.to_string(),
        Err(_) => address.to_string(),
    }
}

fn account_value(account: Option<&str>) -> Option<String> {
    account
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
}

fn keys(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    account: Option<&str>,
) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = ip {
        keys.push(key(provider, action, "ip", ip));
    }
    if let Some(account) = account_value(account) {
        keys.push(key(provider, action, "account", &account));
    }
    keys
}

fn rules(provider: &Provider) -> (ThrottleRule, ThrottleRule) {
    let s = &provider.settings;
    let base = s.throttle_base_delay.as_secs().max(1) as i64;
    let max = s.throttle_max_delay.as_secs().max(1) as i64;
    (
        ThrottleRule::delays(s.throttle_ip_free_attempts, base, max),
        ThrottleRule::delays(s.throttle_account_free_attempts, base, max),
    )
}

/// The rule of an account (or one of its devices) for guarded attempts: growing delays,
/// then a lockout after `throttle_account_lockout_after` failures in a row.
fn subject_rule(provider: &Provider) -> ThrottleRule {
    let s = &provider.settings;
    let (_, account) = rules(provider);
    ThrottleRule {
        lockout_after: Some(s.throttle_account_lockout_after),
        lockout: s.throttle_account_lockout.as_secs() as i64,
        ..account
    }
}

/// Counts an attempt before its work (a password hash) against the address and the
/// subject, atomically with the check: unless one of them is blocked, in which case
/// nothing is counted. A success gives the attempt back (`refund`).
pub async fn attempt(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    subject: Subject<'_>,
) -> Result<Attempt, StoreError> {
    let (ip_rule, _) = rules(provider);
    let mut keys = Vec::with_capacity(2);
    if let Some(ip) = ip {
        keys.push((key(provider, action, "ip", ip), ip_rule));
    }
    if let Some(key) = subject.key(provider, action) {
        keys.push((key, subject_rule(provider)));
    }
    take(provider, keys).await
}

/// A guarded attempt that was never made (the hashing queue was full): the address and
/// the subject each get that one attempt back, and keep the rest of their count.
pub async fn give_back(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    subject: Subject<'_>,
) -> Result<(), StoreError> {
    if let Some(ip) = ip {
        provider
            .store
            .refund_throttle_attempt(key(provider, action, "ip", ip))
            .await?;
    }
    if let Some(key) = subject.key(provider, action) {
        provider.store.refund_throttle_attempt(key).await?;
    }
    Ok(())
}

/// A guarded attempt that succeeded: the address gets its attempt back, the subject's
/// failures are forgotten.
pub async fn refund(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    subject: Subject<'_>,
) -> Result<(), StoreError> {
    provider
        .store
        .settle_throttle(
            ip.map(|ip| key(provider, action, "ip", ip)),
            subject.key(provider, action),
        )
        .await
}

/// An app password checked by the mail or RADIUS server for `end_user` (the address or
/// station the person connects from, as the server saw it): counted per account, purpose
/// and end user, so junk logins from elsewhere do not switch off the owner's phone or
/// laptop, and per account and purpose alone with a higher ceiling
/// (`throttle_app_password_account_free_attempts`). An end user who used a right app
/// password before is exempt from that ceiling: a stranger who makes up station ids
/// cannot block the owner's own devices.
pub async fn attempt_app_password(
    provider: &Provider,
    subject: Subject<'_>,
    purpose: &str,
    end_user: Option<&str>,
) -> Result<Attempt, StoreError> {
    let keys = app_password_keys(provider, subject, purpose, end_user);
    let Some(account) = keys.account else {
        return Ok(Attempt::Allowed {
            subject_failures: 0,
        });
    };
    let (_, per_end_user) = rules(provider);
    let per_account = ThrottleRule {
        free: provider
            .settings
            .throttle_app_password_account_free_attempts,
        ..per_end_user
    };
    let mut counted = Vec::with_capacity(2);
    let mut known = false;
    if let (Some(pair), Some(known_key)) = (keys.end_user, keys.known) {
        known = provider.store.throttle_key_exists(known_key).await?;
        counted.push((pair, per_end_user));
    }
    if !known {
        counted.push((account, per_account));
    }
    take(provider, counted).await
}

/// An app password accepted: the end user's failures are forgotten and it becomes known
/// (exempt from the account-wide ceiling); the account gets its attempt back.
pub async fn refund_app_password(
    provider: &Provider,
    subject: Subject<'_>,
    purpose: &str,
    end_user: Option<&str>,
) -> Result<(), StoreError> {
    let keys = app_password_keys(provider, subject, purpose, end_user);
    let Some(account) = keys.account else {
        return Ok(());
    };
    if let (Some(pair), Some(known)) = (keys.end_user, keys.known) {
        provider.store.clear_throttle(pair).await?;
        provider
            .store
            .mark_throttle_key(known, provider.now())
            .await?;
    }
    provider.store.refund_throttle_attempt(account).await
}

/// Forgets an account's app-password failures of every purpose (an administrator's
/// unlock).
pub async fn clear_app_password_account(
    provider: &Provider,
    subject: Subject<'_>,
) -> Result<(), StoreError> {
    for purpose in [
        crate::domain::app_password::Purpose::Mail,
        crate::domain::app_password::Purpose::Wifi,
    ] {
        if let Some(account) = app_password_keys(provider, subject, purpose.as_str(), None).account
        {
            provider.store.clear_throttle(account).await?;
        }
    }
    Ok(())
}

struct AppPasswordKeys {
    account: Option<String>,
    end_user: Option<String>,
    /// Marks an end user that used a right app password of this account and purpose.
    known: Option<String>,
}

fn app_password_keys(
    provider: &Provider,
    subject: Subject<'_>,
    purpose: &str,
    end_user: Option<&str>,
) -> AppPasswordKeys {
    let action = Action::AppPassword;
    let account = subject
        .key(provider, action)
        .map(|account| key(provider, action, purpose, &account));
    let end_user = end_user.map(str::trim).filter(|e| !e.is_empty());
    let pair = |kind: &str| {
        account.as_ref().zip(end_user).map(|(account, end_user)| {
            key(provider, action, kind, &format!("{account}:{end_user}"))
        })
    };
    AppPasswordKeys {
        end_user: pair("end_user"),
        known: pair("known_end_user"),
        account,
    }
}

async fn take(
    provider: &Provider,
    keys: Vec<(String, ThrottleRule)>,
) -> Result<Attempt, StoreError> {
    let now = provider.now();
    Ok(
        match provider.store.take_throttled_attempt(keys, now).await? {
            AttemptTaken::Blocked(until) => Attempt::Throttled(Throttled((until - now).max(1))),
            AttemptTaken::Counted(failures) => Attempt::Allowed {
                subject_failures: failures.last().copied().unwrap_or(0),
            },
        },
    )
}

/// Counts a request (one that mails someone) against the address and the name, atomically
/// with the check (`Store::take_throttled_attempt`): a burst sent in parallel cannot all
/// pass the check before any is counted, so it cannot flood a mailbox. `Some` when it
/// must wait (nothing counted then).
pub async fn take_request(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    account: Option<&str>,
) -> Result<Option<Throttled>, StoreError> {
    let (ip_rule, account_rule) = rules(provider);
    let mut keys = Vec::with_capacity(2);
    if let Some(ip) = ip {
        keys.push((key(provider, action, "ip", ip), ip_rule));
    }
    if let Some(account) = account_value(account) {
        keys.push((key(provider, action, "account", &account), account_rule));
    }
    Ok(match take(provider, keys).await? {
        Attempt::Throttled(wait) => Some(wait),
        Attempt::Allowed { .. } => None,
    })
}

/// Whether the action must wait.
pub async fn check(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    account: Option<&str>,
) -> Result<Option<Throttled>, StoreError> {
    let now = provider.now();
    let until = provider
        .store
        .throttled_until(keys(provider, action, ip, account), now)
        .await?;
    Ok(until.map(|until| Throttled(until - now)))
}

/// Counts one failure (sign-in) or one request (mailing actions) against both keys.
pub async fn count(
    provider: &Provider,
    action: Action,
    ip: Option<&str>,
    account: Option<&str>,
) -> Result<(), StoreError> {
    let (ip_rule, account_rule) = rules(provider);
    let mut counted = Vec::new();
    if let Some(ip) = ip {
        counted.push((key(provider, action, "ip", ip), ip_rule));
    }
    if let Some(account) = account_value(account) {
        counted.push((key(provider, action, "account", &account), account_rule));
    }
    provider
        .store
        .record_throttle_failures(counted, provider.now())
        .await
}

/// A success forgets the account's failures (the IP's stay: one IP, many accounts).
pub async fn clear(provider: &Provider, action: Action, account: &str) -> Result<(), StoreError> {
    match account_value(Some(account)) {
        Some(account) => {
            provider
                .store
                .clear_throttle(key(provider, action, "account", &account))
                .await
        }
        None => Ok(()),
    }
}

/// Forgets an account's guarded failures (a password reset proves the owner).
pub async fn clear_subject(
    provider: &Provider,
    action: Action,
    subject: Subject<'_>,
) -> Result<(), StoreError> {
    match subject.key(provider, action) {
        Some(key) => provider.store.clear_throttle(key).await,
        None => Ok(()),
    }
}

/// Attempts in progress per address on this instance: a burst from one address waits
/// for none of its own hashes, it is refused at once past `limit`. (Per instance by
/// nature: it bounds this instance's hashing queue, not a count that must be shared.)
#[derive(Debug, Default)]
pub struct InFlight {
    by_address: Arc<Mutex<HashMap<String, u32>>>,
}

/// One attempt in progress; dropping it ends it.
#[derive(Debug)]
pub struct InFlightGuard {
    by_address: Arc<Mutex<HashMap<String, u32>>>,
    address: String,
}

impl InFlight {
    /// Enters an attempt from `address` (by its block, as the counters count it), unless
    /// `limit` are in progress already.
    pub fn enter(&self, address: &str, limit: u32) -> Option<InFlightGuard> {
        let address = address_block(address);
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(address.clone()).or_insert(0);
        if *count >= limit.max(1) {
            return None;
        }
        *count += 1;
        Some(InFlightGuard {
            by_address: self.by_address.clone(),
            address,
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ones_as_ipv4() {
        assert_eq!(address_block("192.0.2.7"), "192.0.2.7");
        assert_eq!(
            address_block("2001:db8:1:2:aaaa::1"),
            address_block("2001:db8:1:2:ffff::9"),
            "one /64"
        );
        assert_ne!(
            address_block("2001:db8:1:2::1"),
            address_block("2001:db8:1:3::1")
        );
        assert_eq!(address_block("::ffff:192.0.2.7"), "192.0.2.7");
        let in_flight = InFlight::default();
        let _a = in_flight.enter("2001:db8::1", 1).unwrap();
        assert!(in_flight.enter("2001:db8::2", 1).is_none(), "the same /64");
    }

    #[test]
    fn in_flight_attempts_are_bounded_per_address() {
        let in_flight = InFlight::default();
        let a = in_flight.enter("192.0.2.1", 2).unwrap();
        let _b = in_flight.enter("192.0.2.1", 2).unwrap();
        assert!(in_flight.enter("192.0.2.1", 2).is_none());
        assert!(in_flight.enter("192.0.2.2", 2).is_some(), "another address");
        drop(a);
        assert!(in_flight.enter("192.0.2.1", 2).is_some(), "freed on drop");
    }
}
