//! Query results, shaped like the Prometheus HTTP API's `data.result`.

use tsdb_index::Labels;

/// One sample of a series in a result: milliseconds since the epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// A series with its points, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The labels.
    pub labels: Labels,
    /// The points, in time order.
    pub points: Vec<Point>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The labels.
    pub labels: Labels,
    /// The evaluation time (or, for `timestamp()`-like results, what the function says).
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at the evaluation time.
    Scalar {
        /// Evaluation time, milliseconds.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at the evaluation time.
    String {
        /// Evaluation time, milliseconds.
        t: i64,
        /// The string.
        s: String,
    },
    /// An instant vector (instant queries).
    Vector(Vec<InstantSample>),
    /// A range vector: raw samples of an instant query such as `foo[5m]`, or the result of
    /// a range query.
    Matrix(Vec<Series>),
}

impl Value {
    /// The Prometheus API's name of this result type.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}
