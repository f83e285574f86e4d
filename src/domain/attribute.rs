//! Attributes other university systems push about a person (the print-credit balance, a
//! link to the latest results): shown as tiles in the personal space, and released as
//! claims to the relying parties an administrator chose.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The scope of the client_credentials tokens that may push attributes.
pub const WRITE_SCOPE: &str = "etupass:attributes";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub label: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Names are short, lower-case identifiers: `print_credit`, `latest-results`.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    let valid = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Invalid::new(format!(
            "attribute name '{name}': 1 to 40 of a-z, 0-9, _ and -"
        )))
    }
}

impl Attribute {
    /// Label and value are short printable texts; a link must be https.
    pub fn check(&self) -> Result<(), Invalid> {
        check_name(&self.name)?;
        let printable = |text: &str, max: usize| {
            !text.trim().is_empty()
                && text.chars().count() <= max
                && !text.chars().any(char::is_control)
        };
        if !printable(&self.label, 60) {
            return Err(Invalid::new("label: 1 to 60 printable characters"));
        }
        if !printable(&self.value, 200) {
            return Err(Invalid::new("value: 1 to 200 printable characters"));
        }
        if let Some(link) = &self.link {
            let url = url::Url::parse(link).map_err(|_| Invalid::new("link: not a URL"))?;
            if url.scheme() != "https" {
                return Err(Invalid::new("link: must be https"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_values_and_links_are_checked() {
        let good = Attribute {
            name: "print_credit".into(),
            label: "Print credit".into(),
            value: "12.40 €".into(),
            link: Some("https://print.univ.example/".into()),
        };
        assert!(good.check().is_ok());
        for bad in [
            Attribute {
                name: "Print Credit".into(),
                ..good.clone()
            },
            Attribute {
                label: "".into(),
                ..good.clone()
            },
            Attribute {
                value: "a\nb".into(),
                ..good.clone()
            },
            Attribute {
                link: Some("javascript:alert(1)".into()),
                ..good.clone()
            },
            Attribute {
                link: Some("http://print.univ.example/".into()),
                ..good.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
