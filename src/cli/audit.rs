use clap::Args;

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::identity::StudentNumber;
use crate::store::audit::AuditFilter;
use crate::store::Store;

/// `etupass audit`: the security events, newest first, as JSON lines.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this identity's events.
    #[arg(long)]
    pub number: Option<String>,
    /// Only this event (sign_in, sign_in_failed, activation, password_reset, theft_reported…).
    #[arg(long)]
    pub event: Option<String>,
    /// Only events younger than this (e.g. 24h, 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
}

pub async fn run(settings: Settings, args: AuditArgs) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    let identity_id = match &args.number {
        Some(number) => {
            let number = StudentNumber::parse(number)?;
            let identity = store
                .find_identity_by_number(&number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no identity has number {number}"))?;
            Some(identity.id)
        }
        None => None,
    };
    let filter = AuditFilter {
        identity_id,
        event: args.event,
        since: args.since.map(|d| SystemClock.now() - d.as_secs() as i64),
        limit: args.limit,
    };
    for event in store.list_audit(filter).await? {
        println!("{}", serde_json::to_string(&event)?);
    }
    Ok(())
}
