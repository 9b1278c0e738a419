//! The threads that read selectors' series in parallel: one bounded pool per engine,
//! shared by all its queries and clones, started by the first query that needs it.
//!
//! A persistent pool needs tasks that borrow the query's state (its series, its budget,
//! the mapping closure) without `'static` bounds; rayon's scoped tasks do that without
//! `unsafe`, and a panic in a scoped task comes back to the scope's owner instead of
//! aborting (the read path catches it before that, see `read.rs`).

use std::sync::OnceLock;

/// A lazily started pool of `threads` reading threads (none when `threads` is 0).
#[derive(Debug)]
pub(crate) struct ReadPool {
    threads: usize,
    pool: OnceLock<Option<rayon::ThreadPool>>,
}

impl ReadPool {
    pub fn new(threads: usize) -> ReadPool {
        ReadPool {
            threads,
            pool: OnceLock::new(),
        }
    }

    /// The pool, started on first use; `None` when the engine reads on its callers'
    /// threads only, or when the threads could not be started (then it reads there too,
    /// slower but correct).
    pub fn get(&self) -> Option<&rayon::ThreadPool> {
        if self.threads == 0 {
            return None;
        }
        self.pool
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.threads)
                    .thread_name(|i| format!("tsdb-query-read-{i}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }
}
