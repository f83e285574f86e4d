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

/// The text of a charter file: UTF-8 (a BOM dropped), not empty, no control characters
/// but line breaks and tabs (they would reach every student's page).
fn charter_text(bytes: &[u8]) -> Result<String, &'static str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| "the charter is not UTF-8 text")?;
    if text.trim().is_empty() {
        return Err("the charter is empty");
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("the charter holds control characters");
    }
    Ok(text.to_string())
}

pub async fn run(settings: Settings, command: CharterCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    match command {
        CharterCommand::Publish { file } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let body =
                charter_text(&bytes).map_err(|why| anyhow::anyhow!("{}: {why}", file.display()))?;
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

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any file: published as it is written, or refused with a reason; never a panic.
        #[test]
        fn any_charter_file_is_published_as_written_or_refused(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            text in "(?s).{0,200}",
        ) {
            let _ = charter_text(&bytes);
            match charter_text(text.as_bytes()) {
                Ok(published) => {
                    // A leading byte-order mark is the file's encoding, not its text.
                    let written = text.strip_prefix('\u{feff}').unwrap_or(&text);
                    prop_assert_eq!(published.as_str(), written);
                    prop_assert!(!written.trim().is_empty());
                }
                Err(why) => prop_assert!(!why.is_empty()),
            }
        }
    }

    #[test]
    fn empty_binary_and_bom_files() {
        assert!(charter_text(b"  \n").is_err());
        assert!(charter_text(b"\xff\xfe#").is_err());
        assert!(charter_text(b"a\x1bb").is_err());
        assert_eq!(charter_text(b"\xEF\xBB\xBF# Charte").unwrap(), "# Charte");
    }
}
