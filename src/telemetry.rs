//! Structured logs with tracing: text for people, JSON for collectors. `RUST_LOG` filters.
//! Secrets never reach a log line: they travel as `Secret`, whose Debug is redacted.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(format: &str, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second initialisation (tests spawning several servers) is harmless.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
