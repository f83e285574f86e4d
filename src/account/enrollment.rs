//! Enrollment: the registrar's CSV export becomes identities pending activation.
//! Idempotent (a re-import updates, never duplicates), every bad row reported with its
//! line, the good ones imported (or none with `strict`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::provisioning::institutional_local_part;
use crate::config::Settings;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::clock::UnixTime;
use crate::domain::enrollment::{self, EnrollmentRow, FileError, RowError};
use crate::domain::identity::Affiliation;
use crate::store::enrollment::{civil_key, DirectoryEntry, DirectoryIndex, EnrollmentChange};
use crate::store::{Store, StoreError};

/// Rows written per transaction when not strict: large enough to be fast, small enough
/// that a failure loses little and progress shows.
const CHUNK: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<String>,
    pub ignored_columns: Vec<String>,
    /// False when `strict` refused the whole file.
    pub applied: bool,
}

pub async fn import(
    store: &Store,
    settings: &Settings,
    input: &[u8],
    strict: bool,
    now: UnixTime,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let parsed = enrollment::parse(input)?;
    let mut report = ImportReport {
        rows: parsed.rows.len(),
        ignored_columns: parsed.ignored_columns.clone(),
        ..ImportReport::default()
    };
    let index = DirectoryIndex::new(store.load_directory().await?);
    let mut planner = Planner::new(settings, &index, &parsed.rows, now);
    let mut changes = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    for row in parsed.rows {
        match row.and_then(|row| planner.plan(row)) {
            Ok(Some(change)) => {
                match &change {
                    EnrollmentChange::Create { .. } => report.created += 1,
                    EnrollmentChange::Update { .. } => report.updated += 1,
                }
                changes.push(change);
            }
            Ok(None) => report.unchanged += 1,
            Err(error) => errors.push(error),
        }
    }
    report.errors = errors.iter().map(ToString::to_string).collect();
    if strict && !errors.is_empty() {
        report.created = 0;
        report.updated = 0;
        return Ok(report);
    }
    let total = changes.len() as u64;
    let summary = format!(
        "created {}, updated {}, unchanged {}, rejected {}",
        report.created,
        report.updated,
        report.unchanged,
        errors.len()
    );
    let audit = AuditEvent::new(events::IMPORTED, now, &RequestContext::default()).detail(summary);
    if strict {
        store.apply_enrollment(changes, Some(audit), now).await?;
        progress(total, total);
    } else {
        let mut done = 0u64;
        let mut chunks = changes.chunks(CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            store
                .apply_enrollment(chunk.to_vec(), last.then(|| audit.clone()), now)
                .await?;
            done += chunk.len() as u64;
            progress(done, total);
        }
    }
    report.applied = true;
    Ok(report)
}

/// Decides, row by row, what to create or update, keeping numbers and institutional
/// addresses unique across the directory and the file.
struct Planner<'a> {
    settings: &'a Settings,
    index: &'a DirectoryIndex,
    now: UnixTime,
    taken_numbers: HashSet<String>,
    taken_emails: HashSet<String>,
    next_number: u64,
    /// Rows without a number already planned as new people: (civil data) → line.
    new_people: HashMap<(String, String, String), u64>,
}

