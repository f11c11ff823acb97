//! What uncached identity checks may cost the workspace: a rate per client address and one for
//! everybody (behind a proxy every caller shares one address), at most a few checks in flight,
//! and a pause when the workspace itself says it is overloaded (SCIM 429). Cached callers never
//! come here: only the unknown pay.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Uncached checks waiting on the workspace at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Client addresses remembered before the idle ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// Why an uncached check is not made now; `retry_after` is when it may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// This server's own limits (429 to the caller).
    Limited { retry_after: Duration },
    /// The workspace asked for a pause (503 to the caller, never a verdict on the token).
    WorkspaceBusy { retry_after: Duration },
}

pub struct CheckLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    overall: DefaultDirectRateLimiter,
    clock: DefaultClock,
    in_flight: Semaphore,
    /// No check is sent before this instant (the workspace's `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

impl CheckLimits {
    /// `per_address` checks per second from one address (bursts of twice that), `overall`
    /// per second from all of them.
    pub fn new(per_address: NonZeroU32, overall: NonZeroU32) -> Self {
        let burst = per_address.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            per_address: RateLimiter::keyed(Quota::per_second(per_address).allow_burst(burst)),
            overall: RateLimiter::direct(Quota::per_second(overall)),
            clock: DefaultClock::default(),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            paused_until: Mutex::new(None),
        }
    }

    /// Whether `client` may have one more uncached check now (`None`: the address means
    /// nothing, as behind the Apps proxy). A refused check costs nothing of the overall budget.
    pub fn admit(&self, client: Option<IpAddr>) -> Result<(), Held> {
        if let Some(retry_after) = self.pause_left() {
            return Err(Held::WorkspaceBusy { retry_after });
        }
        if self.per_address.len() > MAX_ADDRESSES {
            self.per_address.retain_recent();
        }
        let limited = |wait: Duration| Held::Limited {
            retry_after: wait.max(Duration::from_secs(1)),
        };
        if let Some(client) = client {
            self.per_address
                .check_key(&client)
                .map_err(|n| limited(n.wait_time_from(self.clock.now())))?;
        }
        self.overall
            .check()
            .map_err(|n| limited(n.wait_time_from(self.clock.now())))
    }

    /// A place among the checks in flight, waiting at most `timeout`.
    pub async fn slot(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout(timeout, self.in_flight.acquire())
            .await
            .ok()?
            .ok()
    }

    /// The workspace answered 429: send nothing more for `wait`.
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        *paused = Some(paused.map_or(until, |p| p.max(until)));
    }

    fn pause_left(&self) -> Option<Duration> {
        let paused = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        let left = paused?.checked_duration_since(Instant::now())?;
        // Whole seconds, rounded up, as Retry-After says it.
        Some(Duration::from_secs(left.as_secs() + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn one_address_gets_its_burst_then_waits() {
        let limits = CheckLimits::new(n(10), n(1000));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let admitted = (0..100).filter(|_| limits.admit(Some(a)).is_ok()).count();
        assert!((20..=21).contains(&admitted), "{admitted}");
        match limits.admit(Some(a)) {
            Err(Held::Limited { retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        assert!(
            limits.admit(Some(b)).is_ok(),
            "another address has its own budget"
        );
    }

    #[test]
    fn everybody_together_is_limited_too() {
        let limits = CheckLimits::new(n(100), n(5));
        let admitted = (0..50u8)
            .filter(|i| limits.admit(Some(IpAddr::from([10, 0, 1, *i]))).is_ok())
            .count();
        assert!((5..=6).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_pause_holds_every_check() {
        let limits = CheckLimits::new(n(10), n(50));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limits.pause(Duration::from_secs(3));
        assert_eq!(
            limits.admit(Some(a)),
            Err(Held::WorkspaceBusy {
                retry_after: Duration::from_secs(3)
            })
        );
    }

    #[tokio::test]
    async fn checks_in_flight_are_bounded() {
        let limits = CheckLimits::new(n(10), n(50));
        let mut held = Vec::new();
        for _ in 0..MAX_IN_FLIGHT {
            held.push(limits.slot(Duration::from_millis(10)).await.unwrap());
        }
        assert!(limits.slot(Duration::from_millis(10)).await.is_none());
        held.pop();
        assert!(limits.slot(Duration::from_millis(10)).await.is_some());
    }
}
