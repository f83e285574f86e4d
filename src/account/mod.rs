//! The person's side of the account: signing in, sessions, provisioning.

pub mod provisioning;
pub mod sign_in;
