//! Throttling counters, in the database so every instance sees the same ones.

use diesel::prelude::*;

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

    /// Counts a failure for each key and sets its next delay.
    pub async fn record_throttle_failures(
        &self,
        keys: Vec<(String, ThrottleRule)>,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            for (key, rule) in keys {
                let failures: Option<i64> = throttles::table
                    .find(&key)
                    .select(throttles::failures)
                    .first(conn)
                    .optional()?;
                let failures = failures.unwrap_or(0) + 1;
                let blocked_until = now + rule.delay_after(failures);
                let updated = diesel::update(throttles::table.find(&key))
                    .set((
                        throttles::failures.eq(failures),
                        throttles::blocked_until.eq(blocked_until),
                        throttles::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                if updated == 0 {
                    diesel::insert_into(throttles::table)
                        .values((
                            throttles::key.eq(&key),
                            throttles::failures.eq(failures),
                            throttles::blocked_until.eq(blocked_until),
                            throttles::updated_at.eq(now),
                        ))
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
