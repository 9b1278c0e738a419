//! Canceling a running query from another thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cloneable handle that cancels the queries it is passed to: the caller keeps a clone
/// and calls [`CancelToken::cancel`] (a client went away, the server shuts down, a rule
/// evaluation was superseded). The engine checks it wherever it checks its timeout (every
/// node evaluated, every series read, every step of the per-step operators), and a
/// canceled query returns [`Error::Canceled`](crate::Error::Canceled) (Prometheus'
/// `errorType` `"canceled"`), distinct from a timeout.
///
/// ```
/// use tsdb_query::CancelToken;
///
/// let token = CancelToken::new();
/// let for_the_query = token.clone();
/// token.cancel();
/// assert!(for_the_query.is_canceled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not canceled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every query this token (or a clone of it) was passed to. It stays
    /// canceled: a query started with it afterwards fails at once.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`CancelToken::cancel`] was called on it or on a clone.
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
