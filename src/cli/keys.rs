use clap::Subcommand;

use crate::config::Settings;
use crate::crypto::key_set::{self, format_time, KeyListing, KeySetSettings};
use crate::domain::client::SigningAlg;
use crate::domain::clock::{Clock, SystemClock};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new key (every algorithm unless --alg). It is published at once and signs
    /// once every instance has published it for the JWKS cache lifetime; the key it
    /// replaces stays published until the tokens it signed have expired.
    Rotate {
        #[arg(long, value_parser = parse_alg)]
        alg: Vec<SigningAlg>,
    },
    /// Remove a key. Refused while it signs or tokens it signed are valid, unless --force
    /// (a compromised key: the access tokens it signed are revoked, and an active key is
    /// replaced at once).
    Retire {
        /// A kid may begin with '-' (base64url): it is still the kid, not an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[arg(long)]
        force: bool,
    },
    /// List the keys: algorithm, kid, state (next, active, retired) and when it changes.
    List,
    /// Seal the key set under a new key-encryption key (keys/key-encryption.key).
    Rewrap,
}

fn parse_alg(raw: &str) -> Result<SigningAlg, String> {
    raw.parse()
        .map_err(|e: crate::domain::Invalid| e.to_string())
}

/// Works on the key set in the database; running instances pick changes up within
/// `keys_reload_interval`.
pub async fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    let now = SystemClock.now();
    let (_, ring) = key_set::open(KeySetSettings::from(&settings), &store, now).await?;
    match command {
        KeysCommand::Rotate { alg } => {
            let algs = if alg.is_empty() {
                SigningAlg::ALL.to_vec()
            } else {
                alg
            };
            for key in ring.rotate(&algs, &SystemClock).await? {
                println!(
                    "{} {} published, signs from {}",
                    key.alg,
                    key.kid,
                    format_time(key.signs_from)
                );
            }
        }
        KeysCommand::Retire { kid, force } => {
            let retired = ring.retire(&kid, force, now).await?;
            println!("{} {} removed", retired.alg, retired.kid);
            if force {
                println!("{} access tokens it signed revoked", retired.revoked_tokens);
            }
            if let Some(replacement) = retired.replacement {
                println!("{} {replacement} signs from now", retired.alg);
            }
        }
        KeysCommand::List => {
            let listing: Vec<_> = ring.list(now).await?.iter().map(describe).collect();
            super::print_json(&listing)?;
        }
        KeysCommand::Rewrap => {
            let (secrets, keys) = ring.rewrap().await?;
            println!(
                "{secrets} secrets and {keys} signing keys sealed under a new {}; copy it to every instance's keys_dir",
                settings.keys_dir.join(key_set::KEK_FILE).display()
            );
        }
    }
    Ok(())
}

fn describe(key: &KeyListing) -> serde_json::Value {
    let mut value = serde_json::to_value(key).expect("a listing serializes");
    let times = [
        ("published", Some(key.published_at)),
        ("signs_from", Some(key.signs_from)),
        ("stops_signing", key.life.stops_signing_at),
        ("removed", key.life.removed_at),
    ];
    for (name, at) in times {
        if let Some(at) = at {
            value[format!("{name}_at_utc")] = format_time(at).into();
        }
    }
    value
}
