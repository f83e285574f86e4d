//! The mails Etupass sends, each a few catalog paragraphs, at most one highlighted value
//! (a number) and one link. One text template and one HTML template serve them all.

use serde_json::{json, Value};

use crate::domain::mail::OutgoingMail;
use crate::views::{ViewError, Views};

#[derive(Debug, Clone)]
pub struct MailContent {
    pub kind: &'static str,
    pub subject: &'static str,
    pub paragraphs: Vec<&'static str>,
    pub value: Option<String>,
    pub link: Option<(String, &'static str)>,
}

impl MailContent {
    pub fn activation(number: &str, link: String) -> MailContent {
        MailContent {
            kind: "activation",
            subject: "mail.activation.subject",
            paragraphs: vec!["mail.activation.intro", "mail.activation.number"],
            value: Some(number.to_string()),
            link: Some((link, "mail.activation.button")),
        }
        .then("mail.activation.expiry")
    }

    /// To the new personal address: follow the link to confirm it.
    pub fn email_change(link: String) -> MailContent {
        MailContent {
            kind: "email_change",
            subject: "mail.email_change.subject",
            paragraphs: vec!["mail.email_change.intro"],
            value: None,
            link: Some((link, "mail.email_change.button")),
        }
        .then("mail.email_change.ignore")
    }

    /// To the old personal address: a change to `new_address` was asked for.
    pub fn email_change_notice(new_address: &str) -> MailContent {
        MailContent {
            kind: "email_change_notice",
            subject: "mail.email_notice.subject",
            paragraphs: vec!["mail.email_notice.intro"],
            value: Some(new_address.to_string()),
            link: None,
        }
        .then("mail.changed.not_you")
    }

    pub fn password_reset(link: String) -> MailContent {
        MailContent {
            kind: "password_reset",
            subject: "mail.reset.subject",
            paragraphs: vec!["mail.reset.intro"],
            value: None,
            link: Some((link, "mail.reset.button")),
        }
        .then("mail.reset.ignore")
    }

    pub fn password_changed() -> MailContent {
        MailContent {
            kind: "password_changed",
            subject: "mail.changed.subject",
            paragraphs: vec!["mail.changed.intro", "mail.changed.not_you"],
            value: None,
            link: None,
        }
    }

    /// To the personal address: two-factor sign-in was turned on.
    pub fn second_factor_enabled() -> MailContent {
        MailContent {
            kind: "second_factor_enabled",
            subject: "mail.second_factor_on.subject",
            paragraphs: vec!["mail.second_factor_on.intro", "mail.changed.not_you"],
            value: None,
            link: None,
        }
    }

    /// To the personal address: two-factor sign-in was turned off.
    pub fn second_factor_disabled() -> MailContent {
        MailContent {
            kind: "second_factor_disabled",
            subject: "mail.second_factor_off.subject",
            paragraphs: vec!["mail.second_factor_off.intro", "mail.changed.not_you"],
            value: None,
            link: None,
        }
    }

    /// To a parent: `student` invites them; the link creates their account.
    pub fn parent_invitation(student: &str, link: String) -> MailContent {
        MailContent {
            kind: "parent_invitation",
            subject: "mail.parent_invitation.subject",
            paragraphs: vec!["mail.parent_invitation.intro"],
            value: Some(student.to_string()),
            link: Some((link, "mail.parent_invitation.button")),
        }
        .then("mail.parent_invitation.expiry")
    }

    /// To the student: a parent accepted the invitation (the address is the value).
    pub fn parent_linked(parent_email: &str) -> MailContent {
        MailContent {
            kind: "parent_linked",
            subject: "mail.parent_linked.subject",
            paragraphs: vec!["mail.parent_linked.intro", "mail.parent_linked.not_you"],
            value: Some(parent_email.to_string()),
            link: None,
        }
    }

    /// To the personal address: many wrong passwords were just tried on the account; the
    /// link reports identity theft.
    pub fn guessing_alert(theft_page: String) -> MailContent {
        MailContent {
            kind: "guessing_alert",
            subject: "mail.guessing.subject",
            paragraphs: vec!["mail.guessing.intro", "mail.guessing.safe"],
            value: None,
            link: Some((theft_page, "mail.guessing.button")),
        }
        .then("mail.guessing.not_you")
    }

    /// To the personal address: an app password named `name` was created.
    pub fn app_password_created(name: &str) -> MailContent {
        MailContent {
            kind: "app_password_created",
            subject: "mail.app_password_created.subject",
            paragraphs: vec!["mail.app_password_created.intro"],
            value: Some(name.to_string()),
            link: None,
        }
        .then("mail.changed.not_you")
    }

    /// To the personal address: a recovery code was used to sign in.
    pub fn recovery_code_used() -> MailContent {
        MailContent {
            kind: "recovery_code_used",
            subject: "mail.recovery_code_used.subject",
            paragraphs: vec!["mail.recovery_code_used.intro", "mail.changed.not_you"],
            value: None,
            link: None,
        }
    }

    pub fn number_reminder(number: &str) -> MailContent {
        MailContent {
            kind: "number_reminder",
            subject: "mail.number.subject",
            paragraphs: vec!["mail.number.intro"],
            value: Some(number.to_string()),
            link: None,
        }
        .then("mail.number.ignore")
    }

    pub fn theft_confirmation(link: String) -> MailContent {
        MailContent {
            kind: "theft_confirmation",
            subject: "mail.theft_confirm.subject",
            paragraphs: vec!["mail.theft_confirm.intro"],
            value: None,
            link: Some((link, "mail.theft_confirm.button")),
        }
        .then("mail.theft_confirm.ignore")
    }

    pub fn theft_suspended(recovery_link: String) -> MailContent {
        MailContent {
            kind: "theft_suspended",
            subject: "mail.theft_suspended.subject",
            paragraphs: vec!["mail.theft_suspended.intro", "mail.theft_suspended.recover"],
            value: None,
            link: Some((recovery_link, "mail.reset.button")),
        }
    }

    /// To the security team: the number is the value, details follow in `detail`.
    pub fn theft_alert(number: &str) -> MailContent {
        MailContent {
            kind: "theft_alert",
            subject: "mail.theft_alert.subject",
            paragraphs: vec!["mail.theft_alert.intro"],
            value: Some(number.to_string()),
            link: None,
        }
    }

    fn then(mut self, paragraph: &'static str) -> MailContent {
        self.paragraphs.push(paragraph);
        self
    }

    /// Renders the subject, text and HTML parts in `lang`, addressed to `recipient`.
    pub fn render(
        &self,
        views: &Views,
        lang: &str,
        institution: &str,
        recipient: &str,
    ) -> Result<OutgoingMail, ViewError> {
        let (link, link_label) = match &self.link {
            Some((link, label)) => (Value::from(link.as_str()), Value::from(*label)),
            None => (Value::Null, Value::Null),
        };
        let subject = views.text(lang, self.subject)?;
        let data = json!({
            "lang": lang,
            "institution": institution,
            "subject": subject,
            "paragraphs": self.paragraphs,
            "value": self.value,
            "link": link,
            "link_label": link_label,
        });
        Ok(OutgoingMail {
            kind: self.kind.to_string(),
            recipient: recipient.to_string(),
            subject,
            body_text: views.render_mail_text(&data)?,
            body_html: views.render_mail_html(&data)?,
        })
    }
}
