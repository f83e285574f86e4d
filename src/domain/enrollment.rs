//! The registrar's CSV export, read into checked enrollment rows: bytes in, no file, no SQL.
//!
//! `etupass identity import` reads the file, calls [`parse`], reports every [`RowError`]
//! with its line and stores the good rows. The format is described in `docs/enrollment.md`.
//!
//! Line numbers are those a person sees in an editor: the header is line 1, blank lines
//! count, and a quoted field that spans lines moves the next row down. They are computed
//! from the byte offset of each record rather than from `csv::Position::line`, which is
//! taken before the reader skips blank lines and before it consumes the `\n` of a `\r\n`.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use csv::ByteRecord;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::identity::{parse_email, parse_name, Affiliation, BirthDate, StudentNumber};
use super::Invalid;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One valid row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRow {
    /// 1-based line where the row starts; the header is line 1.
    pub line: u64,
    pub number: Option<StudentNumber>,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: BirthDate,
    pub affiliations: Vec<Affiliation>,
    pub personal_email: String,
    pub institutional_email: Option<String>,
    pub phone: Option<String>,
    /// One text, lines separated by newlines (the `address` claim's `formatted`).
    pub postal_address: Option<String>,
    /// Groups the person belongs to (the `groups` claim), in the order given.
    pub groups: Vec<String>,
}

/// Why one row was refused: the first problem found, naming the column and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// The file as a whole cannot be read: nothing in it should be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty: its first line must name the columns")]
    Empty,
    #[error("the header lacks the required column(s): {}", .0.join(", "))]
    MissingColumns(Vec<&'static str>),
    #[error("the column {0} appears more than once in the header")]
    DuplicateColumn(String),
    #[error("line {line} is not UTF-8 text: save the file as \"CSV UTF-8\"")]
    Encoding { line: u64 },
    #[error("the file cannot be read as CSV: {0}")]
    Csv(String),
}

/// Every non-blank row after the header, in file order, each valid or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    pub rows: Vec<Result<EnrollmentRow, RowError>>,
    /// Header names that match no known column, as written, for the importer to warn about.
    pub ignored_columns: Vec<String>,
    /// `b','` or `b';'`, as detected from the header line.
    pub separator: u8,
}

/// Reads a registrar export: UTF-8 (with or without a BOM), `,` or `;` separated, with a
/// header line naming the columns.
pub fn parse(input: &[u8]) -> Result<ParsedFile, FileError> {
    if input.starts_with(b"\xFF\xFE") || input.starts_with(b"\xFE\xFF") {
        // UTF-16 ("Unicode text" in some spreadsheets): refused as a whole.
        return Err(FileError::Encoding { line: 1 });
    }
    let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    let separator = detect_separator(input);
    let lines = LineStarts::new(input);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = ByteRecord::new();

    if !next_record(&mut reader, &mut record)? {
        return Err(FileError::Empty);
    }
    let (header, ignored_columns) = read_header(&record, lines.record_line(input, &record))?;

    let mut rows = Vec::new();
    let mut numbers: HashMap<StudentNumber, u64> = HashMap::new();
    while next_record(&mut reader, &mut record)? {
        let line = lines.record_line(input, &record);
        let row = read_row(&header, &record, line, &mut numbers)
            .map_err(|reason| RowError { line, reason });
        rows.push(row);
    }
    Ok(ParsedFile {
        rows,
        ignored_columns,
        separator,
    })
}

/// The known columns, in the order their errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Number,
    FamilyName,
    GivenNames,
    BirthDate,
    Affiliation,
    PersonalEmail,
    InstitutionalEmail,
    Phone,
    Address,
    Groups,
}

