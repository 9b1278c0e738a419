// Values and series names as the pages show them.

const BIG = [
  [1e15, "P"],
  [1e12, "T"],
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];
const SMALL = [
  [1e-3, "m"],
  [1e-6, "µ"],
  [1e-9, "n"],
];

function trim(n, digits) {
  // at most `digits` significant digits, no trailing zeros
  return String(Number(n.toPrecision(digits)));
}

/** An axis label: SI prefixes, three significant digits (1.5k, 250m, -3.2M). */
export function formatAxisValue(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  for (const [size, prefix] of BIG) {
    if (a >= size) return trim(v / size, 3) + prefix;
  }
  if (a >= 1) return trim(v, 3);
  for (const [size, prefix] of SMALL) {
    if (a >= size) return trim(v / size, 3) + prefix;
  }
  return v.toExponential(2);
}

/**
 * A sample value in full, as the API sent it (a string: "NaN", "+Inf", "0.1"), so the
 * table shows exactly what a query returned.
 */
export function formatSampleValue(s) {
  return String(s);
}

/** Bytes as KiB/MiB/GiB with one decimal. */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A count with thousands separators: 10,000,000. */
export function formatCount(n) {
  return Number(n).toLocaleString("en-US");
}

/** `name{a="b", c="d"}`, the way Prometheus's UI titles a series; `{}` for none. */
export function seriesName(metric) {
  const name = metric.__name__ ?? "";
  const labels = Object.keys(metric)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  if (labels.length === 0) return name === "" ? "{}" : name;
  return `${name}{${labels.join(", ")}}`;
}
