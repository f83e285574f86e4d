//! Throttling counters, in the database so every instance sees the same ones.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::throttles;
use super::{Store, StoreResult};
use crate::domain::clock::UnixTime;

/// How failures turn into delays: `free` failures cost nothing, then each one doubles
/// the delay from `base` up to `max` seconds. A ceiling, never a permanent lock, so an
/// attacker cannot lock a student out for good.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    pub free: u32,
    pub base: i64,
    pub max: i64,
}

impl ThrottleRule {
    pub fn delay_after(&self, failures: i64) -> i64 {
        let over = failures - i64::from(self.free);
        if over < 0 {
            return 0;
        }
        let factor = 1i64.checked_shl(over.min(30) as u32).unwrap_or(i64::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

impl Store {
    /// The latest instant until which any of `keys` is blocked, if one is blocked now.
    pub async fn throttled_until(
        &self,
        keys: Vec<String>,
        now: UnixTime,
    ) -> StoreResult<Option<UnixTime>> {
        self.run(move |conn| {
            let until: Option<i64> = throttles::table
                .filter(throttles::key.eq_any(keys))
                .filter(throttles::blocked_until.gt(now))
                .select(diesel::dsl::max(throttles::blocked_until))
                .first(conn)?;
            Ok(until)
        })
        .await
    }

    /// Counts a failure for each key and sets its next delay. The increment is one
    /// `UPDATE … SET failures = failures + 1` (no lost updates between instances); a
    /// counter left alone for twice the longest delay starts again from zero, so old
    /// failures do not keep an account or an address slowed down for ever.
    pub async fn record_throttle_failures(
        &self,
        keys: Vec<(String, ThrottleRule)>,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            for (key, rule) in keys {
                let stale_before = now - 2 * rule.max;
                diesel::update(
                    throttles::table
                        .find(&key)
                        .filter(throttles::updated_at.lt(stale_before)),
                )
                .set(throttles::failures.eq(0))
                .execute(conn)?;
                let mut bumped = diesel::update(throttles::table.find(&key))
                    .set((
                        throttles::failures.eq(throttles::failures + 1),
                        throttles::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                if bumped == 0 {
                    let row = (
                        throttles::key.eq(&key),
                        throttles::failures.eq(1),
                        throttles::blocked_until.eq(now),
                        throttles::updated_at.eq(now),
                    );
                    // On PostgreSQL another instance may insert the same key between our
                    // UPDATE and INSERT; ON CONFLICT keeps the transaction alive (a failed
                    // statement would abort it). SQLite serializes writers: no race there.
                    bumped = match conn {
                        AnyConnection::Postgresql(pg) => diesel::insert_into(throttles::table)
                            .values(row)
                            .on_conflict_do_nothing()
                            .execute(pg)?,
                        AnyConnection::Sqlite(sqlite) => diesel::insert_into(throttles::table)
                            .values(row)
                            .execute(sqlite)?,
                    };
                    if bumped == 0 {
                        bumped = diesel::update(throttles::table.find(&key))
                            .set((
                                throttles::failures.eq(throttles::failures + 1),
                                throttles::updated_at.eq(now),
                            ))
                            .execute(conn)?;
                    }
                }
                if bumped == 1 {
                    let failures: i64 = throttles::table
                        .find(&key)
                        .select(throttles::failures)
                        .first(conn)?;
                    diesel::update(throttles::table.find(&key))
                        .set(throttles::blocked_until.eq(now + rule.delay_after(failures)))
                        .execute(conn)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Forgets the failures of `key` (after a success).
    pub async fn clear_throttle(&self, key: String) -> StoreResult<()> {
        self.write(move |conn| {
            diesel::delete(throttles::table.find(key)).execute(conn)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_a_ceiling() {
        let rule = ThrottleRule {
            free: 3,
            base: 1,
            max: 60,
        };
        assert_eq!(rule.delay_after(3), 1);
        assert_eq!(rule.delay_after(2), 0);
        assert_eq!(rule.delay_after(4), 2);
        assert_eq!(rule.delay_after(6), 8);
        assert_eq!(rule.delay_after(100), 60);
    }
}
