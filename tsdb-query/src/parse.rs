//! The PromQL front end: the only module that sees `promql-parser`'s types. It parses
//! query text and converts the parser's tree into [`crate::ast::Expr`], so a new parser
//! version (or a different parser) touches this one file.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp as PMatchOp, Matchers as PMatchers};
use promql_parser::parser::value::ValueType as PValueType;
use promql_parser::parser::{
    self as pp, AtModifier, BinModifier, LabelModifier, Offset, VectorMatchCardinality,
};
use tsdb_index::Matcher;

use crate::ast::{
    Aggregate, AggregateOp, At, Binary, BinaryOp, Call, Cardinality, Expr, Function, Grouping,
    RangeSelector, Selector, Subquery, VectorMatching,
};
use crate::error::{Error, Result};
use crate::nesting::{self, MAX_DEPTH};

static REGISTER_EXTENSIONS: Once = Once::new();

/// Functions this engine adds to PromQL, registered with the parser once per process.
fn register_extensions() {
    REGISTER_EXTENSIONS.call_once(|| {
        // `ema_over_time(v range-vector, alpha scalar)`: exponential moving average.
        let ema = pp::Function::new(
            "ema_over_time",
            vec![PValueType::Matrix, PValueType::Scalar],
            0,
            PValueType::Vector,
            false,
        );
        // Registration fails only if a future parser version defines the name itself, in
        // which case the parser's own definition is used.
        let _ = pp::register_extra_functions(vec![ema]);
    });
}

/// Parses PromQL text into an expression tree.
///
/// Text nested deeper than [`MAX_DEPTH`] levels is refused with [`Error::TooDeep`]
/// before the parser sees it (the parser recurses, see [`crate::nesting`]), and its tree
/// is measured again, exactly, before it is converted.
pub fn parse(query: &str) -> Result<Expr> {
    convert(&parse_tree(query)?)
}

/// `query` formatted as Prometheus' `/api/v1/format_query` formats it (its prettifier: one
/// line when it fits in 100 columns, otherwise broken and indented by nesting), or the same
/// error [`parse`] gives for text that does not parse.
pub fn prettify(query: &str) -> Result<String> {
    // The prettifier recurses over the tree: measured first, as for evaluation.
    Ok(parse_tree(query)?.prettify())
}

/// `query` on one line as Prometheus prints a parsed expression (Go's `Expr.String()`):
/// the text rule evaluation shows as a rule's `query` in `/api/v1/rules` and puts into
/// an alert's generator URL. The same errors as [`parse`].
pub fn format(query: &str) -> Result<String> {
    Ok(parse_tree(query)?.to_string())
}

/// The parser's tree of `query`, its depth checked: text nested too deep is refused
/// before the parser sees it (the parser recurses, see [`crate::nesting`]) and the tree
/// is measured again, exactly.
fn parse_tree(query: &str) -> Result<pp::Expr> {
    register_extensions();
    nesting::check_text(query)?;
    // promql-parser panics on some inputs (a bare number too large for a duration, as in
    // `foo[1e30]`, goes to `Duration::from_secs_f64`). A query must never take the
    // process down, so a panic in the parser becomes a parse error, and it is not
    // reported on stderr as a crash either.
    let parsed = quietly(|| pp::parse(query)).map_err(|panic| Error::Parse {
        message: format!(
            "the PromQL parser failed on this query ({})",
            crate::error::panic_message(panic.as_ref())
        ),
        position: None,
    })?;
    let tree = parsed.map_err(|message| parse_error(query, message))?;
    check_depth(&tree)?;
    Ok(tree)
}

