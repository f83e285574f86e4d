//! Progressive delays per IP address and per account name, kept in the database so every
//! instance counts the same. A delay, never a permanent lock: an attacker who types a
//! student's number a thousand times slows that number down, but cannot lock it for good.

use crate::provider::Provider;
use crate::store::throttles::ThrottleRule;
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

/// Keys are stored hashed: what people type as a sign-in name is sometimes a password,
/// and must not sit in a table in clear; hashing also bounds their length.
fn key(action: Action, kind: &str, value: &str) -> String {
    crate::crypto::token::digest(&format!("{}:{kind}:{value}", action.as_str()))
}

fn account_value(account: Option<&str>) -> Option<String> {
    account
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
}

fn keys(action: Action, ip: Option<&str>, account: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = ip {
        keys.push(key(action, "ip", ip));
    }
    if let Some(account) = account_value(account) {
        keys.push(key(action, "account", &account));
    }
    keys
}

fn rules(provider: &Provider) -> (ThrottleRule, ThrottleRule) {
    let s = &provider.settings;
    let base = s.throttle_base_delay.as_secs().max(1) as i64;
    let max = s.throttle_max_delay.as_secs().max(1) as i64;
    (
        ThrottleRule {
            free: s.throttle_ip_free_attempts,
            base,
            max,
        },
        ThrottleRule {
            free: s.throttle_account_free_attempts,
            base,
            max,
        },
    )
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
        .throttled_until(keys(action, ip, account), now)
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
        counted.push((key(action, "ip", ip), ip_rule));
    }
    if let Some(account) = account_value(account) {
        counted.push((key(action, "account", &account), account_rule));
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
                .clear_throttle(key(action, "account", &account))
                .await
        }
        None => Ok(()),
    }
}
