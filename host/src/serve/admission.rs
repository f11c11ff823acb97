//! How many requests run at once and how many may wait for a slot. Beyond both, a request is
//! refused at once (503) instead of queueing without bound: memory stays proportional to
//! `running + waiting`, whatever the load.

use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

pub struct Admission {
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// The number waiting, for the metrics.
    queued: Gauge,
}

impl Admission {
    pub fn new(running: usize, waiting: usize, queued: Gauge) -> Self {
        Self {
            slots: Semaphore::new(running),
            waiting: AtomicUsize::new(0),
            max_waiting: waiting,
            queued,
        }
    }

    /// A slot, possibly after waiting in the (FIFO) queue; `None` when every slot is busy and
    /// the queue is full. Dropping the permit frees the slot.
    pub async fn admit(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Some(permit);
        }
        let _place = QueuePlace::take(&self.waiting, self.max_waiting, &self.queued)?;
        self.slots.acquire().await.ok()
    }
}

/// One place in the queue, given back on drop (also when the waiting request is cancelled).
struct QueuePlace<'a>(&'a AtomicUsize, &'a Gauge);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize, max: usize, queued: &'a Gauge) -> Option<Self> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        queued.inc();
        Some(Self(waiting, queued))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        self.1.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_queues_then_refuses() {
        let queued = Gauge::default();
        let admission = Admission::new(1, 1, queued.clone());
        let running = admission.admit().await.expect("a free slot");
        let mut queued_call = Box::pin(admission.admit());
        // The second request waits in the queue...
        assert!(
            tokio::time::timeout(Duration::from_millis(50), queued_call.as_mut())
                .await
                .is_err()
        );
        // ...so a third finds the queue full and is refused without waiting.
        assert!(admission.admit().await.is_none());
        assert_eq!(queued.get(), 1);
        drop(running);
        let second = queued_call.await.expect("the queued request gets the slot");
        assert_eq!(queued.get(), 0);
        assert!(admission.slots.try_acquire().is_err(), "one slot only");
        drop(second);
        assert!(admission.admit().await.is_some());
    }

    #[tokio::test]
    async fn a_cancelled_wait_gives_its_place_back() {
        let admission = Admission::new(1, 1, Gauge::default());
        let _running = admission.admit().await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(20), admission.admit()).await;
        assert!(waited.is_err(), "no slot was free");
        assert_eq!(admission.waiting.load(Ordering::Acquire), 0);
        // The place is free again: another request may queue.
        let again = tokio::time::timeout(Duration::from_millis(20), admission.admit()).await;
        assert!(again.is_err(), "queued (not refused) until the timeout");
    }

    #[tokio::test]
    async fn zero_queue_refuses_when_busy() {
        let admission = Admission::new(2, 0, Gauge::default());
        let a = admission.admit().await.unwrap();
        let _b = admission.admit().await.unwrap();
        assert!(admission.admit().await.is_none());
        drop(a);
        assert!(admission.admit().await.is_some());
    }
}
