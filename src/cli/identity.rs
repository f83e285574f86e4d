use std::io::BufRead;

use clap::{Args, Subcommand};

use crate::account::enrollment;
use crate::account::provisioning::{self, IdentityInput};
use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::crypto::Secret;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::identity::StudentNumber;
use crate::provider::Provider;
use crate::store::lifecycle::AdminAction;
use crate::store::Store;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create one identity (active when --password-stdin gives a password).
    Add(AddIdentity),
    /// Show one identity by number.
    Show { number: String },
    /// Import the registrar's CSV export (see docs/enrollment.md).
    Import {
        file: std::path::PathBuf,
        /// All or nothing: one bad row and nothing is imported.
        #[arg(long)]
        strict: bool,
    },
    /// Move identities to alumni: `student` becomes `alumni`, the personal address is
    /// kept, and access narrows to the relying parties open to alumni.
    Graduate {
        /// Numbers to graduate.
        numbers: Vec<String>,
        /// A CSV file with a `number` column (the registrar's list of graduates).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Suspend an account and revoke its sessions and tokens.
    Lock { number: String },
    /// Reactivate a suspended account; the next sign-in asks for a new password.
    Unlock { number: String },
    /// Ask for a new password at the next sign-in.
    RequirePasswordChange { number: String },
    /// Turn two-factor sign-in off (a lost phone and no recovery code left, after the
    /// help desk checked who is asking). Where it is required, the next sign-in sets it up
    /// again.
    RemoveSecondFactor { number: String },
    /// Set a password (first line of standard input); it must be changed at next sign-in.
    SetPassword {
        number: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddIdentity {
    #[arg(long)]
    pub number: String,
    #[arg(long)]
    pub family_name: String,
    /// Given name(s).
    #[arg(long = "given-name", alias = "given-names")]
    pub given_names: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: String,
    /// student, staff, faculty, affiliate, alumni or parent (comma-separated or repeated).
    #[arg(long = "affiliation", required = true)]
    pub affiliations: Vec<String>,
    #[arg(long)]
    pub personal_email: Option<String>,
    /// Default: given.family@<eppn_domain>, made unique.
    #[arg(long)]
    pub institutional_email: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn run(settings: Settings, command: IdentityCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    match command {
        IdentityCommand::Add(args) => {
            let password = if args.password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let hasher = PasswordHasher::new(settings.argon2(), 1)?;
            let input = IdentityInput {
                number: args.number,
                family_name: args.family_name,
                given_names: args.given_names,
                birth_date: args.birth_date,
                affiliations: args.affiliations.join(","),
                personal_email: args.personal_email,
                institutional_email: args.institutional_email,
                password,
            };
            let identity = provisioning::add_identity(
                &store,
                &hasher,
                &settings.eppn_domain,
                input,
                SystemClock.now(),
            )
            .await?;
            super::print_json(&identity)
        }
        IdentityCommand::Import { file, strict } => import(&store, &settings, &file, strict).await,
        IdentityCommand::Graduate { numbers, file } => {
            graduate(&settings, numbers, file.as_deref()).await
        }
        IdentityCommand::Lock { number } => {
            admin(&settings, &number, AdminAction::Lock, events::LOCKED).await
        }
        IdentityCommand::Unlock { number } => {
            admin(&settings, &number, AdminAction::Unlock, events::UNLOCKED).await
        }
        IdentityCommand::RemoveSecondFactor { number } => {
            let number = StudentNumber::parse(&number)?;
            let identity = store
                .find_identity_by_number(&number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no identity has number {number}"))?;
            let audit = AuditEvent::new(
                events::SECOND_FACTOR_REMOVED,
                SystemClock.now(),
                &RequestContext::default(),
            )
            .identity(&identity)
            .detail("administrator");
            if store.remove_second_factor(&identity.id, audit).await? {
                println!("{number}: two-factor sign-in removed");
                Ok(())
            } else {
                anyhow::bail!("{number} has no two-factor sign-in")
            }
        }
        IdentityCommand::RequirePasswordChange { number } => {
            admin(
                &settings,
                &number,
                AdminAction::RequirePasswordChange,
                events::PASSWORD_CHANGE_REQUIRED,
            )
            .await
        }
        IdentityCommand::SetPassword { number, .. } => {
            let password = read_password()?;
            // A temporary password, changed at the next sign-in: long enough to resist
            // guessing until then, and never empty.
            if password.expose().chars().count() < 12 {
                anyhow::bail!("the temporary password must have at least 12 characters");
            }
            let hasher = PasswordHasher::new(settings.argon2(), 1)?;
            let hash = hasher.hash(password.expose()).await?;
            admin(
                &settings,
                &number,
                AdminAction::SetPassword(hash),
                events::PASSWORD_RESET,
            )
            .await
        }
        IdentityCommand::Show { number } => {
            let number = StudentNumber::parse(&number)?;
            match store.find_identity_by_number(&number).await? {
                Some(identity) => super::print_json(&identity),
                None => anyhow::bail!("no identity has number {number}"),
            }
        }
    }
}

/// The numbers of a graduates file: the `number` column (`numero`, `student_number`),
/// comma- or semicolon-separated, with the line of each.
fn graduates_file(path: &std::path::Path) -> anyhow::Result<Vec<(u64, String)>> {
    let input = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let first_line = input.split(|b| *b == b'\n').next().unwrap_or_default();
    let separator = if first_line.iter().filter(|b| **b == b';').count()
        > first_line.iter().filter(|b| **b == b',').count()
    {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .flexible(true)
        .from_reader(
            input
                .strip_prefix(b"\xEF\xBB\xBF".as_slice())
                .unwrap_or(&input),
        );
    let headers = reader.headers()?.clone();
    let column = headers
        .iter()
        .position(|h| {
            ["number", "numero", "numero_etudiant", "student_number"]
                .contains(&crate::domain::enrollment::fold_header(h).as_str())
        })
        .ok_or_else(|| anyhow::anyhow!("{}: no number column in the header", path.display()))?;
    let mut numbers = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if let Some(number) = record.get(column).map(str::trim).filter(|n| !n.is_empty()) {
            numbers.push((line, number.to_string()));
        }
    }
    Ok(numbers)
}

async fn graduate(
    settings: &Settings,
    numbers: Vec<String>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut wanted: Vec<(Option<u64>, String)> = numbers.into_iter().map(|n| (None, n)).collect();
    if let Some(file) = file {
        wanted.extend(graduates_file(file)?.into_iter().map(|(l, n)| (Some(l), n)));
    }
    if wanted.is_empty() {
        anyhow::bail!("name the graduates: numbers, or --file FILE");
    }
    let mut settings = settings.clone();
    settings.database_pool_size = 1;
    let provider = Provider::open(settings, Arc::new(SystemClock)).await?;
    let (mut graduated, mut already, mut rejected) = (0, 0, 0);
    for (line, raw) in wanted {
        let place = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        let identity = match StudentNumber::parse(&raw) {
            Ok(number) => provider.store.find_identity_by_number(&number).await?,
            Err(e) => {
                eprintln!("{place}{e}");
                rejected += 1;
                continue;
            }
        };
        match identity {
            Some(identity) => {
                if crate::account::administration::graduate(&provider, &identity).await? {
                    graduated += 1;
                } else {
                    already += 1;
                }
            }
            None => {
                eprintln!("{place}no identity has number {raw}");
                rejected += 1;
            }
        }
    }
    println!("{graduated} graduated, {already} already alumni, {rejected} rejected");
    Ok(())
}

fn read_password() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

async fn admin(
    settings: &Settings,
    number: &str,
    action: AdminAction,
    event: &str,
) -> anyhow::Result<()> {
    let number = StudentNumber::parse(number)?;
    // The whole provider: ending sessions signs logout tokens for the relying parties.
    // One connection is plenty for one command (the server keeps its own pool).
    let mut settings = settings.clone();
    settings.database_pool_size = 1;
    let provider = Provider::open(settings, Arc::new(SystemClock)).await?;
    let identity = provider
        .store
        .find_identity_by_number(&number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no identity has number {number}"))?;
    let now = SystemClock.now();
    let audit = AuditEvent::new(event, now, &RequestContext::default())
        .identity(&identity)
        .detail(format!("administrator: {action:?}").replace('"', ""));
    let audit = match &action {
        // Never the hash in the audit log.
        AdminAction::SetPassword(_) => audit.detail("administrator set the password"),
        _ => audit,
    };
    crate::account::administration::act(&provider, &identity, action, audit).await?;
    println!("{number}: done");
    Ok(())
}

async fn import(
    store: &Store,
    settings: &Settings,
    file: &std::path::Path,
    strict: bool,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let input = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} identities ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let report = enrollment::import(
        store,
        settings,
        &input,
        strict,
        SystemClock.now(),
        &progress,
    )
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for error in &report.errors {
        eprintln!("{error}");
    }
    if !report.ignored_columns.is_empty() {
        eprintln!("ignored columns: {}", report.ignored_columns.join(", "));
    }
    if !report.applied {
        anyhow::bail!(
            "--strict: {} bad row(s) of {}, nothing imported",
            report.errors.len(),
            report.rows
        );
    }
    println!(
        "{} rows: {} created, {} updated, {} unchanged, {} rejected",
        report.rows,
        report.created,
        report.updated,
        report.unchanged,
        report.errors.len()
    );
    Ok(())
}