impl<'a> Planner<'a> {
    fn new(
        settings: &'a Settings,
        index: &'a DirectoryIndex,
        rows: &[Result<EnrollmentRow, RowError>],
        now: UnixTime,
    ) -> Self {
        let mut taken_numbers: HashSet<String> = index.by_number.keys().cloned().collect();
        for row in rows.iter().flatten() {
            if let Some(number) = &row.number {
                taken_numbers.insert(number.as_str().to_string());
            }
        }
        let taken_emails = index
            .by_number
            .values()
            .filter_map(|e| e.institutional_email.clone())
            .collect();
        let prefix = &settings.number_prefix;
        let highest = taken_numbers
            .iter()
            .filter_map(|n| n.strip_prefix(prefix.as_str()))
            .filter(|rest| {
                rest.len() == settings.number_digits && rest.bytes().all(|b| b.is_ascii_digit())
            })
            .filter_map(|rest| rest.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        Planner {
            settings,
            index,
            now,
            taken_numbers,
            taken_emails,
            next_number: highest + 1,
            new_people: HashMap::new(),
        }
    }

    fn plan(&mut self, row: EnrollmentRow) -> Result<Option<EnrollmentChange>, RowError> {
        let error = |reason: String| RowError {
            line: row.line,
            reason,
        };
        let existing: Option<&DirectoryEntry> = match &row.number {
            Some(number) => self.index.by_number.get(number.as_str()),
            None => {
                let key = civil_key(&row.family_name, &row.given_names, row.birth_date.as_str());
                match self.index.by_civil.get(&key).map(Vec::as_slice) {
                    Some([number]) => self.index.by_number.get(number),
                    Some([_, _, ..]) => {
                        return Err(error(
                            "several identities have these names and birth date: give the number"
                                .into(),
                        ))
                    }
                    _ => {
                        if let Some(first) = self.new_people.insert(key, row.line) {
                            return Err(error(format!(
                                "the same person as on line {first}, without a number"
                            )));
                        }
                        None
                    }
                }
            }
        };
        if let Some(email) = &row.institutional_email {
            let ours = existing.is_some_and(|e| e.institutional_email.as_deref() == Some(email));
            if !ours
                && (self.index.by_email.contains_key(email) || self.taken_emails.contains(email))
            {
                return Err(error(format!(
                    "institutional_email: '{email}' belongs to another identity"
                )));
            }
        }
        let affiliations = Affiliation::join(&row.affiliations);
        let group_names = serde_json::to_string(&row.groups).expect("a list of strings serializes");
        match existing {
            Some(entry) => {
                let unchanged = entry.family_name == row.family_name
                    && entry.given_names == row.given_names
                    && entry.birth_date == row.birth_date.as_str()
                    && entry.affiliations == affiliations
                    && entry.personal_email.as_deref() == Some(row.personal_email.as_str())
                    && entry.phone == row.phone
                    && entry.postal_address == row.postal_address
                    && entry.group_names == group_names
                    && row
                        .institutional_email
                        .as_ref()
                        .is_none_or(|e| entry.institutional_email.as_ref() == Some(e));
                if unchanged {
                    return Ok(None);
                }
                if let Some(email) = &row.institutional_email {
                    self.taken_emails.insert(email.clone());
                }
                Ok(Some(EnrollmentChange::Update {
                    id: entry.id.clone(),
                    family_name: row.family_name,
                    given_names: row.given_names,
                    birth_date: row.birth_date.as_str().to_string(),
                    affiliations,
                    institutional_email: row.institutional_email,
                    personal_email: row.personal_email,
                    phone: row.phone,
                    postal_address: row.postal_address,
                    group_names,
                }))
            }
            None => {
                let number = match &row.number {
                    Some(number) => number.as_str().to_string(),
                    None => self.assign_number(),
                };
                let institutional_email = match row.institutional_email {
                    Some(email) => email,
                    None => self.free_email(&row.given_names, &row.family_name),
                };
                self.taken_emails.insert(institutional_email.clone());
                Ok(Some(EnrollmentChange::Create {
                    number,
                    family_name: row.family_name,
                    given_names: row.given_names,
                    birth_date: row.birth_date.as_str().to_string(),
                    affiliations,
                    institutional_email,
                    personal_email: row.personal_email,
                    phone: row.phone,
                    postal_address: row.postal_address,
                    group_names,
                    activation_due_at: self.now + self.settings.activation_delay.as_secs() as i64,
                }))
            }
        }
    }

    fn assign_number(&mut self) -> String {
        loop {
            let candidate = format!(
                "{}{:0width$}",
                self.settings.number_prefix,
                self.next_number,
                width = self.settings.number_digits
            );
            self.next_number += 1;
            if self.taken_numbers.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    fn free_email(&self, given: &str, family: &str) -> String {
        let local = institutional_local_part(given, family);
        let domain = &self.settings.eppn_domain;
        (1..)
            .map(|n| {
                if n == 1 {
                    format!("{local}@{domain}")
                } else {
                    format!("{local}{n}@{domain}")
                }
            })
            .find(|candidate| !self.taken_emails.contains(candidate))
            .expect("an unbounded range always has a free address")
    }
}
