//! The bounded query pool. Queries evaluate on tokio's blocking threads, at most
//! `--query-max-concurrency` at once (a semaphore: more wait in line for a slot), so
//! the async threads that accept connections and take writes are never occupied by a
//! query, and a burst of heavy queries cannot take every blocking thread that writes need
//! for their WAL fsyncs.
//!
//! Each query gets a deadline, the smaller of `--query-timeout` and the request's
//! `timeout` parameter, counted from when it arrives (waiting for a slot included). When
//! the deadline passes, or the client goes away (the request's future is dropped), the
//! query's [`CancelToken`] is canceled and the engine stops at its next check.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tsdb_query::CancelToken;

use super::response::{ApiError, ErrorType};

/// The pool: a slot count and the longest a query may take.
#[derive(Debug, Clone)]
pub struct QueryPool {
    slots: Arc<Semaphore>,
    timeout: Duration,
    in_flight: Arc<AtomicI64>,
}

/// Cancels its token when dropped unless disarmed: the request went away (or the
/// deadline passed) before the query finished.
struct CancelOnDrop(Option<CancelToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

impl QueryPool {
    /// A pool running `concurrency` queries at once, each for at most `timeout`.
    pub fn new(concurrency: usize, timeout: Duration) -> QueryPool {
        QueryPool {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            in_flight: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Queries evaluating now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The counter behind [`QueryPool::in_flight`], for `/metrics`.
    pub fn in_flight_counter(&self) -> Arc<AtomicI64> {
        self.in_flight.clone()
    }

    /// The server's query timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `f` on a blocking thread once a slot is free, with a deadline of the pool's
    /// timeout or `timeout` if smaller. `f` gets the query's cancel token. Dropping the
    /// returned future (the client disconnected) cancels the query.
    pub async fn run<T, F>(&self, timeout: Option<Duration>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let limit = timeout.map_or(self.timeout, |t| t.min(self.timeout));
        let started = Instant::now();
        let permit = match tokio::time::timeout(limit, self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => {
                return Err(ApiError::new(
                    ErrorType::Unavailable,
                    "the server is shutting down",
                ))
            }
            Err(_) => {
                return Err(ApiError::new(
                    ErrorType::Timeout,
                    "query timed out in query queue",
                ))
            }
        };
        let token = CancelToken::new();
        let mut guard = CancelOnDrop(Some(token.clone()));
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::Relaxed);
        let task = tokio::task::spawn_blocking(move || {
            let out = f(&token);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            out
        });
        let remaining = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, task).await {
            Ok(Ok(out)) => {
                guard.0 = None;
                Ok(out)
            }
            Ok(Err(join)) => Err(ApiError::new(
                ErrorType::Internal,
                format!("query task failed: {join}"),
            )),
            // the guard cancels the token: the thread stops at the engine's next check
            Err(_) => Err(ApiError::new(
                ErrorType::Timeout,
                "query timed out in expression evaluation",
            )),
        }
    }

    /// Stops handing out slots: queued queries fail at once.
    pub fn close(&self) {
        self.slots.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deadline_cancels_and_the_queue_is_bounded() {
        let pool = QueryPool::new(1, Duration::from_millis(200));
        // a query that only stops when canceled
        let slow = pool.run(None, |token: &CancelToken| {
            let start = Instant::now();
            while !token.is_canceled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            token.is_canceled()
        });
        let queued = pool.run(Some(Duration::from_millis(50)), |_: &CancelToken| 1);
        let (slow, queued) = tokio::join!(slow, queued);
        assert_eq!(slow.unwrap_err().kind, ErrorType::Timeout);
        let e = queued.unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorType::Timeout, "query timed out in query queue")
        );
        // the slot is free again once the canceled query has stopped
        let t0 = Instant::now();
        assert_eq!(pool.run(None, |_: &CancelToken| 7).await.unwrap(), 7);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_request_cancels_its_query() {
        let pool = QueryPool::new(2, Duration::from_secs(30));
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = pool.run(None, move |token: &CancelToken| {
            let start = Instant::now();
            while !token.is_canceled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = tx.send(token.is_canceled());
        });
        // the client goes away after 50 ms
        let _ = tokio::time::timeout(Duration::from_millis(50), fut).await;
        let canceled = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(canceled, Ok(true));
    }
}
