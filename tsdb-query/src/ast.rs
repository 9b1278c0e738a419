//! The query tree the evaluator runs: our own types, so that the PromQL parser's types stay
//! in `parse.rs` and Rust callers can build the same trees without writing query text
//! (see `builder.rs`).

use std::fmt;

use tsdb_index::Matcher;

/// A PromQL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number literal: a scalar.
    Number(f64),
    /// A string literal.
    String(String),
    /// An instant vector selector, `foo{a="b"} offset 5m @ 1700000000`.
    Selector(Selector),
    /// A range vector selector, `foo[5m]`.
    Range(RangeSelector),
    /// A subquery, `expr[30m:1m]`.
    Subquery(Box<Subquery>),
    /// A function call.
    Call(Call),
    /// An aggregation, `sum by (a) (expr)`.
    Aggregate(Box<Aggregate>),
    /// A binary operation.
    Binary(Box<Binary>),
    /// Unary minus.
    Neg(Box<Expr>),
}

/// Where a selector or subquery is evaluated when it has an `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// A fixed time, milliseconds since the epoch.
    Time(i64),
    /// The start of the query range (`@ start()`).
    Start,
    /// The end of the query range (`@ end()`).
    End,
}

/// An instant vector selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The label matchers, including `__name__` for the metric name.
    pub matchers: Vec<Matcher>,
    /// `offset`, in milliseconds (negative for a negative offset).
    pub offset_ms: i64,
    /// The `@` modifier.
    pub at: Option<At>,
}

/// A range vector selector.
#[derive(Debug, Clone)]
pub struct RangeSelector {
    /// The series and modifiers.
    pub selector: Selector,
    /// The window length in milliseconds.
    pub range_ms: i64,
}

/// A subquery: `expr` evaluated at steps of `step_ms` over a window of `range_ms`.
#[derive(Debug, Clone)]
pub struct Subquery {
    /// The inner expression (scalar or instant vector).
    pub expr: Expr,
    /// The window length in milliseconds.
    pub range_ms: i64,
    /// The resolution; `None` takes the engine's default (Prometheus: the global evaluation
    /// interval).
    pub step_ms: Option<i64>,
    /// `offset`, in milliseconds.
    pub offset_ms: i64,
    /// The `@` modifier.
    pub at: Option<At>,
}

/// A function call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The function.
    pub func: Function,
    /// Its arguments, checked against the function's signature by the parser or builder.
    pub args: Vec<Expr>,
}

/// An aggregation.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The aggregation operator.
    pub op: AggregateOp,
    /// The parameter of `topk`, `bottomk`, `quantile` and `count_values`.
    pub param: Option<Expr>,
    /// `by` / `without`.
    pub grouping: Grouping,
    /// The aggregated expression (an instant vector).
    pub expr: Expr,
}

/// Which labels define an aggregation's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Keep only these labels (`by (...)`; no clause at all is `By(vec![])`).
    By(Vec<String>),
    /// Drop these labels and the metric name (`without (...)`).
    Without(Vec<String>),
}

/// A binary operation.
#[derive(Debug, Clone)]
pub struct Binary {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool` on a comparison: return 0/1 instead of filtering.
    pub return_bool: bool,
    /// How the two sides' series are matched (vector-vector only).
    pub matching: VectorMatching,
}

/// Vector matching of a binary operation between two instant vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// One-to-one, many-to-one (`group_left`), one-to-many (`group_right`) or, for set
    /// operators, many-to-many.
    pub card: Cardinality,
    /// `on (labels)` when true, `ignoring (labels)` when false.
    pub on: bool,
    /// The labels of `on` or `ignoring`.
    pub labels: Vec<String>,
    /// The labels of `group_left(...)` / `group_right(...)`, copied from the "one" side.
    pub include: Vec<String>,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
        }
    }
}

/// Matching cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Each series matches at most one on the other side.
    OneToOne,
    /// `group_left`: many on the left, one on the right.
    ManyToOne,
    /// `group_right`: one on the left, many on the right.
    OneToMany,
    /// Set operators (`and`, `or`, `unless`).
    ManyToMany,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the variants are the operators named
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    /// `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Le
        )
    }

    /// `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// The operator as written in PromQL.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Le => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the variants are the operators named
pub enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

impl AggregateOp {
    /// The operator as written in PromQL.
    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Count => "count",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::CountValues => "count_values",
        }
    }

    /// Looks an operator up by its PromQL name.
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        AGGREGATE_OPS.iter().copied().find(|op| op.name() == name)
    }
}

const AGGREGATE_OPS: [AggregateOp; 12] = [
    AggregateOp::Sum,
    AggregateOp::Avg,
    AggregateOp::Min,
    AggregateOp::Max,
    AggregateOp::Count,
    AggregateOp::Group,
    AggregateOp::Stddev,
    AggregateOp::Stdvar,
    AggregateOp::Topk,
    AggregateOp::Bottomk,
    AggregateOp::Quantile,
    AggregateOp::CountValues,
];

/// The type of a PromQL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A number (one per evaluation step).
    Scalar,
    /// An instant vector.
    Vector,
    /// A range vector.
    Matrix,
    /// A string.
    String,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        })
    }
}

