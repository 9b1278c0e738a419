//! Query evaluation shared by the in-memory and the on-disk index.
//!
//! Both indexes implement [`Source`], a small set of postings primitives; selection,
//! label names/values and cardinality statistics are written once, here, on top of it.
//!
//! # How a selector is evaluated
//! Every matcher becomes one step:
//! - a matcher that does *not* match `""` is *positive*: the selected series are those
//!   having the label with a matching value; steps are intersected;
//! - a matcher that matches `""` also selects series lacking the label, so it is
//!   *negative*: the series having the label with a non-matching value are subtracted.
//!
//! A selector naming its metric (`__name__="…"`) together with other matchers is first
//! offered to the metric's scope (`scope.rs`): dense per-metric bitsets of its
//! low-cardinality labels, which answer such selectors with a few word-wise passes. The
//! steps below run when there is no scope or it does not cover every label named.
//!
//! Positive steps run before negative ones (at least one positive step exists, or the
//! selector is refused), each group cheapest first by an estimate that costs no decoding
//! (postings sizes are kept in memory and recorded on disk). Once the candidate set is
//! small compared to a step's postings, the step is applied by looking up each candidate's
//! own label value instead of materialising the postings: `{__name__="x", hostname="h"}`
//! then touches the ten `hostname` series, not the 100,000 of `x`.

use std::borrow::Cow;

use roaring::{MultiOps, RoaringBitmap};

use crate::error::{Error, Result};
use crate::labels::METRIC_NAME;
use crate::matcher::{Matcher, Pattern};

/// Tells [`Source::union_values`] what to do with a value.
pub(crate) enum Visit {
    /// Union this value's postings into the result.
    Take,
    /// Skip this value, keep going.
    Skip,
    /// No later value can match: stop.
    Stop,
}

/// The postings primitives an index provides. Values are never empty strings.
pub(crate) trait Source {
    /// Number of series; ids are `0..num_series`.
    fn num_series(&self) -> u32;
    /// True if postings are already in memory (no decode cost per element).
    fn postings_in_memory(&self) -> bool;
    /// All label names, sorted.
    fn label_names(&self) -> Result<Vec<String>>;
    /// Series that have label `name` (any value).
    fn name_postings(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>>;
    /// `name_postings(name).len()`, without materialising it.
    fn name_series_count(&self, name: &str) -> Result<u64>;
    /// Number of distinct values of `name`.
    fn name_value_count(&self, name: &str) -> Result<u64>;
    /// Series with `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>>;
    /// `postings(name, value).len()`, without materialising it.
    fn postings_count(&self, name: &str, value: &str) -> Result<u64>;
    /// Visits the values of `name` that are `>= from`, in order, and returns the union of
    /// the postings of the values `visit` takes.
    fn union_values(
        &self,
        name: &str,
        from: &str,
        visit: &mut dyn FnMut(&str) -> Visit,
    ) -> Result<RoaringBitmap>;
    /// Calls `f(value, series_count)` for every value of `name`, in order.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, u64)) -> Result<()>;
    /// Calls `f` with the value of label `name` in series `id` (`None` if absent).
    fn with_series_value(&self, id: u32, name: &str, f: &mut dyn FnMut(Option<&str>))
        -> Result<()>;
    /// Answers `matchers` from the scope of the metric an `__name__="…"` matcher names
    /// (see `scope.rs`), or `None` if there is no such scope or it does not keep every
    /// label the matchers name.
    fn scoped_select(&self, _matchers: &[Matcher]) -> Result<Option<RoaringBitmap>> {
        Ok(None)
    }
}

/// A candidate set this many times smaller than a step's cost is filtered series by
/// series instead. Looking up one series' label costs about as much as touching a few
/// dozen postings entries.
const FILTER_FACTOR: u64 = 32;
/// Estimated cost of running a general regex on one label value, in postings entries.
const REGEX_VALUE_COST: u64 = 8;

struct Step<'m> {
    m: &'m Matcher,
    positive: bool,
    cost: u64,
    /// A single postings lookup, which is free to intersect when postings are in memory.
    direct: bool,
}

fn empty<'a>() -> Cow<'a, RoaringBitmap> {
    Cow::Owned(RoaringBitmap::new())
}

