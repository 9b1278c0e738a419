//! The query engine's typed errors.

/// What can go wrong parsing or evaluating a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query text is not valid PromQL (syntax or types).
    #[error("{}", parse_message(.message, .position))]
    Parse {
        /// What is wrong, in the parser's words.
        message: String,
        /// Where, as `(line, column)` counted from 1, when it can be told.
        position: Option<(usize, usize)>,
    },
    /// The query is valid PromQL but cannot run as asked (a range vector as the result of
    /// a range query, a bad argument such as a label name, unsupported syntax).
    #[error("{0}")]
    Invalid(String),
    /// Evaluation failed on the data (Prometheus' "execution" errors: many-to-many
    /// matching, duplicate label sets in a result).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples in memory than the engine allows.
    #[error("query processing would load too many samples into memory (limit {limit})")]
    TooManySamples {
        /// The configured limit.
        limit: usize,
    },
    /// The query ran longer than the engine's timeout.
    #[error("query timed out after {elapsed_ms} ms (limit {limit_ms} ms)")]
    Timeout {
        /// The configured limit.
        limit_ms: u64,
        /// How long it had run when stopped.
        elapsed_ms: u64,
    },
    /// The query was canceled through its [`CancelToken`](crate::CancelToken).
    #[error("query was canceled")]
    Canceled,
    /// The query is nested deeper than the engine evaluates: brackets, function calls,
    /// aggregations, subqueries and operators each add a level. Refused before any
    /// recursion, so no query text can overflow a thread's stack.
    #[error(
        "query is nested too deeply: more than {limit} levels (each bracket, function call, \
         aggregation, subquery and operator counts as one)"
    )]
    TooDeep {
        /// The limit, [`MAX_DEPTH`](crate::MAX_DEPTH).
        limit: usize,
    },
    /// Reading the storage failed.
    #[error("storage: {0}")]
    Storage(crate::storage::StorageError),
    /// A failure inside the engine, not caused by the query (a read task that panicked):
    /// a bug to report.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<tsdb_core::Error> for Error {
    fn from(e: tsdb_core::Error) -> Error {
        Error::Storage(Box::new(e))
    }
}

fn parse_message(message: &str, position: &Option<(usize, usize)>) -> String {
    match position {
        Some((line, col)) => format!("parse error at {line}:{col}: {message}"),
        None => format!("parse error: {message}"),
    }
}

/// The message of a caught panic, when it carries one (the parser's, a read task's, the
/// evaluator's), for the error that replaces it.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
