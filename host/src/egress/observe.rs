//! Telling someone (serve's metrics) about every outgoing call of the component: how it
//! ended, and whether it repeated the call before it.
//!
//! The guest retries what is safe to retry (429, 503, dropped connections) by sending the
//! same method and URL again; a store's calls are sequential, so "the same request again
//! right after one that failed or was throttled" is a retry.

use http::{Method, Uri};
use std::sync::{Arc, Mutex};

/// How one outgoing call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// The upstream answered with this status.
    Answered(u16),
    /// No answer: connection refused or dropped, timed out, no credentials.
    Failed,
    /// Refused by the egress policy; never dialled.
    Denied,
}

/// Receives every outgoing call's outcome (shared by all stores).
pub trait EgressObserver: Send + Sync {
    fn call_ended(&self, outcome: Outgoing);
    /// The call about to be sent repeats the one before it, which failed or was throttled.
    fn call_retried(&self);
}

/// Per store: the observer, and the last call that a retry would repeat.
#[derive(Clone)]
pub struct CallLog {
    observer: Arc<dyn EgressObserver>,
    last_failed: Arc<Mutex<Option<(Method, Uri)>>>,
}

impl CallLog {
    pub fn new(observer: Arc<dyn EgressObserver>) -> Self {
        Self {
            observer,
            last_failed: Arc::default(),
        }
    }

    /// Before sending: reports a retry when this call repeats a failed one.
    pub fn starting(&self, method: &Method, uri: &Uri) {
        let last = self.last();
        if last.as_ref().is_some_and(|(m, u)| m == method && u == uri) {
            self.observer.call_retried();
        }
    }

    /// After: the outcome, remembered when a retry could follow.
    pub fn ended(&self, method: Method, uri: Uri, outcome: Outgoing) {
        self.observer.call_ended(outcome);
        let retryable = match outcome {
            Outgoing::Answered(status) => status == 429 || status >= 500,
            Outgoing::Failed => true,
            Outgoing::Denied => false,
        };
        *self.last() = retryable.then_some((method, uri));
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<(Method, Uri)>> {
        self.last_failed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counts {
        ended: AtomicUsize,
        retried: AtomicUsize,
    }

    impl EgressObserver for Counts {
        fn call_ended(&self, _: Outgoing) {
            self.ended.fetch_add(1, Ordering::SeqCst);
        }
        fn call_retried(&self) {
            self.retried.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_retry_is_the_same_call_right_after_a_failed_one() {
        let counts = Arc::new(Counts::default());
        let log = CallLog::new(counts.clone());
        let submit: Uri = "https://w/api/2.2/jobs/runs/submit".parse().unwrap();
        let get: Uri = "https://w/api/2.2/jobs/runs/get?run_id=1".parse().unwrap();
        let call = |uri: &Uri, outcome| {
            log.starting(&Method::POST, uri);
            log.ended(Method::POST, uri.clone(), outcome);
        };
        call(&submit, Outgoing::Answered(200));
        call(&submit, Outgoing::Answered(200)); // a second submit, not a retry
        call(&submit, Outgoing::Answered(429));
        call(&submit, Outgoing::Failed); // retry 1
        call(&submit, Outgoing::Answered(200)); // retry 2
        call(&get, Outgoing::Answered(503));
        call(&submit, Outgoing::Answered(200)); // another call, not a retry
        assert_eq!(counts.ended.load(Ordering::SeqCst), 7);
        assert_eq!(counts.retried.load(Ordering::SeqCst), 2);
    }
}
