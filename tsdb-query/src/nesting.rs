//! The nesting limit. The parser, the conversion of its tree and the evaluator all
//! recurse once per level of the expression, so a query nested deeply enough (10,000
//! parentheses, or `1+1+…+1` with 10,000 terms) would overflow a thread's stack, which
//! aborts the process: nothing can catch it. Queries are measured before anything
//! recurses over them and refused beyond [`MAX_DEPTH`] levels with
//! [`Error::TooDeep`] (the HTTP API's `bad_data`).
//!
//! Three checks, each without recursion:
//! - [`check_text`], on the query text before the parser sees it (`promql-parser` itself
//!   overflows a 2 MiB stack at about 2,000 nested calls in a debug build, and its time
//!   grows with the square of the nesting): each bracket pair, function call,
//!   aggregation and subquery, and each operator, counts as a level, as it does in the
//!   tree the parser will build;
//! - the parser's tree, exactly, before it is converted (`parse.rs`);
//! - [`check_expr`], on trees given to the engine directly (built with
//!   [`crate::builder`]).
//!
//! Prometheus has no such limit (Go stacks grow to 1 GB); 256 levels is far beyond
//! queries people write. The recursive functions (`convert`, `Evaluator::eval`,
//! `functions::eval_call`, `binary::eval`, `aggregate::eval`) are thin dispatchers so
//! that a level costs at most about 3 KB of stack in a debug build and 1.4 KB in a
//! release build (measured per query shape): the deepest accepted query needs under
//! 0.8 MiB, and `tests/nesting.rs` evaluates one of every shape on a 2 MiB thread.

use crate::ast::Expr;
use crate::error::{Error, Result};

/// The most levels of nesting a query may have. A leaf (a selector, a number) is one
/// level; a node adds one to its deepest child.
pub const MAX_DEPTH: usize = 256;

fn too_deep() -> Error {
    Error::TooDeep { limit: MAX_DEPTH }
}

