//! Aggregation operators, mirroring `aggregation` in Prometheus' promql/engine.go.

use std::collections::HashMap;

use tsdb_index::{is_valid_label_name, Labels};

use super::labels;
use super::stats;
use super::{by_step, Evaluator, SeriesBuilder, StepSeries, Steps, Val};
use crate::ast::{Aggregate, AggregateOp, Grouping};
use crate::error::{Error, Result};

/// Evaluates an aggregation at every step.
pub(super) fn eval(ev: &mut Evaluator<'_>, agg: &Aggregate, steps: Steps) -> Result<Val> {
    // Only the recursion here: this frame is paid once per level of nesting.
    let (numeric_param, label_param) = parameter(ev, agg, steps)?;
    let series = ev.eval_vector(&agg.expr, steps)?;
    aggregate(ev, agg, &numeric_param, &label_param, series, steps)
}

/// The aggregation's parameter, evaluated: a number per step, or `count_values`' label.
fn parameter(ev: &mut Evaluator<'_>, agg: &Aggregate, steps: Steps) -> Result<(Vec<f64>, String)> {
    use AggregateOp as A;
    let mut numeric_param = Vec::new();
    let mut label_param = String::new();
    if let Some(p) = &agg.param {
        if agg.op == A::CountValues {
            label_param = ev.eval_string(p, steps)?;
            if !is_valid_label_name(&label_param) {
                // An execution error in Prometheus too (`ev.errorf` in `aggregation`).
                return Err(Error::Execution(format!(
                    "invalid label name {label_param:?}"
                )));
            }
        } else {
            numeric_param = ev.eval_scalar(p, steps)?;
        }
    } else if matches!(agg.op, A::Topk | A::Bottomk | A::Quantile | A::CountValues) {
        return Err(Error::Invalid(format!(
            "{} needs a parameter",
            agg.op.name()
        )));
    }
    Ok((numeric_param, label_param))
}

