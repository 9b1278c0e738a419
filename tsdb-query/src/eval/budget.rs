//! A query's limits, shared by the threads that read for it: the sample limit, the
//! timeout and cancellation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// One query's budget. Checked at every node evaluated, every series read and every step
/// of the per-step operators.
#[derive(Debug)]
pub(crate) struct Budget {
    started: Instant,
    timeout: Duration,
    max_samples: usize,
    loaded: AtomicUsize,
    cancel: Option<CancelToken>,
}

impl Budget {
    pub fn new(timeout: Duration, max_samples: usize, cancel: Option<CancelToken>) -> Budget {
        Budget {
            started: Instant::now(),
            timeout,
            max_samples,
            loaded: AtomicUsize::new(0),
            cancel,
        }
    }

    /// Fails once the query was canceled or has run past its timeout (cancellation
    /// first: a canceled query's caller is no longer waiting for the timeout).
    pub fn check(&self) -> Result<()> {
        if self.cancel.as_ref().is_some_and(CancelToken::is_canceled) {
            return Err(Error::Canceled);
        }
        let elapsed = self.started.elapsed();
        if elapsed > self.timeout {
            return Err(Error::Timeout {
                limit_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(())
    }

    /// Counts `n` more samples against the limit.
    pub fn charge(&self, n: usize) -> Result<()> {
        let total = self
            .loaded
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if total > self.max_samples {
            return Err(Error::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }
}