macro_rules! functions {
    ($($variant:ident => $name:literal, [$($arg:ident),*], $opt:literal, $ret:ident;)*) => {
        /// The PromQL functions this engine evaluates.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)] // each variant is the PromQL function of the same name
        pub enum Function { $($variant,)* }

        impl Function {
            /// Every function, for lookup by name.
            pub const ALL: &'static [Function] = &[$(Function::$variant,)*];

            /// The function's PromQL name.
            pub fn name(self) -> &'static str {
                match self { $(Function::$variant => $name,)* }
            }

            /// Argument types; the last `optional_args()` of them may be left out.
            pub fn arg_types(self) -> &'static [ValueType] {
                match self { $(Function::$variant => &[$(ValueType::$arg),*],)* }
            }

            /// How many trailing arguments may be omitted (`-1` for variadic
            /// `label_join`, whose last type repeats).
            pub fn optional_args(self) -> i32 {
                match self { $(Function::$variant => $opt,)* }
            }

            /// The type of the result.
            pub fn return_type(self) -> ValueType {
                match self { $(Function::$variant => ValueType::$ret,)* }
            }
        }
    };
}

functions! {
    Abs => "abs", [Vector], 0, Vector;
    Absent => "absent", [Vector], 0, Vector;
    AbsentOverTime => "absent_over_time", [Matrix], 0, Vector;
    Acos => "acos", [Vector], 0, Vector;
    Acosh => "acosh", [Vector], 0, Vector;
    Asin => "asin", [Vector], 0, Vector;
    Asinh => "asinh", [Vector], 0, Vector;
    Atan => "atan", [Vector], 0, Vector;
    Atanh => "atanh", [Vector], 0, Vector;
    AvgOverTime => "avg_over_time", [Matrix], 0, Vector;
    Ceil => "ceil", [Vector], 0, Vector;
    Changes => "changes", [Matrix], 0, Vector;
    Clamp => "clamp", [Vector, Scalar, Scalar], 0, Vector;
    ClampMax => "clamp_max", [Vector, Scalar], 0, Vector;
    ClampMin => "clamp_min", [Vector, Scalar], 0, Vector;
    Cos => "cos", [Vector], 0, Vector;
    Cosh => "cosh", [Vector], 0, Vector;
    CountOverTime => "count_over_time", [Matrix], 0, Vector;
    DayOfMonth => "day_of_month", [Vector], 1, Vector;
    DayOfWeek => "day_of_week", [Vector], 1, Vector;
    DayOfYear => "day_of_year", [Vector], 1, Vector;
    DaysInMonth => "days_in_month", [Vector], 1, Vector;
    Deg => "deg", [Vector], 0, Vector;
    Delta => "delta", [Matrix], 0, Vector;
    Deriv => "deriv", [Matrix], 0, Vector;
    EmaOverTime => "ema_over_time", [Matrix, Scalar], 0, Vector;
    Exp => "exp", [Vector], 0, Vector;
    Floor => "floor", [Vector], 0, Vector;
    HistogramQuantile => "histogram_quantile", [Scalar, Vector], 0, Vector;
    Hour => "hour", [Vector], 1, Vector;
    Idelta => "idelta", [Matrix], 0, Vector;
    Increase => "increase", [Matrix], 0, Vector;
    Irate => "irate", [Matrix], 0, Vector;
    LabelJoin => "label_join", [Vector, String, String, String], -1, Vector;
    LabelReplace => "label_replace", [Vector, String, String, String, String], 0, Vector;
    LastOverTime => "last_over_time", [Matrix], 0, Vector;
    Ln => "ln", [Vector], 0, Vector;
    Log10 => "log10", [Vector], 0, Vector;
    Log2 => "log2", [Vector], 0, Vector;
    MadOverTime => "mad_over_time", [Matrix], 0, Vector;
    MaxOverTime => "max_over_time", [Matrix], 0, Vector;
    MinOverTime => "min_over_time", [Matrix], 0, Vector;
    Minute => "minute", [Vector], 1, Vector;
    Month => "month", [Vector], 1, Vector;
    Pi => "pi", [], 0, Scalar;
    PredictLinear => "predict_linear", [Matrix, Scalar], 0, Vector;
    PresentOverTime => "present_over_time", [Matrix], 0, Vector;
    QuantileOverTime => "quantile_over_time", [Scalar, Matrix], 0, Vector;
    Rad => "rad", [Vector], 0, Vector;
    Rate => "rate", [Matrix], 0, Vector;
    Resets => "resets", [Matrix], 0, Vector;
    Round => "round", [Vector, Scalar], 1, Vector;
    Scalar => "scalar", [Vector], 0, Scalar;
    Sgn => "sgn", [Vector], 0, Vector;
    Sin => "sin", [Vector], 0, Vector;
    Sinh => "sinh", [Vector], 0, Vector;
    Sort => "sort", [Vector], 0, Vector;
    SortDesc => "sort_desc", [Vector], 0, Vector;
    Sqrt => "sqrt", [Vector], 0, Vector;
    StddevOverTime => "stddev_over_time", [Matrix], 0, Vector;
    StdvarOverTime => "stdvar_over_time", [Matrix], 0, Vector;
    SumOverTime => "sum_over_time", [Matrix], 0, Vector;
    Tan => "tan", [Vector], 0, Vector;
    Tanh => "tanh", [Vector], 0, Vector;
    Time => "time", [], 0, Scalar;
    Timestamp => "timestamp", [Vector], 0, Vector;
    Vector => "vector", [Scalar], 0, Vector;
    Year => "year", [Vector], 1, Vector;
}

impl Function {
    /// Looks a function up by its PromQL name.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl Expr {
    /// The type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Selector(_) => ValueType::Vector,
            Expr::Range(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Call(c) => c.func.return_type(),
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Neg(e) => e.value_type(),
        }
    }
}
