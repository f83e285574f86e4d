//! Mail: typed messages rendered from templates, an outbox written in the same
//! transaction as the change that causes the mail, and a worker that delivers it.

pub mod message;
pub mod transport;
pub mod worker;

pub use message::MailContent;
pub use transport::Transport;