impl Column {
    const COUNT: usize = 10;
    /// In declaration order: `column as usize` indexes this array.
    const ALL: [Column; Column::COUNT] = [
        Column::Number,
        Column::FamilyName,
        Column::GivenNames,
        Column::BirthDate,
        Column::Affiliation,
        Column::PersonalEmail,
        Column::InstitutionalEmail,
        Column::Phone,
        Column::Address,
        Column::Groups,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Number => "number",
            Column::FamilyName => "family_name",
            Column::GivenNames => "given_names",
            Column::BirthDate => "birth_date",
            Column::Affiliation => "affiliation",
            Column::PersonalEmail => "personal_email",
            Column::InstitutionalEmail => "institutional_email",
            Column::Phone => "phone",
            Column::Address => "address",
            Column::Groups => "groups",
        }
    }

    /// Accepted header names, folded as [`fold_header`] does.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Number => &["number", "numero", "numero_etudiant", "student_number"],
            Column::FamilyName => &["family_name", "nom", "nom_famille"],
            Column::GivenNames => &["given_names", "given_name", "prenom", "prenoms"],
            Column::BirthDate => &["birth_date", "date_naissance", "date_de_naissance"],
            Column::Affiliation => &["affiliation", "affiliations"],
            Column::PersonalEmail => &[
                "personal_email",
                "mail_perso",
                "email_perso",
                "courriel_perso",
            ],
            Column::InstitutionalEmail => &["institutional_email", "mail_institutionnel"],
            Column::Phone => &["phone", "telephone"],
            Column::Address => &["address", "postal_address", "adresse", "adresse_postale"],
            Column::Groups => &["groups", "groupes"],
        }
    }

    fn required(self) -> bool {
        !matches!(
            self,
            Column::Number
                | Column::InstitutionalEmail
                | Column::Phone
                | Column::Address
                | Column::Groups
        )
    }

    fn from_header(raw: &str) -> Option<Column> {
        let folded = fold_header(raw);
        Column::ALL
            .into_iter()
            .find(|column| column.aliases().contains(&folded.as_str()))
    }
}

/// Header names compare trimmed, lower-cased, without diacritics, with runs of spaces,
/// '-' and '_' read as one '_' ("Date de naissance" is `date_de_naissance`).
pub fn fold_header(raw: &str) -> String {
    let mut folded = String::new();
    let chars = raw
        .trim()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase);
    for c in chars {
        if c.is_whitespace() || c == '-' || c == '_' {
            if !folded.ends_with('_') {
                folded.push('_');
            }
        } else {
            folded.push(c);
        }
    }
    folded
}

/// Whichever of ',' and ';' appears more often outside quotes on the first non-empty
/// line; ',' on a tie.
fn detect_separator(input: &[u8]) -> u8 {
    let start = input
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(input.len());
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &b in &input[start..] {
        match b {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

/// Byte offsets where lines begin; `\n`, `\r\n` and a lone `\r` each end a line, as for
/// the CSV reader.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(input: &[u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && input.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        LineStarts(starts)
    }

    /// The line on which a record read from `input` begins.
    fn record_line(&self, input: &[u8], record: &ByteRecord) -> u64 {
        // The reader records where it started, which is before the blank lines it skips
        // (and before the '\n' of the previous record's "\r\n").
        let mut start = record.position().map_or(0, |p| p.byte() as usize);
        while matches!(input.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.0.partition_point(|&line_start| line_start <= start) as u64
    }
}

/// Reads the next record that holds something other than blanks and separators.
fn next_record(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut ByteRecord,
) -> Result<bool, FileError> {
    loop {
        let more = reader
            .read_byte_record(record)
            .map_err(|error| FileError::Csv(error.to_string()))?;
        if !more {
            return Ok(false);
        }
        if !record
            .iter()
            .all(|field| field.iter().all(u8::is_ascii_whitespace))
        {
            return Ok(true);
        }
    }
}

/// Where each known column is in a row, and how many fields a row must have.
struct Header {
    index: [Option<usize>; Column::COUNT],
    width: usize,
}

fn read_header(record: &ByteRecord, line: u64) -> Result<(Header, Vec<String>), FileError> {
    let mut index = [None; Column::COUNT];
    let mut ignored = Vec::new();
    for (position, raw) in record.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| FileError::Encoding { line })?
            .trim();
        if name.is_empty() {
            continue;
        }
        match Column::from_header(name) {
            Some(column) => {
                let slot = &mut index[column as usize];
                if slot.is_some() {
                    return Err(FileError::DuplicateColumn(column.name().to_string()));
                }
                *slot = Some(position);
            }
            None => ignored.push(name.to_string()),
        }
    }
    let missing: Vec<&'static str> = Column::ALL
        .into_iter()
        .filter(|column| column.required() && index[*column as usize].is_none())
        .map(Column::name)
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }
    let header = Header {
        index,
        width: record.len(),
    };
    Ok((header, ignored))
}