/// Aggregates the evaluated input.
fn aggregate(
    ev: &mut Evaluator<'_>,
    agg: &Aggregate,
    numeric_param: &[f64],
    label_param: &str,
    series: Vec<StepSeries>,
    steps: Steps,
) -> Result<Val> {
    use AggregateOp as A;
    if agg.op == A::CountValues {
        return count_values(ev, &series, &agg.grouping, label_param, steps);
    }

    // Each input series' group, computed once.
    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let group_of: Vec<usize> = series
        .iter()
        .map(|s| {
            let key = match &agg.grouping {
                Grouping::By(names) => labels::keep_only(&s.labels, names),
                Grouping::Without(names) => labels::without(&s.labels, names),
            };
            *group_index.entry(key.clone()).or_insert_with(|| {
                group_labels.push(key);
                group_labels.len() - 1
            })
        })
        .collect();

    let mut out = SeriesBuilder::new();
    let mut group_slot: Vec<Option<usize>> = vec![None; group_labels.len()];
    let mut series_slot: Vec<Option<usize>> = vec![None; series.len()];
    let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); group_labels.len()];
    for (i, present) in by_step(&series, steps).into_iter().enumerate() {
        ev.check_deadline()?;
        let t = steps.time(i);
        members.iter_mut().for_each(Vec::clear);
        for (si, v) in present {
            members[group_of[si]].push((si, v));
        }
        for (g, m) in members.iter().enumerate() {
            if m.is_empty() {
                continue;
            }
            let glabels = &group_labels[g];
            match agg.op {
                A::Topk | A::Bottomk => {
                    let k = numeric_param[i];
                    if k.is_nan() {
                        return Err(Error::Execution(format!(
                            "parameter value is NaN for {}",
                            agg.op.name()
                        )));
                    }
                    // Prometheus converts k to an int64 and refuses a k that does not fit.
                    if k >= i64::MAX as f64 {
                        return Err(Error::Execution(format!(
                            "Scalar value {k:e} overflows int64"
                        )));
                    }
                    if k < 1.0 {
                        continue;
                    }
                    let k = if k >= m.len() as f64 {
                        m.len()
                    } else {
                        k as usize
                    };
                    let top = agg.op == A::Topk;
                    let mut chosen = select_k(m, k, top);
                    // Prometheus sorts each group's selection, highest first for topk and
                    // lowest first for bottomk, NaN last; an instant query keeps this order.
                    chosen.sort_by(|a, b| rank_order(a.1, b.1, top));
                    for (si, v) in chosen {
                        let slot =
                            *series_slot[si].get_or_insert_with(|| out.slot(&series[si].labels));
                        out.push_slot(slot, t, v)?;
                    }
                }
                op => {
                    let v = fold(op, m, numeric_param.get(i).copied().unwrap_or(f64::NAN));
                    let slot = *group_slot[g].get_or_insert_with(|| out.slot(glabels));
                    out.push_slot(slot, t, v)?;
                }
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

/// `count_values(label, v)`: the value becomes a label of each input series first, then
/// series are grouped (with that label kept) and counted, as Prometheus' `aggregation`
/// does it.
fn count_values(
    ev: &mut Evaluator<'_>,
    series: &[super::StepSeries],
    grouping: &Grouping,
    label: &str,
    steps: Steps,
) -> Result<Val> {
    let mut out = SeriesBuilder::new();
    let mut counts: HashMap<Labels, f64> = HashMap::new();
    let mut order: Vec<Labels> = Vec::new();
    for (i, present) in by_step(series, steps).into_iter().enumerate() {
        ev.check_deadline()?;
        counts.clear();
        order.clear();
        for (si, v) in present {
            let with_value = labels::with(&series[si].labels, label, &stats::format_float(v))?;
            let key = match grouping {
                Grouping::By(names) => {
                    let mut names = names.clone();
                    names.push(label.to_string());
                    labels::keep_only(&with_value, &names)
                }
                Grouping::Without(names) => labels::without(&with_value, names),
            };
            match counts.get_mut(&key) {
                Some(c) => *c += 1.0,
                None => {
                    counts.insert(key.clone(), 1.0);
                    order.push(key);
                }
            }
        }
        for key in &order {
            if let Some(&count) = counts.get(key) {
                out.push(key, steps.time(i), count)?;
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

/// The aggregate of one group's values at one step.
fn fold(op: AggregateOp, m: &[(usize, f64)], param: f64) -> f64 {
    use AggregateOp as A;
    let values = m.iter().map(|&(_, v)| v);
    match op {
        A::Sum => stats::kahan_sum(values),
        A::Avg => stats::mean(values),
        A::Count => m.len() as f64,
        A::Group => 1.0,
        A::Max => values.fold(
            m[0].1,
            |acc, v| if acc < v || acc.is_nan() { v } else { acc },
        ),
        A::Min => values.fold(
            m[0].1,
            |acc, v| if acc > v || acc.is_nan() { v } else { acc },
        ),
        A::Stddev | A::Stdvar => {
            let (mut count, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for v in values {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                m2 += delta * (v - mean);
            }
            let var = m2 / count;
            if op == A::Stddev {
                var.sqrt()
            } else {
                var
            }
        }
        A::Quantile => {
            let mut v: Vec<f64> = values.collect();
            stats::quantile(param, &mut v)
        }
        A::Topk | A::Bottomk | A::CountValues => f64::NAN,
    }
}

/// The order of a `topk` (`top`) or `bottomk` selection: by value, NaN last.
fn rank_order(a: f64, b: f64, top: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if top => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `topk`/`bottomk` selection with the same heap Prometheus uses, so ties resolve the
/// same way: a later series replaces the heap's root only if strictly better, and NaN
/// counts as the worst value.
fn select_k(m: &[(usize, f64)], k: usize, top: bool) -> Vec<(usize, f64)> {
    // `less(a, b)`: a sorts nearer the root (the element to evict first).
    let less = |a: f64, b: f64| {
        if a.is_nan() {
            return true;
        }
        if top {
            a < b
        } else {
            a > b
        }
    };
    let mut heap: Vec<(usize, f64)> = Vec::with_capacity(k);
    for &s in m {
        if heap.len() < k {
            heap.push(s);
            let mut j = heap.len() - 1;
            while j > 0 {
                let parent = (j - 1) / 2;
                if !less(heap[j].1, heap[parent].1) {
                    break;
                }
                heap.swap(parent, j);
                j = parent;
            }
        } else {
            let root = heap[0].1;
            let better = if top { root < s.1 } else { root > s.1 };
            if better || (root.is_nan() && !s.1.is_nan()) {
                heap[0] = s;
                // Sift down (Go's heap.Fix at 0).
                let n = heap.len();
                let mut i = 0;
                loop {
                    let left = 2 * i + 1;
                    if left >= n {
                        break;
                    }
                    let mut j = left;
                    if left + 1 < n && less(heap[left + 1].1, heap[left].1) {
                        j = left + 1;
                    }
                    if !less(heap[j].1, heap[i].1) {
                        break;
                    }
                    heap.swap(i, j);
                    i = j;
                }
            }
        }
    }
    heap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_ties_resolve_like_prometheus_heap() {
        // k=2 over a=1, b=1, c=2: the heap root (a) is replaced by c, leaving {b, c}.
        let m = [(0, 1.0), (1, 1.0), (2, 2.0)];
        let mut got: Vec<usize> = select_k(&m, 2, true).into_iter().map(|p| p.0).collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        let m = [(0, f64::NAN), (1, 5.0), (2, 3.0)];
        let mut got: Vec<usize> = select_k(&m, 1, false).into_iter().map(|p| p.0).collect();
        got.sort();
        assert_eq!(got, vec![2]);
    }

    #[test]
    fn stddev_of_constant_is_zero() {
        let m = [(0, 2.0), (1, 2.0), (2, 2.0)];
        assert_eq!(fold(AggregateOp::Stddev, &m, f64::NAN), 0.0);
        assert_eq!(fold(AggregateOp::Quantile, &m, 0.5), 2.0);
    }
}