/// Refuses query text nested deeper than [`MAX_DEPTH`], in one pass over the bytes.
///
/// The measure follows the tree the text will parse to: a parenthesised group (a
/// function call, an aggregation's argument, or plain parentheses) adds one level to the
/// deepest thing inside it, every operator (binary, or a unary sign) inside a group adds
/// one to that group, and a subquery's `[range:step]` adds one to its group, as the
/// operators and subqueries do to the tree. Selector braces, range brackets and the label
/// lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right` add nothing,
/// but no brackets of any kind may be nested deeper than the limit either (so the
/// parser never sees deep input, valid or not). Strings and comments are skipped.
pub(crate) fn check_text(query: &str) -> Result<()> {
    struct Group {
        /// `(` groups count a level; brackets, braces and label lists do not.
        counts: bool,
        /// Operators are counted only in expression groups, not inside `{…}` or `[…]`.
        expression: bool,
        /// A `[…]` holding a `:` (a subquery).
        subquery: bool,
        ops: usize,
        deepest_child: usize,
    }
    impl Group {
        fn new(counts: bool, expression: bool) -> Group {
            Group {
                counts,
                expression,
                subquery: false,
                ops: 0,
                deepest_child: 0,
            }
        }
        fn depth(&self) -> usize {
            if self.counts {
                self.deepest_child
                    .saturating_add(self.ops)
                    .saturating_add(1)
            } else {
                self.deepest_child
            }
        }
    }
    /// Closes the innermost group into its parent.
    fn close(stack: &mut Vec<Group>) -> Result<()> {
        if stack.len() < 2 {
            return Ok(()); // an unmatched closing bracket: the parser reports it
        }
        let Some(group) = stack.pop() else {
            return Ok(());
        };
        let depth = group.depth();
        if let Some(parent) = stack.last_mut() {
            if group.subquery {
                parent.ops = parent.ops.saturating_add(1);
            }
            parent.deepest_child = parent.deepest_child.max(depth);
            if parent.depth() > MAX_DEPTH {
                return Err(too_deep());
            }
        }
        Ok(())
    }
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];

    let bytes = query.as_bytes();
    let mut stack = vec![Group::new(true, true)];
    // The last token before this one, whitespace skipped: a word, `@`, or anything else.
    let mut previous_word: Option<&str> = None;
    let mut after_at = false;
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let mut word = None;
        let mut at = false;
        match c {
            b'"' | b'\'' => {
                i += 1;
                while let Some(&x) = bytes.get(i) {
                    i += if x == b'\\' { 2 } else { 1 };
                    if x == c {
                        break;
                    }
                }
                i -= 1;
            }
            b'`' => {
                i += 1;
                while bytes.get(i).is_some_and(|&x| x != b'`') {
                    i += 1;
                }
            }
            b'#' => {
                while bytes.get(i).is_some_and(|&x| x != b'\n') {
                    i += 1;
                }
            }
            b'(' => {
                let label_list = previous_word
                    .is_some_and(|w| LABEL_LISTS.iter().any(|k| w.eq_ignore_ascii_case(k)));
                stack.push(Group::new(!label_list, !label_list));
            }
            b'[' | b'{' => stack.push(Group::new(false, false)),
            b')' | b']' | b'}' => close(&mut stack)?,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~' => {
                // `==`, `!=`, `>=`, `<=` are one operator each
                if matches!(c, b'=' | b'!' | b'<' | b'>' | b'~') {
                    while bytes
                        .get(i + 1)
                        .is_some_and(|x| matches!(x, b'=' | b'!' | b'<' | b'>' | b'~'))
                    {
                        i += 1;
                    }
                }
                // the sign of `offset -5m` and `@ -10` is not an operator
                let sign = matches!(c, b'+' | b'-')
                    && (after_at
                        || previous_word.is_some_and(|w| w.eq_ignore_ascii_case("offset")));
                if let Some(top) = stack.last_mut() {
                    if top.expression && !sign {
                        top.ops = top.ops.saturating_add(1);
                    }
                }
            }
            b'@' => at = true,
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b':' => {
                let start = i;
                while bytes
                    .get(i + 1)
                    .is_some_and(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b':'))
                {
                    i += 1;
                    // a number's exponent sign is part of it: `1e-5`
                    let exponent = bytes.get(i).is_some_and(|x| matches!(x, b'e' | b'E'))
                        && bytes
                            .get(start)
                            .is_some_and(|x| x.is_ascii_digit() || *x == b'.');
                    if exponent && bytes.get(i + 1).is_some_and(|x| matches!(x, b'+' | b'-')) {
                        i += 1;
                    }
                }
                let w = query.get(start..=i).unwrap_or_default();
                if let Some(top) = stack.last_mut() {
                    if w.contains(':') && !top.counts && !top.expression {
                        top.subquery = true;
                    }
                    let keyword = ["and", "or", "unless", "atan2"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k));
                    if keyword && top.expression {
                        top.ops = top.ops.saturating_add(1);
                    }
                }
                word = Some(w);
            }
            _ if c.is_ascii_whitespace() => {
                word = previous_word;
                at = after_at;
            }
            _ => {}
        }
        previous_word = word;
        after_at = at;
        if stack.len() > MAX_DEPTH + 1 || stack.last().is_some_and(|g| g.depth() > MAX_DEPTH) {
            return Err(too_deep());
        }
        i += 1;
    }
    while stack.len() > 1 {
        close(&mut stack)?;
    }
    match stack.last() {
        Some(top) if top.depth() > MAX_DEPTH => Err(too_deep()),
        _ => Ok(()),
    }
}

