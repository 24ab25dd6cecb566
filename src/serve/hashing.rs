//! The password-hashing pool: bcrypt and argon2id never run on an async worker. At most one
//! check per core runs at a time, a bounded number wait, and past that `POST /token` is
//! refused at once (503 with `Retry-After`), so logins can never starve token verification.
//! A login's check and its rehash (SPEC §11) run one after the other in one slot, so at most
//! one argon2 computation per core holds its memory (m KiB, at most 256 MiB by the bounds of
//! `passwords`) at any time.
//!
//! Each check runs on a thread of its own (its start costs microseconds; a check, tens to
//! hundreds of milliseconds) that lowers its own scheduling priority first on Linux (`nice`
//! +10, through `rustix`): with as many hashing threads as cores, the async workers would
//! otherwise wait for the scheduler behind them, and token checks would be late under a
//! login flood. Elsewhere the priority is left as it is. The thread ends with the check, so
//! the lowered priority never reaches other work.

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
    /// Checks on a hashing thread now.
    running_now: Arc<AtomicUsize>,
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
            running_now: Arc::default(),
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

    /// Runs `work` on a thread of its own, at a lower priority, once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        _ticket: Ticket,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let slot = self.running.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let slot = slot.ok()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let running = self.running_now.clone();
        running.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("jwtauth-hash".into())
            .spawn(move || {
                let _slot = slot;
                lower_priority();
                let out = work();
                running.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(out);
            });
        if spawned.is_err() {
            self.running_now.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        rx.await.ok()
    }

    /// Checks running now (the metrics' `jwtauth_hash_running`).
    pub fn running(&self) -> usize {
        self.running_now.load(Ordering::Relaxed)
    }

    /// Checks waiting for a slot now (the metrics' queue depth).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// How much lower than the workers' the hashing threads' priority is (a `nice` increment).
pub const NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority by [`NICE`] (Linux: `setpriority` on the
/// thread id, which applies to that thread alone). A failure leaves the priority as it was:
/// the check still runs, only less politely.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Ok(now) = rustix::process::getpriority_process(Some(tid)) {
            let _ = rustix::process::setpriority_process(Some(tid), (now + NICE).min(19));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_runs_at_a_lower_priority() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = Pool::new(1, 1);
        let ticket = pool.admit().unwrap();
        let (mine, theirs) = rt.block_on(async {
            let mine = current_priority();
            (mine, pool.run(ticket, current_priority).await.unwrap())
        });
        #[cfg(target_os = "linux")]
        assert_eq!(theirs, (mine + NICE).min(19));
        #[cfg(not(target_os = "linux"))]
        assert_eq!(theirs, mine);
    }

    fn current_priority() -> i32 {
        #[cfg(target_os = "linux")]
        return rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        #[cfg(not(target_os = "linux"))]
        0
    }
}
