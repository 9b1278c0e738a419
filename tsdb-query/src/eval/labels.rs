//! Label-set arithmetic the operators need: dropping the metric name, keeping or dropping
//! grouping labels, and matching signatures.

use tsdb_index::Labels;

use crate::error::{Error, Result};

/// The metric-name label.
pub(crate) const METRIC_NAME: &str = "__name__";

/// Builds a computed label set (no validation; empty values dropped).
pub(crate) fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Labels> {
    Labels::build_unchecked(pairs)
        .ok_or_else(|| Error::Execution("a label of the result is too long".into()))
}

/// `labels` without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    if labels.get(METRIC_NAME).is_none() {
        return labels.clone();
    }
    // Removing a label from a valid set cannot make a string too long.
    Labels::build_unchecked(labels.iter().filter(|(n, _)| *n != METRIC_NAME))
        .unwrap_or_else(Labels::empty)
}

/// Only the labels named in `names`.
pub(crate) fn keep_only(labels: &Labels, names: &[String]) -> Labels {
    Labels::build_unchecked(labels.iter().filter(|(n, _)| names.iter().any(|k| k == n)))
        .unwrap_or_else(Labels::empty)
}

/// All labels except `names` and `__name__`.
pub(crate) fn without(labels: &Labels, names: &[String]) -> Labels {
    Labels::build_unchecked(
        labels
            .iter()
            .filter(|(n, _)| *n != METRIC_NAME && !names.iter().any(|k| k == n)),
    )
    .unwrap_or_else(Labels::empty)
}

/// `labels` with `name` set to `value` (removed when `value` is empty).
pub(crate) fn with(labels: &Labels, name: &str, value: &str) -> Result<Labels> {
    build(
        labels
            .iter()
            .filter(|(n, _)| *n != name)
            .chain(std::iter::once((name, value))),
    )
}

/// A matching signature: the values of the `on` labels, or of every label except the
/// `ignoring` ones and `__name__` (Prometheus `signatureFunc`).
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> String {
    let mut sig = String::new();
    for (n, v) in labels.iter() {
        let listed = names.iter().any(|k| k == n);
        let keep = if on {
            listed
        } else {
            !listed && n != METRIC_NAME
        };
        if keep {
            sig.push_str(n);
            sig.push('\u{0}');
            sig.push_str(v);
            sig.push('\u{0}');
        }
    }
    sig
}
