use clap::Subcommand;

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum CharterCommand {
    /// Publish a new version of the IT charter (Markdown or plain text); everyone accepts
    /// it at their next sign-in.
    Publish { file: std::path::PathBuf },
    /// Print the current version.
    Show,
}

pub async fn run(settings: Settings, command: CharterCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    match command {
        CharterCommand::Publish { file } => {
            let body = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if body.trim().is_empty() {
                anyhow::bail!("{}: the charter is empty", file.display());
            }
            let charter = store.publish_charter(body, SystemClock.now()).await?;
            println!("published version {}", charter.version);
        }
        CharterCommand::Show => match store.latest_charter().await? {
            Some(charter) => super::print_json(&charter)?,
            None => anyhow::bail!("no charter has been published"),
        },
    }
    Ok(())
}