/// Series having label `m.name()` with a value the *positive* pattern accepts.
fn pattern_set<'s, S: Source + ?Sized>(src: &'s S, m: &Matcher) -> Result<Cow<'s, RoaringBitmap>> {
    let name = m.name();
    Ok(match m.pattern() {
        Pattern::Literal(v) if v.is_empty() => empty(),
        Pattern::Literal(v) => src.postings(name, v)?.unwrap_or_else(empty),
        Pattern::Set(vs) => {
            let mut lists = Vec::with_capacity(vs.len());
            for v in vs.iter().filter(|v| !v.is_empty()) {
                if let Some(p) = src.postings(name, v)? {
                    lists.push(p);
                }
            }
            if lists.len() == 1 {
                lists.swap_remove(0)
            } else {
                // roaring's n-way union is about twice as fast as repeated `|=`.
                Cow::Owned(lists.iter().map(|c| &**c).union())
            }
        }
        Pattern::Any | Pattern::NonEmpty => src.name_postings(name)?,
        Pattern::Prefix { prefix, .. } if prefix.is_empty() => src.name_postings(name)?,
        Pattern::Prefix {
            prefix,
            non_empty_rest,
        } => Cow::Owned(src.union_values(name, prefix, &mut |v| {
            if !v.starts_with(prefix.as_str()) {
                Visit::Stop
            } else if *non_empty_rest && v.len() == prefix.len() {
                Visit::Skip
            } else {
                Visit::Take
            }
        })?),
        Pattern::Regex { re, prefix } => Cow::Owned(src.union_values(name, prefix, &mut |v| {
            if !v.starts_with(prefix.as_str()) {
                Visit::Stop
            } else if re.is_match(v) {
                Visit::Take
            } else {
                Visit::Skip
            }
        })?),
    })
}

fn minus<'s, S: Source + ?Sized>(
    src: &'s S,
    name: &str,
    sub: &RoaringBitmap,
) -> Result<Cow<'s, RoaringBitmap>> {
    let mut all = src.name_postings(name)?.into_owned();
    all -= sub;
    Ok(Cow::Owned(all))
}

/// The set a step adds (positive) or removes (negative).
fn step_set<'s, S: Source + ?Sized>(src: &'s S, step: &Step<'_>) -> Result<Cow<'s, RoaringBitmap>> {
    let m = step.m;
    // positive: having the label and matching; negative: having it and not matching.
    if step.positive != m.is_negated() {
        pattern_set(src, m)
    } else {
        let p = pattern_set(src, m)?;
        minus(src, m.name(), &p)
    }
}

fn cost<S: Source + ?Sized>(src: &S, m: &Matcher, positive: bool) -> Result<(u64, bool)> {
    let name = m.name();
    let uses_pattern_directly = positive != m.is_negated();
    Ok(match m.pattern() {
        Pattern::Literal(v) if uses_pattern_directly => (src.postings_count(name, v)?, true),
        Pattern::Set(vs) if uses_pattern_directly => {
            let mut c = 0u64;
            for v in vs {
                c = c.saturating_add(src.postings_count(name, v)?);
            }
            (c, false)
        }
        Pattern::Regex { .. } => {
            let values = src.name_value_count(name)?;
            (
                src.name_series_count(name)?
                    .saturating_add(values.saturating_mul(REGEX_VALUE_COST)),
                false,
            )
        }
        _ => (src.name_series_count(name)?, false),
    })
}

/// Keeps the candidates whose own label value `m` accepts.
fn filter<S: Source + ?Sized>(src: &S, acc: &RoaringBitmap, m: &Matcher) -> Result<RoaringBitmap> {
    let mut out = RoaringBitmap::new();
    for id in acc {
        let mut keep = false;
        src.with_series_value(id, m.name(), &mut |v| keep = m.matches(v.unwrap_or("")))?;
        if keep {
            out.insert(id);
        }
    }
    Ok(out)
}

/// Series ids selected by all `matchers` (a conjunction, as in a PromQL selector).
pub(crate) fn select<S: Source + ?Sized>(src: &S, matchers: &[Matcher]) -> Result<RoaringBitmap> {
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(Error::NoNonEmptyMatcher);
    }
    if matchers.len() > 1 {
        if let Some(hits) = src.scoped_select(matchers)? {
            return Ok(hits);
        }
    }
    let mut steps = Vec::with_capacity(matchers.len());
    for m in matchers {
        if m.matches_empty() && !m.is_negated() && matches!(m.pattern(), Pattern::Any) {
            continue; // `=~".*"` selects every series
        }
        let positive = !m.matches_empty();
        let (cost, direct) = cost(src, m, positive)?;
        steps.push(Step {
            m,
            positive,
            cost,
            direct,
        });
    }
    steps.sort_by_key(|s| (!s.positive, s.cost));
    // The running result stays borrowed from the index until an operation produces a
    // new set, so a first step that is a stored postings list is never copied.
    let mut acc: Option<Cow<'_, RoaringBitmap>> = None;
    for step in &steps {
        let next = match acc.take() {
            None => step_set(src, step)?,
            Some(a) => {
                let free = step.direct && src.postings_in_memory();
                if !free && a.len().saturating_mul(FILTER_FACTOR) < step.cost {
                    Cow::Owned(filter(src, &a, step.m)?)
                } else {
                    let set = step_set(src, step)?;
                    Cow::Owned(match (a, step.positive) {
                        (Cow::Owned(mut a), true) => {
                            a &= &*set;
                            a
                        }
                        (Cow::Owned(mut a), false) => {
                            a -= &*set;
                            a
                        }
                        (Cow::Borrowed(a), true) => a & &*set,
                        (Cow::Borrowed(a), false) => a - &*set,
                    })
                }
            }
        };
        let done = next.is_empty();
        acc = Some(next);
        if done {
            break;
        }
    }
    Ok(acc.map(Cow::into_owned).unwrap_or_default())
}

