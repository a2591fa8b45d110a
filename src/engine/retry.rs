//! The wait between attempts of a failing task.

use std::time::Duration;

use super::spec::{Backoff, RetryPolicy};

/// Fraction of the delay by which jitter may move it either way.
const JITTER: f64 = 0.1;

/// The wait after attempt `failed_attempt` (counted from 1) fails, before the next
/// one: `retry_delay * 2^(k-1)` (exponential) or `retry_delay` (fixed), moved by up
/// to ±10% using `unit` (a number in `[0, 1)`), and never above `max_retry_delay`.
///
/// ```
/// use std::time::Duration;
/// use dag::engine::retry::delay;
/// use dag::engine::spec::{Backoff, RetryPolicy};
///
/// let policy = RetryPolicy {
///     retries: 5,
///     delay: Duration::from_secs(1),
///     max_delay: Duration::from_secs(5),
///     backoff: Backoff::Exponential,
/// };
/// // With the jitter at its midpoint: 1s, 2s, 4s, then the 5s cap.
/// let waits: Vec<u64> = (1..=4).map(|k| delay(&policy, k, 0.5).as_secs()).collect();
/// assert_eq!(waits, [1, 2, 4, 5]);
/// ```
pub fn delay(policy: &RetryPolicy, failed_attempt: u32, unit: f64) -> Duration {
    let base = match policy.backoff {
        Backoff::Fixed => policy.delay,
        Backoff::Exponential => {
            let factor = 2u32.saturating_pow(failed_attempt.saturating_sub(1).min(31));
            policy.delay.saturating_mul(factor)
        }
    };
    let base = base.min(policy.max_delay);
    let jittered = base.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0));
    jittered.min(policy.max_delay)
}

/// Whether a task that just failed its attempt `attempt` may try again.
pub fn may_retry(policy: &RetryPolicy, attempt: u32) -> bool {
    attempt <= policy.retries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
            backoff,
        }
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let p = policy(Backoff::Exponential);
        let mid = |k| delay(&p, k, 0.5);
        assert_eq!(mid(1), Duration::from_secs(2));
        assert_eq!(mid(2), Duration::from_secs(4));
        assert_eq!(mid(3), Duration::from_secs(8));
        assert_eq!(mid(4), Duration::from_secs(10));
        assert_eq!(mid(60), Duration::from_secs(10));
    }

    #[test]
    fn fixed_stays_put() {
        let p = policy(Backoff::Fixed);
        assert_eq!(delay(&p, 1, 0.5), Duration::from_secs(2));
        assert_eq!(delay(&p, 4, 0.5), Duration::from_secs(2));
    }

    #[test]
    fn jitter_is_bounded_and_cap_holds() {
        let p = policy(Backoff::Exponential);
        assert_eq!(delay(&p, 1, 0.0), Duration::from_millis(1800));
        assert!(delay(&p, 1, 0.999) < Duration::from_millis(2200));
        assert_eq!(delay(&p, 4, 0.999), Duration::from_secs(10));
    }

    #[test]
    fn retries_allow_n_plus_one_attempts() {
        let p = policy(Backoff::Fixed);
        assert!(may_retry(&p, 5));
        assert!(!may_retry(&p, 6));
    }
}
