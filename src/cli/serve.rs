use clap::Args;

use crate::config::Settings;
use crate::{telemetry, Application};

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Listen address (overrides `bind`).
    #[arg(long)]
    pub bind: Option<String>,
    /// Issuer URL (overrides `issuer`).
    #[arg(long)]
    pub issuer: Option<String>,
}

pub async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(bind) = args.bind {
        settings.bind = bind;
    }
    if let Some(issuer) = args.issuer {
        settings.issuer = issuer;
    }
    settings.validate()?;
    telemetry::init(&settings.log_format, "info");
    let application = Application::build(settings).await?;
    application.run_until_stopped().await?;
    Ok(())
}
