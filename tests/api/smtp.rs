//! A real SMTP listener on a random loopback port: enough of RFC 5321 for lettre to
//! deliver to it (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT). Messages are kept in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Mail {
    pub recipients: Vec<String>,
    /// The message as sent, quoted-printable decoded.
    pub text: String,
}

impl Mail {
    /// The token of the first link to `path` (`/activate`, `/password/reset`…).
    pub fn link_token(&self, path: &str) -> Option<String> {
        let marker = format!("{path}?token=");
        let start = self.text.find(&marker)? + marker.len();
        Some(
            self.text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect(),
        )
    }

    pub fn is_for(&self, address: &str) -> bool {
        self.recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(address))
    }
}

#[derive(Clone, Default)]
pub struct Mailbox(Arc<Mutex<Vec<Mail>>>);

impl Mailbox {
    pub fn all(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }

    pub fn count_for(&self, address: &str) -> usize {
        self.all().iter().filter(|m| m.is_for(address)).count()
    }

    /// How many mails arrived so far: pass it to `wait_for_new` to skip them.
    pub fn mark(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits (10 s at most) for a mail to `address` containing `needle`.
    pub async fn wait_for(&self, address: &str, needle: &str) -> Mail {
        self.wait_for_new(0, address, needle).await
    }

    /// The same, among the mails that arrived after `mark`.
    pub async fn wait_for_new(&self, mark: usize, address: &str, needle: &str) -> Mail {
        for _ in 0..200 {
            if let Some(mail) = self
                .all()
                .into_iter()
                .skip(mark)
                .find(|m| m.is_for(address) && m.text.contains(needle))
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no mail to {address} containing {needle:?}; mailbox: {:#?}",
            self.all().iter().map(|m| &m.recipients).collect::<Vec<_>>()
        );
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub mailbox: Mailbox,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mailbox = Mailbox::default();
        let shared = mailbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mailbox = shared.clone();
                tokio::spawn(async move {
                    let _ = session(stream, mailbox).await;
                });
            }
        });
        SmtpSink { port, mailbox }
    }
}

async fn session(stream: tokio::net::TcpStream, mailbox: Mailbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL FROM")
            || command.starts_with("NOOP")
        {
            write.write_all(b"250 OK\r\n").await?;
        } else if command.starts_with("RSET") {
            recipients.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            recipients.push(address);
            write.write_all(b"250 OK\r\n").await?;
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            mailbox.0.lock().unwrap().push(Mail {
                recipients: std::mem::take(&mut recipients),
                text: decode_quoted_printable(&data),
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// Undoes quoted-printable soft breaks and escapes; harmless on 7-bit text.
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(hex, 16) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