thread_local! {
    /// Set while this thread runs a [`quietly`] call.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`, catching a panic, with the panic hook silent for panics raised by `f` on
/// this thread only.
///
/// The panic hook is global, so swapping it around each call would race with panics on
/// other threads (theirs would go unreported, or ours be printed). Instead a hook is
/// installed once per process that stays silent while this thread's flag is set and
/// hands every other panic to the hook that was there before it (the default one, which
/// prints the message and backtrace, or the embedder's). An embedder that installs its
/// own hook after the first query replaces this one; its hook then sees the parser's
/// panics too, which are still caught.
fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_with`: the hook may run while a thread's locals are being torn down,
            // and a panic inside a panic hook aborts.
            if !QUIET.try_with(Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(self.0));
        }
    }
    let _reset = Reset(QUIET.with(|q| q.replace(true)));
    catch_unwind(AssertUnwindSafe(f))
}

/// Refuses a parsed tree deeper than [`MAX_DEPTH`], without recursing over it (the
/// conversion below recurses).
fn check_depth(tree: &pp::Expr) -> Result<()> {
    let mut stack = vec![(tree, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { limit: MAX_DEPTH });
        }
        let below = depth + 1;
        match e {
            pp::Expr::Paren(p) => stack.push((&p.expr, below)),
            pp::Expr::Unary(u) => stack.push((&u.expr, below)),
            pp::Expr::Subquery(sq) => stack.push((&sq.expr, below)),
            pp::Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| (a.as_ref(), below))),
            pp::Expr::Aggregate(a) => {
                stack.push((&a.expr, below));
                if let Some(p) = &a.param {
                    stack.push((p, below));
                }
            }
            pp::Expr::Binary(b) => {
                stack.push((&b.lhs, below));
                stack.push((&b.rhs, below));
            }
            pp::Expr::NumberLiteral(_)
            | pp::Expr::StringLiteral(_)
            | pp::Expr::VectorSelector(_)
            | pp::Expr::MatrixSelector(_)
            | pp::Expr::Extension(_) => {}
        }
    }
    Ok(())
}

/// Builds a typed parse error, with a position when the message names a piece of the
/// query that can be found in it (`promql-parser` reports no positions itself).
fn parse_error(query: &str, message: String) -> Error {
    let quoted = message
        .split('\'')
        .nth(1)
        .filter(|s| !s.is_empty() && message.matches('\'').count() >= 2);
    let needle = quoted.or_else(|| message.strip_prefix("illegal regex for "));
    let position = if message.contains("end of input") || message.starts_with("unclosed") {
        Some(line_column(query, query.len()))
    } else {
        needle
            .and_then(|n| query.find(n))
            .map(|offset| line_column(query, offset))
    };
    Error::Parse {
        message: prometheus_wording(&message),
        position,
    }
}

/// Rewords `promql-parser`'s messages the way Prometheus words them where they differ
/// only in spelling: `"name"` for `'name'`, "range vector"/"instant vector" for the type
/// names "matrix"/"vector".
fn prometheus_wording(message: &str) -> String {
    let mut m = message.replace('\'', "\"");
    if m.starts_with("expected type ") || m.contains(", got ") {
        for (from, to) in [
            ("type matrix", "type range vector"),
            ("type vector", "type instant vector"),
            ("got matrix", "got range vector"),
            ("got vector", "got instant vector"),
        ] {
            m = m.replace(from, to);
        }
    }
    m
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn millis(d: &Duration) -> Result<i64> {
    i64::try_from(d.as_millis()).map_err(|_| Error::Invalid(format!("duration {d:?} too long")))
}

fn offset_ms(o: &Option<Offset>) -> Result<i64> {
    Ok(match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d)?,
        Some(Offset::Neg(d)) => -millis(d)?,
    })
}

fn at(a: &Option<AtModifier>) -> Result<Option<At>> {
    Ok(match a {
        None => None,
        Some(AtModifier::Start) => Some(At::Start),
        Some(AtModifier::End) => Some(At::End),
        Some(AtModifier::At(t)) => Some(At::Time(system_time_ms(t)?)),
    })
}

fn system_time_ms(t: &SystemTime) -> Result<i64> {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => Ok(-millis(&e.duration())?),
    }
}

fn matchers(name: &Option<String>, m: &PMatchers) -> Result<Vec<Matcher>> {
    if !m.or_matchers.is_empty() {
        return Err(Error::Invalid(
            "`or` inside a selector's braces is not PromQL".to_string(),
        ));
    }
    let mut out = Vec::with_capacity(m.matchers.len() + 1);
    if let Some(name) = name {
        out.push(Matcher::equal("__name__", name.as_str()));
    }
    for pm in &m.matchers {
        let invalid = |e: tsdb_index::Error| Error::Parse {
            message: format!("invalid matcher {}: {e}", pm.name),
            position: None,
        };
        let matcher = match &pm.op {
            PMatchOp::Equal => Matcher::equal(pm.name.as_str(), pm.value.as_str()),
            PMatchOp::NotEqual => Matcher::not_equal(pm.name.as_str(), pm.value.as_str()),
            PMatchOp::Re(_) => {
                Matcher::regex(pm.name.as_str(), pm.value.as_str()).map_err(invalid)?
            }
            PMatchOp::NotRe(_) => {
                Matcher::not_regex(pm.name.as_str(), pm.value.as_str()).map_err(invalid)?
            }
        };
        out.push(matcher);
    }
    Ok(out)
}

fn selector(vs: &pp::VectorSelector) -> Result<Selector> {
    Ok(Selector {
        matchers: matchers(&vs.name, &vs.matchers)?,
        offset_ms: offset_ms(&vs.offset)?,
        at: at(&vs.at)?,
    })
}

fn label_list(l: &promql_parser::label::Labels) -> Vec<String> {
    l.labels.clone()
}

fn binary_op(op: &str) -> Result<BinaryOp> {
    Ok(match op {
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        "%" => BinaryOp::Mod,
        "^" => BinaryOp::Pow,
        "atan2" => BinaryOp::Atan2,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        ">" => BinaryOp::Gt,
        "<" => BinaryOp::Lt,
        ">=" => BinaryOp::Ge,
        "<=" => BinaryOp::Le,
        "and" => BinaryOp::And,
        "or" => BinaryOp::Or,
        "unless" => BinaryOp::Unless,
        other => {
            return Err(Error::Invalid(format!(
                "unsupported binary operator {other}"
            )))
        }
    })
}

fn vector_matching(op: BinaryOp, m: &Option<BinModifier>) -> (bool, VectorMatching) {
    let mut vm = VectorMatching::default();
    if op.is_set() {
        vm.card = Cardinality::ManyToMany;
    }
    let Some(m) = m else {
        return (false, vm);
    };
    match &m.card {
        VectorMatchCardinality::OneToOne => {}
        VectorMatchCardinality::ManyToMany => vm.card = Cardinality::ManyToMany,
        VectorMatchCardinality::ManyToOne(l) => {
            vm.card = Cardinality::ManyToOne;
            vm.include = label_list(l);
        }
        VectorMatchCardinality::OneToMany(l) => {
            vm.card = Cardinality::OneToMany;
            vm.include = label_list(l);
        }
    }
    if op.is_set() {
        vm.card = Cardinality::ManyToMany;
    }
    match &m.matching {
        Some(LabelModifier::Include(l)) => {
            vm.on = true;
            vm.labels = label_list(l);
        }
        Some(LabelModifier::Exclude(l)) => vm.labels = label_list(l),
        None => {}
    }
    (m.return_bool, vm)
}

/// Converts the parser's tree. A thin dispatcher over one function per node kind: it
/// recurses once per level of the query, and its frame (with every arm's temporaries in
/// an unoptimised build) is what each level costs on the stack, so it holds none.
fn convert(e: &pp::Expr) -> Result<Expr> {
    match e {
        pp::Expr::NumberLiteral(n) => Ok(Expr::Number(n.val)),
        pp::Expr::StringLiteral(s) => Ok(Expr::String(s.val.clone())),
        pp::Expr::Paren(p) => convert(&p.expr),
        pp::Expr::Unary(u) => convert_unary(u),
        pp::Expr::VectorSelector(vs) => Ok(Expr::Selector(selector(vs)?)),
        pp::Expr::MatrixSelector(ms) => convert_matrix(ms),
        pp::Expr::Subquery(sq) => convert_subquery(sq),
        pp::Expr::Call(c) => convert_call(c),
        pp::Expr::Aggregate(a) => convert_aggregate(a),
        pp::Expr::Binary(b) => convert_binary(b),
        pp::Expr::Extension(_) => Err(Error::Invalid(
            "parser extension nodes are not supported".into(),
        )),
    }
}

fn convert_unary(u: &pp::UnaryExpr) -> Result<Expr> {
    Ok(Expr::Neg(Box::new(convert(&u.expr)?)))
}

fn convert_matrix(ms: &pp::MatrixSelector) -> Result<Expr> {
    Ok(Expr::Range(RangeSelector {
        selector: selector(&ms.vs)?,
        range_ms: millis(&ms.range)?,
    }))
}

fn convert_subquery(sq: &pp::SubqueryExpr) -> Result<Expr> {
    Ok(Expr::Subquery(Box::new(Subquery {
        expr: convert(&sq.expr)?,
        range_ms: millis(&sq.range)?,
        step_ms: sq.step.as_ref().map(millis).transpose()?.filter(|&s| s > 0),
        offset_ms: offset_ms(&sq.offset)?,
        at: at(&sq.at)?,
    })))
}

fn convert_call(c: &pp::Call) -> Result<Expr> {
    let func = Function::from_name(c.func.name).ok_or_else(|| Error::Parse {
        message: format!("function {} is not supported", c.func.name),
        position: None,
    })?;
    let args = c
        .args
        .args
        .iter()
        .map(|a| convert(a))
        .collect::<Result<Vec<_>>>()?;
    Ok(Expr::Call(Call { func, args }))
}

fn convert_aggregate(a: &pp::AggregateExpr) -> Result<Expr> {
    let name = a.op.to_string();
    let op = AggregateOp::from_name(&name).ok_or_else(|| Error::Parse {
        message: format!("aggregation {name} is not supported"),
        position: None,
    })?;
    let grouping = match &a.modifier {
        None => Grouping::By(Vec::new()),
        Some(LabelModifier::Include(l)) => Grouping::By(label_list(l)),
        Some(LabelModifier::Exclude(l)) => Grouping::Without(label_list(l)),
    };
    Ok(Expr::Aggregate(Box::new(Aggregate {
        op,
        param: a.param.as_ref().map(|p| convert(p)).transpose()?,
        grouping,
        expr: convert(&a.expr)?,
    })))
}

fn convert_binary(b: &pp::BinaryExpr) -> Result<Expr> {
    let op = binary_op(&b.op.to_string())?;
    let (return_bool, matching) = vector_matching(op, &b.modifier);
    Ok(Expr::Binary(Box::new(Binary {
        op,
        lhs: convert(&b.lhs)?,
        rhs: convert(&b.rhs)?,
        return_bool,
        matching,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_modifiers_and_matching() {
        let e = parse(r#"x + ignoring(a) group_right(b) y offset 5m"#).unwrap();
        let Expr::Binary(b) = e else {
            panic!("not binary: {e:?}")
        };
        assert_eq!(b.op, BinaryOp::Add);
        assert_eq!(b.matching.card, Cardinality::OneToMany);
        assert!(!b.matching.on);
        assert_eq!(b.matching.labels, vec!["a".to_string()]);
        assert_eq!(b.matching.include, vec!["b".to_string()]);
        let Expr::Selector(s) = &b.rhs else { panic!() };
        assert_eq!(s.offset_ms, 300_000);
        assert_eq!(s.matchers[0].value(), "y");
    }

    #[test]
    fn parser_panics_become_parse_errors() {
        for q in [
            "1[2222222222222222222222222222222222]",
            "foo[1e30]",
            "foo offset 1e30",
        ] {
            assert!(matches!(parse(q), Err(Error::Parse { .. })), "{q}");
        }
    }

    #[test]
    fn ema_extension_parses() {
        let e = parse("ema_over_time(x[5m], 0.3)").unwrap();
        let Expr::Call(c) = e else { panic!() };
        assert_eq!(c.func, Function::EmaOverTime);
    }

    #[test]
    fn errors_are_typed_and_located_when_possible() {
        match parse("sum(rate(x[5m])) + nosuch_fn(y)") {
            Err(Error::Parse { message, position }) => {
                assert!(message.contains("nosuch_fn"), "{message}");
                assert_eq!(position, Some((1, 20)));
            }
            other => panic!("{other:?}"),
        }
        match parse("rate(foo)") {
            Err(Error::Parse { message, .. }) => assert_eq!(
                message,
                r#"expected type range vector in call to function "rate", got instant vector"#
            ),
            other => panic!("{other:?}"),
        }
        match parse("sum(foo{a=\"b\"") {
            Err(Error::Parse { position, .. }) => assert_eq!(position, Some((1, 14))),
            other => panic!("{other:?}"),
        }
    }
}
