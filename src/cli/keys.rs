use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;
use crate::crypto::keys;
use crate::domain::client::SigningAlg;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key active (every algorithm unless --alg); old keys stay published.
    Rotate {
        #[arg(long, value_parser = parse_alg)]
        alg: Vec<SigningAlg>,
    },
    /// Stop publishing a key and delete it. The active key of an algorithm cannot be retired.
    Retire { kid: String },
    /// List the keys: algorithm, kid, creation time, active or published.
    List,
}

fn parse_alg(raw: &str) -> Result<SigningAlg, String> {
    raw.parse()
        .map_err(|e: crate::domain::Invalid| e.to_string())
}

/// Works on the key files only. Running servers load keys at start: restart them (one at
/// a time behind a load balancer) so they sign with the new key.
pub fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let dir = &settings.keys_dir;
    match command {
        KeysCommand::Rotate { alg } => {
            let algs = if alg.is_empty() {
                SigningAlg::ALL.to_vec()
            } else {
                alg
            };
            for alg in algs {
                let file = keys::generate(dir, alg, settings.rsa_key_bits)?;
                println!("{} {} active", file.alg, file.kid);
            }
        }
        KeysCommand::Retire { kid } => {
            let file = keys::retire(dir, &kid)?;
            println!("{} {} retired", file.alg, file.kid);
        }
        KeysCommand::List => {
            let list: Vec<_> = keys::list(dir)?
                .into_iter()
                .map(|f| {
                    json!({
                        "alg": f.alg.as_str(),
                        "kid": f.kid,
                        "created_ms": f.created_ms,
                        "state": if f.active { "active" } else { "published" },
                    })
                })
                .collect();
            super::print_json(&list)?;
        }
    }
    Ok(())
}