/// Label names, restricted to those present in the series `matchers` select (if any).
pub(crate) fn label_names<S: Source + ?Sized>(
    src: &S,
    matchers: &[Matcher],
) -> Result<Vec<String>> {
    let names = src.label_names()?;
    if matchers.is_empty() {
        return Ok(names);
    }
    let sel = select(src, matchers)?;
    let mut out = Vec::new();
    for n in names {
        if !src.name_postings(&n)?.is_disjoint(&sel) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Values of label `name`, sorted, restricted to the series `matchers` select (if any).
pub(crate) fn label_values<S: Source + ?Sized>(
    src: &S,
    name: &str,
    matchers: &[Matcher],
) -> Result<Vec<String>> {
    let mut all = Vec::new();
    if matchers.is_empty() {
        src.for_each_value(name, &mut |v, _| all.push(v.to_owned()))?;
        return Ok(all);
    }
    let sel = select(src, matchers)?;
    if sel.len() <= src.name_value_count(name)? {
        // Few series: read their values rather than every value's postings.
        let mut set = std::collections::BTreeSet::new();
        for id in &sel {
            src.with_series_value(id, name, &mut |v| {
                if let Some(v) = v {
                    if !set.contains(v) {
                        set.insert(v.to_owned());
                    }
                }
            })?;
        }
        return Ok(set.into_iter().collect());
    }
    src.for_each_value(name, &mut |v, _| all.push(v.to_owned()))?;
    let mut out = Vec::new();
    for v in all {
        if let Some(p) = src.postings(name, &v)? {
            if !p.is_disjoint(&sel) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Cardinality statistics, for the API and for finding cardinality explosions (the same
/// figures as Prometheus' `/api/v1/status/tsdb`). Lists are sorted by count, largest
/// first, ties by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardinalityStats {
    /// Series in the index.
    pub num_series: u64,
    /// Distinct label names.
    pub num_label_names: u64,
    /// Distinct `name=value` pairs.
    pub num_label_pairs: u64,
    /// Top metric names by number of series: `(metric, series)`.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top label pairs by number of series: `(name, value, series)`.
    pub series_count_by_label_pair: Vec<(String, String, u64)>,
    /// Top label names by number of distinct values: `(name, values)`.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
}

/// Keeps the `n` largest items by count without allocating for items that cannot enter.
struct TopN<T> {
    n: usize,
    items: Vec<(u64, T)>,
    floor: u64,
}

impl<T: Ord> TopN<T> {
    fn new(n: usize) -> Self {
        Self {
            n,
            items: Vec::new(),
            floor: 0,
        }
    }

    fn would_enter(&self, count: u64) -> bool {
        self.n > 0 && (self.items.len() < self.n || count >= self.floor)
    }

    fn push(&mut self, count: u64, item: T) {
        self.items.push((count, item));
        if self.items.len() >= self.n.saturating_mul(2).max(16) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.items
            .sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.items.truncate(self.n);
        if self.items.len() == self.n {
            self.floor = self.items.last().map_or(0, |x| x.0);
        }
    }

    fn finish(mut self) -> Vec<(u64, T)> {
        self.compact();
        self.items
    }
}

/// Computes [`CardinalityStats`] with the top `top_n` entries of each list.
pub(crate) fn stats<S: Source + ?Sized>(src: &S, top_n: usize) -> Result<CardinalityStats> {
    let names = src.label_names()?;
    let mut pairs = TopN::new(top_n);
    let mut metrics = TopN::new(top_n);
    let mut by_name = TopN::new(top_n);
    let mut num_pairs = 0u64;
    for name in &names {
        let mut values = 0u64;
        let is_metric = name == METRIC_NAME;
        src.for_each_value(name, &mut |v, count| {
            values += 1;
            if pairs.would_enter(count) {
                pairs.push(count, (name.clone(), v.to_owned()));
            }
            if is_metric && metrics.would_enter(count) {
                metrics.push(count, v.to_owned());
            }
        })?;
        num_pairs += values;
        if by_name.would_enter(values) {
            by_name.push(values, name.clone());
        }
    }
    Ok(CardinalityStats {
        num_series: u64::from(src.num_series()),
        num_label_names: names.len() as u64,
        num_label_pairs: num_pairs,
        series_count_by_metric_name: metrics.finish().into_iter().map(|(c, m)| (m, c)).collect(),
        series_count_by_label_pair: pairs
            .finish()
            .into_iter()
            .map(|(c, (n, v))| (n, v, c))
            .collect(),
        label_value_count_by_label_name: by_name
            .finish()
            .into_iter()
            .map(|(c, n)| (n, c))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_keeps_the_largest_and_breaks_ties_by_name() {
        let mut t = TopN::new(2);
        for (c, s) in [(1, "a"), (5, "b"), (5, "a"), (3, "c"), (0, "d")] {
            if t.would_enter(c) {
                t.push(c, s.to_owned());
            }
        }
        assert_eq!(t.finish(), vec![(5, "a".to_owned()), (5, "b".to_owned())]);
        let t: TopN<String> = TopN::new(0);
        assert!(!t.would_enter(10));
    }
}
