use clap::Parser;

use etupass::cli::{self, Cli};

#[actix_web::main]
async fn main() {
    etupass::crypto::init();
    let cli = Cli::parse();
    if let Err(error) = cli::run(cli).await {
        eprintln!("etupass: {error:#}");
        std::process::exit(1);
    }
}