/// Checks one row; the error is the reason, without the line.
fn read_row(
    header: &Header,
    record: &ByteRecord,
    line: u64,
    numbers: &mut HashMap<StudentNumber, u64>,
) -> Result<EnrollmentRow, String> {
    if record.len() != header.width {
        return Err(format!(
            "the row has {} fields but the header has {}",
            record.len(),
            header.width
        ));
    }
    let fields = Fields { header, record };

    let number = fields.optional(Column::Number, StudentNumber::parse)?;
    if let Some(number) = &number {
        // Recorded even when a later field fails, so both rows are shown to the person.
        if let Some(first) = numbers.get(number) {
            return Err(format!(
                "number: '{number}' already appears on line {first}"
            ));
        }
        numbers.insert(number.clone(), line);
    }
    Ok(EnrollmentRow {
        line,
        number,
        family_name: fields.required(Column::FamilyName, |raw| parse_name("family name", raw))?,
        given_names: fields.required(Column::GivenNames, |raw| parse_name("given names", raw))?,
        birth_date: fields.required(Column::BirthDate, parse_birth_date)?,
        affiliations: fields.required(Column::Affiliation, Affiliation::parse_list)?,
        personal_email: fields.required(Column::PersonalEmail, parse_email)?,
        institutional_email: fields.optional(Column::InstitutionalEmail, parse_email)?,
        phone: fields.optional(Column::Phone, parse_phone)?,
        postal_address: fields.optional(Column::Address, parse_address)?,
        groups: fields
            .optional(Column::Groups, parse_groups)?
            .unwrap_or_default(),
    })
}

struct Fields<'a> {
    header: &'a Header,
    record: &'a ByteRecord,
}

