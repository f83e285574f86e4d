//! Delivery: SMTP through lettre (STARTTLS or TLS, with authentication, from
//! `smtp_url`), or, on a laptop without a relay, `.eml` files in `mail_dir`.

use std::path::PathBuf;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;
use crate::domain::mail::OutgoingMail;

pub enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Directory(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp(_) => f.write_str("Transport::Smtp"),
            Transport::Directory(dir) => write!(f, "Transport::Directory({})", dir.display()),
        }
    }
}

impl Transport {
    /// `smtp://[user:pass@]host[:port][?tls=required]` (STARTTLS) or `smtps://…` (TLS).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Transport> {
        match &settings.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
                    .build();
                Ok(Transport::Smtp(Box::new(transport)))
            }
            None => Ok(Transport::Directory(settings.mail_dir.clone())),
        }
    }

    pub async fn send(&self, from: &str, id: &str, mail: &OutgoingMail) -> Result<(), String> {
        let message = build(from, id, mail)?;
        match self {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::Directory(dir) => {
                let dir = dir.clone();
                let path = dir.join(format!("{id}.eml"));
                let bytes = message.formatted();
                let written = path.clone();
                // The files hold live links: the owner only (directory 0700, files 0600).
                tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&path)?;
                    file.write_all(&bytes)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                // The file holds the link; the log says only where it is.
                tracing::info!(kind = %mail.kind, file = %written.display(), "no SMTP relay configured: mail written to a file");
                Ok(())
            }
        }
    }
}

/// Quoted-printable bodies: readable in any client and in logs of mail relays.
/// The `Message-ID` is the outbox row's: a mail sent again after a crash between the
/// relay's acceptance and our record of it carries the same one, so a mailbox that
/// eliminates duplicates (LMTP, Sieve `duplicate`) shows it once.
fn build(from: &str, id: &str, mail: &OutgoingMail) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("mail_from: {e}"))?;
    let message_id = format!("<{id}@{}>", from.email.domain());
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .message_id(Some(message_id))
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .header(ContentTransferEncoding::QuotedPrintable)
                        .body(mail.body_text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .header(ContentTransferEncoding::QuotedPrintable)
                        .body(mail.body_html.clone()),
                ),
        )
        .map_err(|e| e.to_string())
}
