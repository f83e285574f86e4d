//! Parents: a student invites a parent by e-mail; the parent gets an identity of
//! affiliation `parent`, linked to the student, for as long as the student wants.

use super::clock::UnixTime;

/// Parents a student may link at once (invited or accepted).
pub const MAX_PARENTS: usize = 4;
/// How long an invitation link lasts.
pub const INVITATION_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct ParentLink {
    pub id: String,
    pub student_id: String,
    pub parent_email: String,
    /// Set once the parent accepted.
    pub parent_id: Option<String>,
    /// The student lets relying parties know of the link (the `followed_students` claim).
    pub shared_with_apps: bool,
    pub created_at: UnixTime,
    pub accepted_at: Option<UnixTime>,
}
