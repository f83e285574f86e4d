//! What the gates after a sign-in read (`account::gates`), in one query: every
//! authorization with a session asks it, so it costs one round trip, not three.

use diesel::dsl::max;
use diesel::prelude::*;

use super::schema::{charter_acceptances, charters, second_factors};
use super::{Store, StoreResult};

/// The facts about one identity the gates decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateFacts {
    /// A confirmed second factor.
    pub second_factor: bool,
    /// The newest published charter version, if any charter was published.
    pub latest_charter: Option<i64>,
    /// The newest version this identity accepted.
    pub accepted_charter: Option<i64>,
}

impl GateFacts {
    /// A published charter this identity has not accepted yet.
    pub fn charter_due(&self) -> bool {
        self.latest_charter.is_some_and(|latest| {
            self.accepted_charter
                .is_none_or(|accepted| accepted < latest)
        })
    }
}

impl Store {
    pub async fn gate_facts(&self, identity_id: &str) -> StoreResult<GateFacts> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let second_factor = second_factors::table
                .find(identity_id.clone())
                .select(second_factors::confirmed_at.is_not_null())
                .single_value();
            let latest = charters::table
                .select(max(charters::version))
                .single_value();
            let accepted = charter_acceptances::table
                .filter(charter_acceptances::identity_id.eq(identity_id))
                .select(max(charter_acceptances::version))
                .single_value();
            let (second_factor, latest_charter, accepted_charter): (
                Option<bool>,
                Option<i64>,
                Option<i64>,
            ) = diesel::select((second_factor, latest, accepted)).get_result(conn)?;
            Ok(GateFacts {
                second_factor: second_factor.unwrap_or(false),
                latest_charter,
                accepted_charter,
            })
        })
        .await
    }
}
