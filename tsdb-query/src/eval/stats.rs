//! Numeric building blocks shared by functions and aggregations, each mirroring the
//! Prometheus helper of the same name so results agree to the last bits that matter.

/// One step of Kahan-Babuška-Neumaier summation: returns the new sum and compensation
/// (<https://github.com/prometheus/prometheus/blob/main/promql/functions.go>, `kahanSumInc`).
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Compensated sum of `values`.
pub(crate) fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_sum_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// Go's `math.Max`: NaN if either is NaN.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN if either is NaN.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The `q`-quantile of `values` with linear interpolation between closest ranks
/// (Prometheus `quantile` in promql/quantile.go). Sorts `values` in place.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort.Float64s puts NaN first.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Mean and variance with Welford's method and compensated sums
/// (Prometheus `stdvar_over_time` / `stddev_over_time`). Returns the population variance.
pub(crate) fn variance(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Arithmetic mean the way Prometheus 3's `avg_over_time` computes it: a compensated sum,
/// switching to an incremental mean if the sum overflows.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut incremental = false;
    for f in values {
        count += 1.0;
        if !incremental {
            let (new_sum, new_c) = kahan_sum_inc(f, sum, c);
            if count == 1.0 || !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(f / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// One classic histogram bucket: its upper bound and cumulative count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The `q`-quantile of a classic histogram (Prometheus `BucketQuantile` in
/// promql/quantile.go): buckets are sorted, equal bounds merged, counts forced monotonic,
/// and the quantile interpolated linearly within its bucket.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Merge buckets with the same upper bound.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    ensure_monotonic(&mut merged, 1e-12);
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|bucket| bucket.count < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].upper_bound;
    }
    if b == 0 && merged[0].upper_bound <= 0.0 {
        return merged[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = merged[b].upper_bound;
    let mut count = merged[b].count;
    if b > 0 {
        bucket_start = merged[b - 1].upper_bound;
        count -= merged[b - 1].count;
        rank -= merged[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Prometheus `ensureMonotonicAndIgnoreSmallDeltas`: counts that dip (or differ from the
/// previous by a relative `tolerance`) are raised to the previous count.
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) || curr < prev {
            b.count = prev;
            continue;
        }
        prev = curr;
    }
}

/// Prometheus `almostEqual`: relative difference within `epsilon`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does, which is how
/// Prometheus writes values in JSON and in `count_values` labels.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's Display prints the shortest round-tripping digits without an exponent.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_prometheus() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(1.5, &mut v), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn bucket_quantile_interpolates_within_bucket() {
        let mut b = vec![
            Bucket {
                upper_bound: 1.0,
                count: 10.0,
            },
            Bucket {
                upper_bound: 2.0,
                count: 20.0,
            },
            Bucket {
                upper_bound: f64::INFINITY,
                count: 20.0,
            },
        ];
        assert_eq!(bucket_quantile(0.75, &mut b), 1.5);
        assert_eq!(bucket_quantile(1.0, &mut b), 2.0);
        let mut no_inf = vec![Bucket {
            upper_bound: 1.0,
            count: 1.0,
        }];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
