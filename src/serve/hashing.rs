//! The password-hashing pool: bcrypt and argon2id never run on an async worker. At most one
//! check per core runs at a time, a bounded number wait, and past that `POST /token` is
//! refused at once (503 with `Retry-After`), so logins can never starve token verification.
//! A login's check and its rehash (SPEC §11) run one after the other in one slot, so at most
//! one argon2 computation per core holds its memory (m KiB, at most 256 MiB by the bounds of
//! `passwords`) at any time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bounded pool of hashing slots.
pub struct Pool {
    /// Running plus waiting.
    admitted: Arc<Semaphore>,
    /// Running.
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Admission to the pool: held while the work waits and runs.
pub struct Ticket {
    _admitted: OwnedSemaphorePermit,
}

impl Pool {
    /// `threads` checks at a time, `queue` more waiting.
    pub fn new(threads: usize, queue: usize) -> Self {
        Pool {
            admitted: Arc::new(Semaphore::new(threads + queue)),
            running: Arc::new(Semaphore::new(threads)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// A ticket, or `None` when the queue is full.
    pub fn admit(&self) -> Option<Ticket> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Ticket { _admitted: p })
    }

    /// Runs `work` on a blocking thread once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        _ticket: Ticket,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let slot = self.running.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let slot = slot.ok()?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .ok()
    }

    /// Checks waiting for a slot now (the metrics' queue depth).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}
