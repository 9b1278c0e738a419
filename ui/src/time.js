// Durations, times and the query step: pure functions shared by the pages (and tested
// under node). Durations follow Prometheus's syntax (`1h30m`, units y w d h m s ms);
// times are shown in UTC as "YYYY-MM-DD HH:mm:ss", the format Prometheus's UI puts in
// `end_input` / `moment_input`, so links move between the two UIs.

const UNITS = [
  ["y", 365 * 24 * 3600 * 1000],
  ["w", 7 * 24 * 3600 * 1000],
  ["d", 24 * 3600 * 1000],
  ["h", 3600 * 1000],
  ["m", 60 * 1000],
  ["s", 1000],
  ["ms", 1],
];

/** Milliseconds of a Prometheus duration (`90s`, `1h30m`), or null when it is not one. */
export function parseDuration(text) {
  const s = String(text).trim();
  if (s === "" || s === "0") return s === "0" ? 0 : null;
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  let total = 0;
  let pos = 0;
  let lastRank = -1;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    const rank = UNITS.findIndex(([u]) => u === m[2]);
    // units must go from larger to smaller, each at most once, as Prometheus requires
    if (rank <= lastRank) return null;
    lastRank = rank;
    total += Number(m[1]) * UNITS[rank][1];
    pos = re.lastIndex;
  }
  return total;
}

/** A Prometheus duration for `ms` (`1h30m`, `0s` for zero). */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** The range steps of the graph's -/+ buttons. */
export const RANGE_STEPS = [
  "1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "1d", "2d", "1w", "2w", "4w", "8w", "26w", "1y",
].map(parseDuration);

/** The next larger (dir > 0) or smaller (dir < 0) range step from `ms`. */
export function stepRange(ms, dir) {
  if (dir > 0) return RANGE_STEPS.find((r) => r > ms) ?? RANGE_STEPS[RANGE_STEPS.length - 1];
  const smaller = RANGE_STEPS.filter((r) => r < ms);
  return smaller.length ? smaller[smaller.length - 1] : RANGE_STEPS[0];
}

/** Points per series the auto step aims at, by density (Prometheus's UI: medium = 250). */
const DENSITY = { low: 62.5, medium: 250, high: 1000 };

/**
 * The step in seconds of a range query over `rangeMs`: the explicit step when given,
 * otherwise about 250 points (or the density's count), never below 1 s, and never more
 * than the server's 11,000 points per series.
 */
export function effectiveStep(rangeMs, resolution) {
  const rangeS = rangeMs / 1000;
  let step;
  if (resolution && resolution.type !== "auto" && resolution.step > 0) {
    step = resolution.step;
  } else {
    const points = DENSITY[resolution?.density] ?? DENSITY.medium;
    step = Math.max(Math.floor(rangeS / points), 1);
  }
  const minForLimit = Math.ceil(rangeS / 11000);
  return Math.max(step, minForLimit);
}

function pad(n, w = 2) {
  return String(n).padStart(w, "0");
}

/** "YYYY-MM-DD HH:mm:ss" in UTC. */
export function formatTime(ms) {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * Milliseconds of a time typed by a user or found in a link: "YYYY-MM-DD HH:mm[:ss]"
 * (UTC), RFC 3339, or Unix seconds; null when it is none of these.
 */
export function parseTime(text) {
  const s = String(text).trim();
  if (s === "") return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac, zone] = m;
  let t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec, frac ? Math.round(Number(frac) * 1000) : 0);
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    t -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60000;
  }
  const back = new Date(t);
  // reject 2024-02-31 and the like instead of rolling over
  if (back.getUTCDate() !== Number(d) && !zone) return null;
  return t;
}

/** "3.2s ago", "5m ago": how long before `now` a time was, for "last scrape" columns. */
export function ago(ms, now) {
  const d = Math.max(0, now - ms);
  if (d < 1000) return `${Math.round(d)}ms ago`;
  if (d < 60000) return `${(d / 1000).toFixed(1)}s ago`;
  return `${formatDuration(Math.round(d / 1000) * 1000)} ago`;
}

/** A short human duration for seconds (scrape and evaluation durations): 12.3ms, 1.25s. */
export function humanSeconds(s) {
  if (!Number.isFinite(s)) return "";
  if (s < 0.001) return `${(s * 1e6).toFixed(0)}µs`;
  if (s < 1) return `${(s * 1000).toFixed(1)}ms`;
  if (s < 60) return `${s.toFixed(2)}s`;
  return formatDuration(Math.round(s) * 1000);
}

/**
 * Labels for the chart's time axis (UTC): times of day within a day's span, with seconds
 * when ticks are less than a minute apart; month-day and time beyond a day.
 */
export function axisTimes(ticksS, spanS) {
  const minGap = ticksS.length > 1 ? ticksS[1] - ticksS[0] : spanS;
  return ticksS.map((t) => {
    const s = formatTime(t * 1000); // YYYY-MM-DD HH:mm:ss
    if (spanS > 2 * 86400) return minGap >= 86400 ? s.slice(5, 10) : `${s.slice(5, 10)} ${s.slice(11, 16)}`;
    return minGap < 60 ? s.slice(11, 19) : s.slice(11, 16);
  });
}
