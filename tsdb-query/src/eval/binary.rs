//! Binary operators, mirroring `VectorBinop`, `VectorAnd/Or/Unless`,
//! `VectorscalarBinop` and `scalarBinop` in Prometheus' promql/engine.go.

use std::collections::HashMap;

use tsdb_index::Labels;

use super::labels::{self, METRIC_NAME};
use super::{by_step, type_error, Evaluator, SeriesBuilder, StepSeries, Steps, Val};
use crate::ast::{Binary, BinaryOp, Cardinality, VectorMatching};
use crate::error::{Error, Result};

/// Evaluates a binary operation at every step.
pub(super) fn eval(ev: &mut Evaluator<'_>, bin: &Binary, steps: Steps) -> Result<Val> {
    // Only the recursion here: this frame is paid once per level of nesting.
    let lhs = ev.eval(&bin.lhs, steps)?;
    let rhs = ev.eval(&bin.rhs, steps)?;
    combine(ev, bin, lhs, rhs, steps)
}

/// Applies the operator to its evaluated sides.
fn combine(ev: &mut Evaluator<'_>, bin: &Binary, lhs: Val, rhs: Val, steps: Steps) -> Result<Val> {
    match (lhs, rhs) {
        (Val::Scalar(a), Val::Scalar(b)) => Ok(Val::Scalar(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| {
                    let (v, keep) = elem_op(bin.op, x, y);
                    if bin.op.is_comparison() {
                        f64::from(u8::from(keep))
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => {
            Ok(Val::Vector(vector_scalar(bin, v, &s, steps, false)?))
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            Ok(Val::Vector(vector_scalar(bin, v, &s, steps, true)?))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let out = if bin.op.is_set() {
                set_op(bin.op, &bin.matching, &l, &r, steps)?
            } else {
                vector_vector(ev, bin, &l, &r, steps)?
            };
            Ok(Val::Vector(out))
        }
        (l, r) => {
            let bad = if matches!(l, Val::Scalar(_) | Val::Vector(_)) {
                r
            } else {
                l
            };
            Err(type_error(&format!("operator {}", bin.op.symbol()), &bad))
        }
    }
}

/// The value of `lhs op rhs` and whether a comparison holds (`vectorElemBinop`). For
/// comparisons the value is `lhs`.
fn elem_op(op: BinaryOp, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (lhs + rhs, true),
        BinaryOp::Sub => (lhs - rhs, true),
        BinaryOp::Mul => (lhs * rhs, true),
        BinaryOp::Div => (lhs / rhs, true),
        BinaryOp::Mod => (lhs % rhs, true),
        BinaryOp::Pow => (lhs.powf(rhs), true),
        BinaryOp::Atan2 => (lhs.atan2(rhs), true),
        BinaryOp::Eq => (lhs, lhs == rhs),
        BinaryOp::Ne => (lhs, lhs != rhs),
        BinaryOp::Gt => (lhs, lhs > rhs),
        BinaryOp::Lt => (lhs, lhs < rhs),
        BinaryOp::Ge => (lhs, lhs >= rhs),
        BinaryOp::Le => (lhs, lhs <= rhs),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (f64::NAN, false),
    }
}

/// Arithmetic drops the metric name; a filtering comparison keeps it.
fn drops_name(op: BinaryOp) -> bool {
    !op.is_comparison() && !op.is_set()
}

fn vector_scalar(
    bin: &Binary,
    series: Vec<StepSeries>,
    scalar: &[f64],
    steps: Steps,
    scalar_on_left: bool,
) -> Result<Vec<StepSeries>> {
    let drop = drops_name(bin.op) || bin.return_bool;
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        s.points = s
            .points
            .into_iter()
            .filter_map(|(t, v)| {
                let s_v = scalar[steps.index(t)];
                let (l, r) = if scalar_on_left { (s_v, v) } else { (v, s_v) };
                let (mut value, keep) = elem_op(bin.op, l, r);
                // A comparison always returns the vector's value, whichever side it is on.
                if bin.op.is_comparison() {
                    value = v;
                }
                if bin.return_bool {
                    return Some((t, f64::from(u8::from(keep))));
                }
                keep.then_some((t, value))
            })
            .collect();
        if !s.points.is_empty() {
            out.push(s);
        }
    }
    if drop {
        super::drop_names(out)
    } else {
        Ok(out)
    }
}

/// Each series' matching signature as a small id: equal signatures (on both sides) get
/// equal ids, so per-step matching indexes arrays instead of hashing strings.
fn signature_ids(sides: [&[StepSeries]; 2], m: &VectorMatching) -> ([Vec<usize>; 2], usize) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut intern = |side: &[StepSeries]| -> Vec<usize> {
        side.iter()
            .map(|s| {
                let next = ids.len();
                *ids.entry(labels::signature(&s.labels, m.on, &m.labels))
                    .or_insert(next)
            })
            .collect()
    };
    let first = intern(sides[0]);
    let second = intern(sides[1]);
    let count = ids.len();
    ([first, second], count)
}

/// `and`, `or`, `unless`: label-set operations on the matching signatures.
fn set_op(
    op: BinaryOp,
    m: &VectorMatching,
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    steps: Steps,
) -> Result<Vec<StepSeries>> {
    let ([lsig, rsig], nsig) = signature_ids([lhs, rhs], m);
    let lsteps = by_step(lhs, steps);
    let rsteps = by_step(rhs, steps);
    let mut out = SeriesBuilder::new();
    let lslot: Vec<usize> = lhs.iter().map(|s| out.slot(&s.labels)).collect();
    let mut rslot: Vec<Option<usize>> = vec![None; rhs.len()];
    // `present[sig] == stamp`: the signature occurs on the other side at this step.
    let mut present = vec![0usize; nsig];
    for (i, (l, r)) in lsteps.iter().zip(&rsteps).enumerate() {
        let t = steps.time(i);
        let stamp = i + 1;
        match op {
            BinaryOp::Or => {
                for &(si, _) in l {
                    present[lsig[si]] = stamp;
                }
                for &(si, v) in l {
                    out.push_slot(lslot[si], t, v)?;
                }
                for &(si, v) in r {
                    if present[rsig[si]] != stamp {
                        let slot = *rslot[si].get_or_insert_with(|| out.slot(&rhs[si].labels));
                        out.push_slot(slot, t, v)?;
                    }
                }
            }
            _ => {
                for &(si, _) in r {
                    present[rsig[si]] = stamp;
                }
                let want = op == BinaryOp::And;
                for &(si, v) in l {
                    if (present[lsig[si]] == stamp) == want {
                        out.push_slot(lslot[si], t, v)?;
                    }
                }
            }
        }
    }
    Ok(out.finish())
}

/// Arithmetic and comparison between two vectors with one-to-one, many-to-one or
/// one-to-many matching.
fn vector_vector(
    ev: &mut Evaluator<'_>,
    bin: &Binary,
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    steps: Steps,
) -> Result<Vec<StepSeries>> {
    let m = &bin.matching;
    if m.card == Cardinality::ManyToMany {
        return Err(Error::Invalid(
            "many-to-many matching is only allowed for set operators".into(),
        ));
    }
    // For one-to-many, swap sides so the right side is always the "one" side.
    let swapped = m.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let ([many_sig, one_sig], nsig) = signature_ids([many, one], m);
    let many_steps = by_step(many, steps);
    let one_steps = by_step(one, steps);
    let mut out = SeriesBuilder::new();
    // The output slot of each (many, one) pair met so far: usually one pair per series.
    let mut pair_slot: Vec<Vec<(usize, usize)>> = vec![Vec::new(); many.len()];
    // Per signature, at this step: the "one" side's series (when `one_stamp` is current)
    // and whether a "many" series matched it already (`matched_stamp`).
    let mut one_stamp = vec![0usize; nsig];
    let mut one_at = vec![(0usize, 0.0f64); nsig];
    let mut matched_stamp = vec![0usize; nsig];
    // Per output slot: the step and signature that last produced it.
    let mut slot_seen: Vec<(usize, usize)> = Vec::new();
    for (i, (ms, os)) in many_steps.iter().zip(&one_steps).enumerate() {
        ev.check_deadline()?;
        // Nothing can match when a side is empty at this step; Prometheus' VectorBinop
        // returns before checking the "one" side for duplicates.
        if ms.is_empty() || os.is_empty() {
            continue;
        }
        let t = steps.time(i);
        let stamp = i + 1;
        for &(si, v) in os {
            let sig = one_sig[si];
            if one_stamp[sig] == stamp {
                let dup = one_at[sig].0;
                let side = if swapped { "left" } else { "right" };
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of \
                     the operation: [{}, {}];many-to-many matching not allowed: matching labels \
                     must be unique on one side",
                    match_group(&one[si].labels, m),
                    one[si].labels,
                    one[dup].labels
                )));
            }
            one_stamp[sig] = stamp;
            one_at[sig] = (si, v);
        }
        for &(mi, mv) in ms {
            let sig = many_sig[mi];
            if one_stamp[sig] != stamp {
                continue;
            }
            let (oi, ov) = one_at[sig];
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let (mut value, keep) = elem_op(bin.op, l, r);
            if bin.return_bool {
                value = f64::from(u8::from(keep));
            }
            let slot = match pair_slot[mi].iter().find(|p| p.0 == oi) {
                Some(&(_, slot)) => slot,
                None => {
                    let metric = result_metric(&many[mi].labels, &one[oi].labels, bin)?;
                    let slot = out.slot(&metric);
                    pair_slot[mi].push((oi, slot));
                    slot
                }
            };
            if slot_seen.len() <= slot {
                slot_seen.resize(slot + 1, (0, 0));
            }
            // As Prometheus, a match counts for the uniqueness checks below even when a
            // filtering comparison then drops it.
            if m.card == Cardinality::OneToOne {
                if matched_stamp[sig] == stamp {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit \
                         (group_left/group_right)"
                            .into(),
                    ));
                }
            } else if slot_seen[slot] == (stamp, sig) {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            matched_stamp[sig] = stamp;
            slot_seen[slot] = (stamp, sig);
            if keep || bin.return_bool {
                out.push_slot(slot, t, value)?;
            }
        }
    }
    Ok(out.finish())
}

/// The labels of a match group, for error messages.
fn match_group(l: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        labels::keep_only(l, &m.labels)
    } else {
        labels::without(l, &m.labels)
    }
}

/// The result series' labels (Prometheus `resultMetric`): the "many" side's labels, without
/// the metric name for arithmetic, reduced to the matching labels for one-to-one, plus the
/// `group_x(...)` labels copied from the "one" side.
fn result_metric(many: &Labels, one: &Labels, bin: &Binary) -> Result<Labels> {
    let m = &bin.matching;
    let drop_name = drops_name(bin.op) || bin.return_bool;
    let mut pairs: Vec<(&str, &str)> = many
        .iter()
        .filter(|(n, _)| !(drop_name && *n == METRIC_NAME))
        .filter(|(n, _)| {
            if m.card != Cardinality::OneToOne {
                return true;
            }
            let listed = m.labels.iter().any(|k| k == n);
            if m.on {
                listed
            } else {
                !listed
            }
        })
        .collect();
    for name in &m.include {
        pairs.retain(|(n, _)| n != name);
        if let Some(v) = one.get(name) {
            pairs.push((name.as_str(), v));
        }
    }
    labels::build(pairs)
}
