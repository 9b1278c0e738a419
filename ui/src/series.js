// A range query's matrix turned into what the chart draws: one shared time axis, one
// value array per series (null where a series has no sample: a gap), stacking, and the
// series limit that keeps a large answer from freezing the page.

/** The most series one chart draws; the rest are counted in a notice. */
export const MAX_SERIES = 1000;

/** A sample value as a number for the chart: NaN and infinities are not drawable (gaps). */
export function chartValue(s) {
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/**
 * The chart's data for a matrix over [startS, endS] at `stepS` (seconds): `{xs, series,
 * total, dropped}`, where `series` is at most `limit` of `{metric, values}` and `values[i]`
 * is the sample at `xs[i]`.
 */
export function alignMatrix(matrix, startS, endS, stepS, limit = MAX_SERIES) {
  const n = Math.max(0, Math.floor((endS - startS) / stepS + 1e-9)) + 1;
  const xs = new Array(n);
  for (let i = 0; i < n; i++) xs[i] = startS + i * stepS;
  const kept = matrix.slice(0, limit);
  const series = kept.map((s) => {
    const values = new Array(n).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - startS) / stepS);
      if (i >= 0 && i < n) values[i] = chartValue(v);
    }
    return { metric: s.metric, values };
  });
  return { xs, series, total: matrix.length, dropped: Math.max(0, matrix.length - limit) };
}

/**
 * Stacked values: each shown series on top of the shown ones before it. A gap stays a
 * gap in its own series but counts as 0 beneath later ones.
 */
export function stack(seriesValues, shown) {
  const n = seriesValues.length ? seriesValues[0].length : 0;
  const sums = new Array(n).fill(0);
  return seriesValues.map((values, k) => {
    if (!shown[k]) return values.slice();
    return values.map((v, i) => {
      if (v === null) return null;
      sums[i] += v;
      return sums[i];
    });
  });
}

/** A color per series, well spread around the hue circle. */
export function seriesColor(i) {
  const hue = (i * 137.508) % 360;
  return `hsl(${hue.toFixed(1)}, 65%, 45%)`;
}

/** The index of the series nearest `y` (pixels) at one point, among shown ones; -1 when none. */
export function nearestSeries(ysAtPoint, shown, y) {
  let best = -1;
  let bestD = Infinity;
  ysAtPoint.forEach((py, k) => {
    if (!shown[k] || py === null || !Number.isFinite(py)) return;
    const d = Math.abs(py - y);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  });
  return best;
}
