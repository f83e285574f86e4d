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
    /// After this many failures in a row, the key is locked for `lockout` seconds (NIST
    /// SP 800-63B §5.2.2 caps failed guesses per account at 100).
    pub lockout_after: Option<u32>,
    pub lockout: i64,
}

impl ThrottleRule {
    /// A rule of growing delays only.
    pub fn delays(free: u32, base: i64, max: i64) -> ThrottleRule {
        ThrottleRule {
            free,
            base,
            max,
            lockout_after: None,
            lockout: 0,
        }
    }

    pub fn delay_after(&self, failures: i64) -> i64 {
        if self
            .lockout_after
            .is_some_and(|after| failures >= i64::from(after))
        {
            return self.lockout.max(self.max);
        }
        let over = failures - i64::from(self.free);
        if over < 0 {
            return 0;
        }
        let factor = 1i64.checked_shl(over.min(30) as u32).unwrap_or(i64::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A counter left alone this long starts again from zero.
    fn forgotten_after(&self) -> i64 {
        2 * self.max.max(self.lockout)
    }

    /// The fewest failures that cost a delay (`i64::MAX` when none ever does): below it
    /// an attempt only counts, and never blocks the key.
    fn first_delayed(&self) -> i64 {
        let by_delay = if self.base > 0 && self.max > 0 {
            i64::from(self.free)
        } else {
            i64::MAX
        };
        let by_lockout = match self.lockout_after {
            Some(after) if self.lockout.max(self.max) > 0 => i64::from(after),
            _ => i64::MAX,
        };
        by_delay.min(by_lockout)
    }
}

/// An attempt taken (counted before the work it guards), or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptTaken {
    /// Counted; the failures now recorded for each key, in the order given.
    Counted(Vec<i64>),
    /// A key is blocked until then: nothing was counted.
    Blocked(UnixTime),
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
        self.write_counters(move |conn| {
            for (key, rule) in keys {
                let stale_before = now - rule.forgotten_after();
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
                    bumped = insert_first_failure(conn, &key, now)?;
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

    /// Counts one attempt against every key, before the work it guards (a password hash),
    /// unless one of them is blocked now. A burst of parallel attempts cannot all pass
    /// the check before any of them is counted: once the free attempts are spent, the
    /// next one finds the key blocked.
    ///
    /// An attempt that leaves a key within its free attempts is one upsert (`take_free`):
    /// the common case, a sign-in, costs one statement per key instead of four or six.
    /// An attempt that starts a delay takes the key in four more (`take_one`); the row lock
    /// held until the commit makes the next attempt wait for the new `blocked_until`.
    /// When a later key is blocked, the attempt is given back on the keys counted before
    /// it. All in one transaction that does not wait for the disk
    /// ([`Store::write_counters`]): these are counters.
    pub async fn take_throttled_attempt(
        &self,
        keys: Vec<(String, ThrottleRule)>,
        now: UnixTime,
    ) -> StoreResult<AttemptTaken> {
        self.write_counters(move |conn| {
            let mut counted: Vec<(String, i64)> = Vec::with_capacity(keys.len());
            for (key, rule) in &keys {
                let taken = match take_free(conn, key, rule, now)? {
                    Some(failures) => Ok(failures),
                    None => take_one(conn, key, rule, now)?,
                };
                match taken {
                    Ok(failures) => counted.push((key.clone(), failures)),
                    Err(until) => {
                        for (key, _) in &counted {
                            diesel::update(throttles::table.find(key))
                                .set(throttles::failures.eq(throttles::failures - 1))
                                .execute(conn)?;
                        }
                        return Ok(AttemptTaken::Blocked(until));
                    }
                }
            }
            Ok(AttemptTaken::Counted(
                counted.into_iter().map(|(_, f)| f).collect(),
            ))
        })
        .await
    }

    /// Gives back an attempt counted by `take_throttled_attempt` that succeeded.
    pub async fn refund_throttle_attempt(&self, key: String) -> StoreResult<()> {
        self.settle_throttle(Some(key), None).await
    }

    /// After a success, in one call: gives `refund` its attempt back and forgets the
    /// failures of `clear`, in a transaction that does not wait for the disk (a lost
    /// refund or clear leaves a count too high, never too low).
    pub async fn settle_throttle(
        &self,
        refund: Option<String>,
        clear: Option<String>,
    ) -> StoreResult<()> {
        self.write_counters(move |conn| {
            if let Some(key) = refund {
                diesel::update(throttles::table.find(key).filter(throttles::failures.gt(0)))
                    .set(throttles::failures.eq(throttles::failures - 1))
                    .execute(conn)?;
            }
            if let Some(key) = clear {
                diesel::delete(throttles::table.find(key)).execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    /// Whether `key` has a row (a marker set by `mark_throttle_key`, or a counter).
    pub async fn throttle_key_exists(&self, key: String) -> StoreResult<bool> {
        self.run(move |conn| {
            let found: Option<String> = throttles::table
                .find(key)
                .select(throttles::key)
                .first(conn)
                .optional()?;
            Ok(found.is_some())
        })
        .await
    }

    /// Sets a marker row for `key` (no failures, never blocked), or refreshes it.
    pub async fn mark_throttle_key(&self, key: String, now: UnixTime) -> StoreResult<()> {
        self.write_counters(move |conn| {
            let touched = diesel::update(throttles::table.find(&key))
                .set(throttles::updated_at.eq(now))
                .execute(conn)?;
            if touched == 0 {
                let row = (
                    throttles::key.eq(&key),
                    throttles::failures.eq(0),
                    throttles::blocked_until.eq(now),
                    throttles::updated_at.eq(now),
                );
                match conn {
                    AnyConnection::Postgresql(pg) => diesel::insert_into(throttles::table)
                        .values(row)
                        .on_conflict_do_nothing()
                        .execute(pg)?,
                    AnyConnection::Sqlite(sqlite) => diesel::insert_into(throttles::table)
                        .values(row)
                        .execute(sqlite)?,
                };
            }
            Ok(())
        })
        .await
    }

    /// Forgets the failures of `key` (after a success).
    pub async fn clear_throttle(&self, key: String) -> StoreResult<()> {
        self.settle_throttle(None, Some(key)).await
    }
}

/// A key's first failure; 0 when another instance inserted the key meanwhile. On
/// PostgreSQL that can happen between our UPDATE and INSERT; ON CONFLICT keeps the
/// transaction alive (a failed statement would abort it). SQLite serializes writers.
fn insert_first_failure(conn: &mut AnyConnection, key: &str, now: UnixTime) -> StoreResult<usize> {
    let row = (
        throttles::key.eq(key),
        throttles::failures.eq(1),
        throttles::blocked_until.eq(now),
        throttles::updated_at.eq(now),
    );
    Ok(match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(throttles::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        AnyConnection::Sqlite(sqlite) => diesel::insert_into(throttles::table)
            .values(row)
            .execute(sqlite)?,
    })
}

/// `take_free`'s statement. Parameters: $1 the key, $2 now, $3 the instant before which
/// the counter is stale, $4 the first count that costs a delay. In `DO UPDATE`,
/// `throttles.` names the row as it was.
const TAKE_FREE: &str = "INSERT INTO throttles (\"key\", failures, blocked_until, updated_at) \
    VALUES ($1, 1, $2, $2) \
    ON CONFLICT (\"key\") DO UPDATE SET \
    failures = CASE WHEN throttles.updated_at < $3 THEN 1 ELSE throttles.failures + 1 END, \
    blocked_until = CASE WHEN throttles.updated_at < $3 THEN $2 ELSE throttles.blocked_until END, \
    updated_at = $2 \
    WHERE throttles.updated_at < $3 OR (throttles.blocked_until <= $2 AND throttles.failures + 1 < $4) \
    RETURNING failures";

/// The same for SQLite, whose numbered parameters are `?1`… (`$` appears nowhere else).
static TAKE_FREE_SQLITE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| TAKE_FREE.replace('$', "?"));

/// One key of `take_throttled_attempt` in one statement, when this attempt stays within
/// the key's free attempts: inserts the key's first failure, or counts one more (from
/// one again when the counter was stale), only if the key is not blocked and the new
/// count costs no delay. The failures now counted, or `None` when it did nothing (the
/// key is blocked, or this attempt starts a delay): `take_one` decides then.
fn take_free(
    conn: &mut AnyConnection,
    key: &str,
    rule: &ThrottleRule,
    now: UnixTime,
) -> StoreResult<Option<i64>> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(diesel::QueryableByName)]
    struct Counted {
        #[diesel(sql_type = BigInt)]
        failures: i64,
    }
    let first_delayed = rule.first_delayed();
    if first_delayed <= 1 {
        return Ok(None);
    }
    let stale_before = now - rule.forgotten_after();
    let upsert = match conn {
        AnyConnection::Postgresql(_) => TAKE_FREE,
        AnyConnection::Sqlite(_) => TAKE_FREE_SQLITE.as_str(),
    };
    let counted: Option<Counted> = diesel::sql_query(upsert)
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(stale_before)
        .bind::<BigInt, _>(first_delayed)
        .get_result(conn)
        .optional()?;
    Ok(counted.map(|c| c.failures))
}

/// One key of `take_throttled_attempt` when it may start a delay, in a transaction: the
/// failures after counting this attempt, or the instant the key is blocked until.
fn take_one(
    conn: &mut AnyConnection,
    key: &str,
    rule: &ThrottleRule,
    now: UnixTime,
) -> StoreResult<Result<i64, UnixTime>> {
    diesel::update(
        throttles::table
            .find(key)
            .filter(throttles::updated_at.lt(now - rule.forgotten_after())),
    )
    .set((throttles::failures.eq(0), throttles::blocked_until.eq(now)))
    .execute(conn)?;
    let bump = |conn: &mut AnyConnection| {
        diesel::update(
            throttles::table
                .find(key)
                .filter(throttles::blocked_until.le(now)),
        )
        .set((
            throttles::failures.eq(throttles::failures + 1),
            throttles::updated_at.eq(now),
        ))
        .execute(conn)
    };
    let mut bumped = bump(conn)?;
    if bumped == 0 {
        let existing: Option<i64> = throttles::table
            .find(key)
            .select(throttles::blocked_until)
            .first(conn)
            .optional()?;
        if let Some(until) = existing {
            return Ok(Err(until));
        }
        bumped = insert_first_failure(conn, key, now)?;
        if bumped == 0 && bump(conn)? == 0 {
            let until: i64 = throttles::table
                .find(key)
                .select(throttles::blocked_until)
                .first(conn)?;
            return Ok(Err(until));
        }
    }
    let failures: i64 = throttles::table
        .find(key)
        .select(throttles::failures)
        .first(conn)?;
    diesel::update(throttles::table.find(key))
        .set(throttles::blocked_until.eq(now + rule.delay_after(failures)))
        .execute(conn)?;
    Ok(Ok(failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_a_ceiling() {
        let rule = ThrottleRule::delays(3, 1, 60);
        assert_eq!(rule.delay_after(3), 1);
        assert_eq!(rule.delay_after(2), 0);
        assert_eq!(rule.delay_after(4), 2);
        assert_eq!(rule.delay_after(6), 8);
        assert_eq!(rule.delay_after(100), 60);
    }

    #[test]
    fn a_lockout_follows_the_last_free_guess() {
        let rule = ThrottleRule {
            lockout_after: Some(100),
            lockout: 86_400,
            ..ThrottleRule::delays(5, 1, 900)
        };
        assert_eq!(rule.delay_after(99), 900);
        assert_eq!(rule.delay_after(100), 86_400);
        assert_eq!(rule.forgotten_after(), 2 * 86_400);
    }

    /// `take_free` relies on it: below `first_delayed` no count costs a delay, from it on
    /// every count does.
    #[test]
    fn the_first_delayed_count_is_where_delays_start() {
        let rules = [
            ThrottleRule::delays(3, 1, 60),
            ThrottleRule::delays(0, 1, 60),
            ThrottleRule::delays(1, 2, 60),
            ThrottleRule::delays(5, 0, 0),
            ThrottleRule {
                lockout_after: Some(7),
                lockout: 600,
                ..ThrottleRule::delays(20, 1, 60)
            },
            ThrottleRule {
                lockout_after: Some(4),
                lockout: 600,
                ..ThrottleRule::delays(5, 0, 0)
            },
        ];
        for rule in rules {
            let first = rule.first_delayed();
            for failures in 0..200 {
                assert_eq!(
                    rule.delay_after(failures) > 0,
                    failures >= first,
                    "{rule:?} at {failures}"
                );
            }
        }
    }
}