/// Refuses an expression tree deeper than [`MAX_DEPTH`], without recursing over it.
pub(crate) fn check_expr(expr: &Expr) -> Result<()> {
    let mut stack = vec![(expr, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let below = depth + 1;
        match e {
            Expr::Number(_) | Expr::String(_) | Expr::Selector(_) | Expr::Range(_) => {}
            Expr::Neg(inner) => stack.push((inner, below)),
            Expr::Subquery(sq) => stack.push((&sq.expr, below)),
            Expr::Call(call) => stack.extend(call.args.iter().map(|a| (a, below))),
            Expr::Aggregate(agg) => {
                stack.push((&agg.expr, below));
                if let Some(p) = &agg.param {
                    stack.push((p, below));
                }
            }
            Expr::Binary(bin) => {
                stack.push((&bin.lhs, below));
                stack.push((&bin.rhs, below));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(q: &str) -> bool {
        check_text(q).is_ok()
    }

    #[test]
    fn text_measure_counts_levels_as_the_tree_has_them() {
        let parens = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        // n parentheses around a leaf: n + 1 levels
        assert!(depth_ok(&parens(MAX_DEPTH - 1)));
        assert!(!depth_ok(&parens(MAX_DEPTH)));
        let chain = |n: usize| vec!["1"; n].join("+");
        assert!(depth_ok(&chain(MAX_DEPTH)));
        assert!(!depth_ok(&chain(MAX_DEPTH + 1)));
        let keywords = |n: usize| vec!["x"; n].join(" OR ");
        assert!(depth_ok(&keywords(MAX_DEPTH)));
        assert!(!depth_ok(&keywords(MAX_DEPTH + 1)));
        let signs = |n: usize| format!("{}1", "-".repeat(n));
        assert!(depth_ok(&signs(MAX_DEPTH - 1)));
        assert!(!depth_ok(&signs(MAX_DEPTH)));
    }

    #[test]
    fn selectors_strings_comments_and_label_lists_add_nothing() {
        let deep = |inner: &str| {
            // MAX_DEPTH - 2 calls around `inner`, which must count as one level
            let n = MAX_DEPTH - 2;
            format!("{}{inner}{}", "abs(".repeat(n), ")".repeat(n))
        };
        for leaf in [
            r#"x{a="(((", b!~"+-*/", c=~'))'}"#,
            "x[5m] offset -1h",
            "x @ -100",
            "1e-5",
            "`((((`",
            "x # ((((+++\n",
            "sum by (a, b) (x)",
            "x + on (a) group_left (b) y",
        ] {
            let q = deep(leaf);
            // `sum by (…) (x)` and `x + y` are two levels, the rest one: q is MAX_DEPTH
            // or MAX_DEPTH − 1 levels deep
            let two = leaf.starts_with("sum") || leaf.contains(" + ");
            assert!(depth_ok(&q), "{leaf}");
            assert_eq!(depth_ok(&format!("abs({q})")), !two, "{leaf}");
            assert!(!depth_ok(&format!("abs(abs({q}))")), "{leaf}");
        }
    }

    #[test]
    fn subquery_brackets_count_a_level() {
        let n = MAX_DEPTH / 3;
        let mut q = String::from("x");
        for _ in 0..n {
            // call, subquery, parentheses: three levels each
            q = format!("max_over_time(({q})[5m:1m])");
        }
        assert_eq!(depth_ok(&q), 3 * n < MAX_DEPTH);
        let mut deeper = q.clone();
        for _ in 0..2 {
            deeper = format!("max_over_time(({deeper})[5m:1m])");
        }
        assert!(!depth_ok(&deeper));
    }

    #[test]
    fn brackets_of_any_kind_are_bounded() {
        let q = "[".repeat(MAX_DEPTH + 1);
        assert!(matches!(check_text(&q), Err(Error::TooDeep { .. })));
        assert!(check_text(&"{".repeat(MAX_DEPTH)).is_ok());
        // unbalanced text does not trip the scanner
        assert!(check_text(")))]]]}}}").is_ok());
        assert!(check_text("\"unterminated \\").is_ok());
    }
}