impl<'a> Fields<'a> {
    /// The trimmed text of a column; `None` when the file has no such column or the cell
    /// is blank.
    fn get(&self, column: Column) -> Result<Option<&'a str>, String> {
        let Some(position) = self.header.index[column as usize] else {
            return Ok(None);
        };
        let bytes = self.record.get(position).unwrap_or(&[]);
        let text = std::str::from_utf8(bytes).map_err(|_| {
            format!(
                "{}: '{}' is not UTF-8 text: save the file as \"CSV UTF-8\"",
                column.name(),
                String::from_utf8_lossy(bytes).trim()
            )
        })?;
        let text = text.trim();
        Ok((!text.is_empty()).then_some(text))
    }

    fn required<T>(
        &self,
        column: Column,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Result<T, String> {
        let raw = self
            .get(column)?
            .ok_or_else(|| format!("{}: the value is empty", column.name()))?;
        parse(raw).map_err(|error| refused(column, raw, error))
    }

    fn optional<T>(
        &self,
        column: Column,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Result<Option<T>, String> {
        match self.get(column)? {
            None => Ok(None),
            Some(raw) => parse(raw)
                .map(Some)
                .map_err(|error| refused(column, raw, error)),
        }
    }
}

/// "column: message", with the value quoted unless the message already quotes it.
fn refused(column: Column, value: &str, error: Invalid) -> String {
    let message = error.0;
    if message.contains(&format!("'{value}'")) {
        format!("{}: {message}", column.name())
    } else {
        format!("{}: '{value}' is refused: {message}", column.name())
    }
}

/// `YYYY-MM-DD`, or `DD/MM/YYYY` as French spreadsheets write it (one-digit day and month
/// accepted), always given back as `YYYY-MM-DD`.
fn parse_birth_date(raw: &str) -> Result<BirthDate, Invalid> {
    if !raw.contains('/') {
        return BirthDate::parse(raw);
    }
    let invalid = || Invalid::new(format!("'{raw}' is not a date of the form DD/MM/YYYY"));
    let parts: Vec<&str> = raw.split('/').collect();
    let [day, month, year] = parts[..] else {
        return Err(invalid());
    };
    if !is_digits(day, 1..=2) || !is_digits(month, 1..=2) || !is_digits(year, 4..=4) {
        return Err(invalid());
    }
    BirthDate::parse(&format!("{year}-{month:0>2}-{day:0>2}")).map_err(|_| invalid())
}

fn is_digits(text: &str, length: RangeInclusive<usize>) -> bool {
    length.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A postal address: lines separated by newlines or ` / ` (one-line exports), each
/// trimmed, at most 6 lines of printable text.
pub fn parse_address(raw: &str) -> Result<String, Invalid> {
    let lines: Vec<&str> = raw
        .split(['\n', '\r'])
        .flat_map(|line| line.split(" / "))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty()
        || lines.len() > 6
        || lines
            .iter()
            .any(|l| l.chars().count() > 100 || l.chars().any(char::is_control))
    {
        return Err(Invalid::new(format!(
            "'{raw}' is not a postal address (1 to 6 lines of at most 100 characters)"
        )));
    }
    Ok(lines.join("\n"))
}

/// Group names separated by `|`: letters, digits and `- _ . : @` (what directory and
/// LMS group names use), at most 64 characters each.
fn parse_groups(raw: &str) -> Result<Vec<String>, Invalid> {
    let mut groups: Vec<String> = Vec::new();
    for name in raw.split('|').map(str::trim).filter(|g| !g.is_empty()) {
        let valid = name.chars().count() <= 64
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'));
        if !valid {
            return Err(Invalid::new(format!(
                "group '{name}' may hold only letters, digits and - _ . : @ (groups are separated by |)"
            )));
        }
        if !groups.iter().any(|g| g == name) {
            groups.push(name.to_string());
        }
    }
    Ok(groups)
}

/// A phone number as written: digits, spaces and `+ . - ( ) /`; any Unicode space (such as
/// the no-break space of French number formats) is kept as a plain space.
pub fn parse_phone(raw: &str) -> Result<String, Invalid> {
    let phone: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +.-()/".contains(c));
    if allowed && (4..=20).contains(&digits) && phone.chars().count() <= 32 {
        Ok(phone)
    } else {
        Err(Invalid::new(format!(
            "'{raw}' is not a phone number (4 to 20 digits, with spaces and + . - ( ) / only)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(file: &ParsedFile) -> Vec<&EnrollmentRow> {
        file.rows
            .iter()
            .filter_map(|row| row.as_ref().ok())
            .collect()
    }

    fn errors(file: &ParsedFile) -> Vec<String> {
        file.rows
            .iter()
            .filter_map(|row| row.as_ref().err())
            .map(|error| error.to_string())
            .collect()
    }

    fn lines(rows: &[&EnrollmentRow]) -> Vec<u64> {
        rows.iter().map(|row| row.line).collect()
    }

    #[test]
    fn a_comma_file_parses() {
        let input = concat!(
            "number,family_name,given_names,birth_date,affiliation,personal_email,institutional_email,phone\n",
            "21901234,Durand,Alice,2003-02-03,\"student,staff\",Alice@Example.org,,+33 6 12 34 56 78\n",
            ",Martin,Paul Henri,2004-11-30,student,paul.martin@example.net,paul.martin@univ.example,\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(file.separator, b',');
        assert!(file.ignored_columns.is_empty());
        assert_eq!(errors(&file), Vec::<String>::new());
        let rows = valid(&file);
        assert_eq!(lines(&rows), vec![2, 3]);

        let alice = rows[0];
        assert_eq!(alice.number.as_ref().map(|n| n.as_str()), Some("21901234"));
        assert_eq!(alice.family_name, "Durand");
        assert_eq!(alice.given_names, "Alice");
        assert_eq!(alice.birth_date.as_str(), "2003-02-03");
        assert_eq!(
            alice.affiliations,
            vec![Affiliation::Student, Affiliation::Staff]
        );
        assert_eq!(alice.personal_email, "alice@example.org");
        assert_eq!(alice.institutional_email, None);
        assert_eq!(alice.phone.as_deref(), Some("+33 6 12 34 56 78"));

        let paul = rows[1];
        assert_eq!(paul.number, None);
        assert_eq!(paul.given_names, "Paul Henri");
        assert_eq!(
            paul.institutional_email.as_deref(),
            Some("paul.martin@univ.example")
        );
        assert_eq!(paul.phone, None);
    }

    #[test]
    fn a_french_semicolon_file_with_bom_and_slashed_dates_parses() {
        let input = concat!(
            "\u{FEFF}Numéro;NOM;Prénom;Date de naissance;Affiliations;Courriel_Perso;Téléphone;Remarques\r\n",
            "21905678;Le Fèvre;Élodie;03/02/2003;student;elodie@example.fr;06 12 34 56 78;boursière\r\n",
            "\r\n",
            ";;;;;;;\r\n",
            "21905679;Dupont;Jean-Luc;9/11/2002;student, alumni;jl.dupont@example.fr;;\r\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(file.separator, b';');
        assert_eq!(file.ignored_columns, vec!["Remarques".to_string()]);
        assert_eq!(errors(&file), Vec::<String>::new());
        let rows = valid(&file);
        assert_eq!(lines(&rows), vec![2, 5]);

        assert_eq!(rows[0].family_name, "Le Fèvre");
        assert_eq!(rows[0].given_names, "Élodie");
        assert_eq!(rows[0].birth_date.as_str(), "2003-02-03");
        assert_eq!(rows[0].phone.as_deref(), Some("06 12 34 56 78"));
        assert_eq!(rows[1].birth_date.as_str(), "2002-11-09");
        assert_eq!(
            rows[1].affiliations,
            vec![Affiliation::Student, Affiliation::Alumni]
        );
        assert_eq!(rows[1].phone, None);
    }

    #[test]
    fn quoted_fields_keep_separators_quotes_and_line_breaks() {
        let input = concat!(
            "family_name,given_names,birth_date,affiliation,personal_email,remarks\n",
            "\"Du \"\"Pont\"\", Jr\",\"Anne, Marie\",2001-05-06,\"staff,faculty\",anne@example.org,\"two\nlines\"\n",
            "Martin,Paul,2002-01-01,student,paul@example.org,\"a \"\"quote\"\"; and, commas\"\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(file.ignored_columns, vec!["remarks".to_string()]);
        assert_eq!(errors(&file), Vec::<String>::new());
        let rows = valid(&file);
        // The first row spans lines 2 and 3.
        assert_eq!(lines(&rows), vec![2, 4]);
        assert_eq!(rows[0].family_name, "Du \"Pont\", Jr");
        assert_eq!(rows[0].given_names, "Anne, Marie");
        assert_eq!(
            rows[0].affiliations,
            vec![Affiliation::Staff, Affiliation::Faculty]
        );

        let semicolons = concat!(
            "nom;prenom;date_naissance;affiliation;mail_perso\n",
            "\"Martin; dit \"\"Le Grand\"\"\";Paul;2002-01-01;student;paul@example.org\n",
        );
        let file = parse(semicolons.as_bytes()).unwrap();
        assert_eq!(file.separator, b';');
        assert_eq!(valid(&file)[0].family_name, "Martin; dit \"Le Grand\"");
    }

    #[test]
    fn the_separator_is_counted_outside_quotes_on_the_first_line() {
        assert_eq!(detect_separator(b"\"a,b,c\";d;e\n1,2,3,4,5,6\n"), b';');
        assert_eq!(detect_separator(b"\r\n\na;b,c;d\n"), b';');
        assert_eq!(detect_separator(b"a,b;c\n"), b',');
        assert_eq!(detect_separator(b"alone"), b',');
        assert_eq!(detect_separator(b""), b',');
    }

    #[test]
    fn header_names_fold_case_accents_and_spaces() {
        assert_eq!(fold_header("  Date de Naissance "), "date_de_naissance");
        assert_eq!(fold_header("PRÉNOM"), "prenom");
        assert_eq!(fold_header("Numéro-Étudiant"), "numero_etudiant");
        assert_eq!(Column::from_header("Téléphone"), Some(Column::Phone));
        assert_eq!(Column::from_header("Remarques"), None);
    }

    #[test]
    fn missing_and_duplicated_columns_refuse_the_file() {
        let missing = parse(b"nom,prenom,affiliation\nDurand,Alice,student\n").unwrap_err();
        assert_eq!(
            missing,
            FileError::MissingColumns(vec!["birth_date", "personal_email"])
        );
        assert_eq!(
            missing.to_string(),
            "the header lacks the required column(s): birth_date, personal_email"
        );

        let duplicated =
            parse(b"nom,Family_Name,prenom,birth_date,affiliation,personal_email\n").unwrap_err();
        assert_eq!(
            duplicated,
            FileError::DuplicateColumn("family_name".to_string())
        );
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_good_rows_still_parse() {
        let input = concat!(
            "number;family_name;given_names;birth_date;affiliation;personal_email\n",
            "1;Durand;Alice;2003-02-03;student;alice@example.org\n",
            "2;Durand;Bob;2003-02-30;student;bob@example.org\n",
            "3;Martin;Chloé;31/12/2003;staff;chloe@example.org\n",
            "4;Petit;Dan;2003-01-01;wizard;dan@example.org\n",
            "5;Roux;;2003-01-01;student;eve@example.org\n",
            "6;Blanc;Fay;2003-01-01;student;fay-at-example.org\n",
            "7 7;Noir;Gus;2003-01-01;student;gus@example.org\n",
            "8;Vert;Hal;30/02/2003;student;hal@example.org\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(lines(&valid(&file)), vec![2, 4]);
        let errors = errors(&file);
        assert_eq!(errors.len(), 6);
        assert_eq!(
            errors[0],
            "line 3: birth_date: '2003-02-30' is not a date of the form YYYY-MM-DD"
        );
        assert!(
            errors[1].starts_with("line 5: affiliation: unknown affiliation 'wizard'"),
            "{}",
            errors[1]
        );
        assert_eq!(errors[2], "line 6: given_names: the value is empty");
        assert_eq!(
            errors[3],
            "line 7: personal_email: 'fay-at-example.org' is not an e-mail address"
        );
        assert!(
            errors[4].starts_with("line 8: number: '7 7' is refused: "),
            "{}",
            errors[4]
        );
        assert_eq!(
            errors[5],
            "line 9: birth_date: '30/02/2003' is not a date of the form DD/MM/YYYY"
        );
    }

    #[test]
    fn a_number_seen_twice_refuses_the_second_row() {
        let input = concat!(
            "number,family_name,given_names,birth_date,affiliation,personal_email\n",
            "21901234,Durand,Alice,2003-02-03,student,alice@example.org\n",
            "21905678,Martin,Paul,2003-02-03,student,paul@example.org\n",
            "21901234,Durand,Alicia,2003-02-03,student,alicia@example.org\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(lines(&valid(&file)), vec![2, 3]);
        assert_eq!(
            errors(&file),
            vec!["line 4: number: '21901234' already appears on line 2".to_string()]
        );
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_a_row_error() {
        let input = concat!(
            "family_name,given_names,birth_date,affiliation,personal_email\n",
            "Durand,Alice,2003-02-03\n",
            "Martin,Paul,2003-02-03,student,paul@example.org,extra\n",
            "Petit,Dan,2003-02-03,student,dan@example.org\n",
        );
        let file = parse(input.as_bytes()).unwrap();
        assert_eq!(lines(&valid(&file)), vec![4]);
        assert_eq!(
            errors(&file),
            vec![
                "line 2: the row has 3 fields but the header has 5".to_string(),
                "line 3: the row has 6 fields but the header has 5".to_string(),
            ]
        );
    }

    #[test]
    fn an_empty_file_is_refused_and_a_header_alone_has_no_rows() {
        assert_eq!(parse(b""), Err(FileError::Empty));
        assert_eq!(parse("\u{FEFF}".as_bytes()), Err(FileError::Empty));
        assert_eq!(parse(b"\r\n\n  \n"), Err(FileError::Empty));

        let file = parse(b"nom,prenom,date_naissance,affiliation,mail_perso\n").unwrap();
        assert!(file.rows.is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_refuse_their_row_only() {
        let mut input = b"family_name,given_names,birth_date,affiliation,personal_email\n".to_vec();
        input.extend_from_slice(b"Durand,H\xE9l\xE8ne,2003-02-03,student,helene@example.org\n");
        input.extend_from_slice(b"Martin,Paul,2003-02-03,student,paul@example.org\n");
        let file = parse(&input).unwrap();
        assert_eq!(lines(&valid(&file)), vec![3]);
        let errors = errors(&file);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("line 2: given_names: 'H") && errors[0].contains("UTF-8"),
            "{}",
            errors[0]
        );

        assert_eq!(
            parse(b"nom,pr\xE9nom\n"),
            Err(FileError::Encoding { line: 1 })
        );
        assert_eq!(
            parse(b"\xFF\xFEn\x00o\x00m\x00"),
            Err(FileError::Encoding { line: 1 })
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "numero;nom;prenoms;date_naissance;affiliation;email_perso\n";

    fn row() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,80}",
            (
                "[0-9]{0,10}",
                "[A-Za-zé' -]{0,12}",
                "[A-Za-zé' -]{0,12}",
                prop::sample::select(vec!["2004-05-17", "17/05/2004", "2004-02-30", "", "x"]),
                prop::sample::select(vec!["student", "staff", "bogus", "", "student,alumni"]),
                prop::sample::select(vec!["a@b.example", "not an address", "", "\"q\"@x.example"]),
            )
                .prop_map(|(n, f, g, d, a, e)| format!("{n};{f};{g};{d};{a};{e}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any bytes: read or refused as a whole, never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        /// A file with a good header: one result per data line, each error naming a line
        /// of the file, so that nothing is lost without a word.
        #[test]
        fn every_row_is_imported_or_reported_with_its_line(rows in prop::collection::vec(row(), 0..12)) {
            let mut file = String::from(HEADER);
            for row in &rows {
                file.push_str(&row.replace(['\n', '\r'], " "));
                file.push('\n');
            }
            let lines = 1 + rows.len() as u64;
            // The header is good: the file as a whole is never refused for it.
            let parsed = parse(file.as_bytes());
            prop_assert!(
                !matches!(parsed, Err(FileError::MissingColumns(_) | FileError::Empty)),
                "{:?}", parsed.as_ref().err()
            );
            if let Ok(parsed) = parsed {
                for result in &parsed.rows {
                    if let Err(error) = result {
                        prop_assert!(error.line >= 2 && error.line <= lines, "{:?}", error);
                        prop_assert!(!error.reason.is_empty());
                    }
                }
            }
        }
    }
}
