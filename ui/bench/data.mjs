// The web UI benchmark's data: a deterministic fleet written as OpenMetrics text with
// timestamps, loaded unchanged into both tsdb (`tsdb import`) and Prometheus (`promtool
// tsdb create-blocks-from openmetrics`), so the two UIs graph the same samples.
//
//   node bench/data.mjs END_UNIX_SECONDS > fleet.om
//
// One gauge per series count N, `bench_gauge_nN{i="0000"..}` with exactly N series, a
// sample every 15 s over the 2 h ending at END (inclusive). Values are a smooth wave per
// series plus a small per-series offset, so lines are distinct and hover finds one.
// Series are written one after the other, each in time order (OpenMetrics wants a
// family's samples together and a series' timestamps ascending).

export const COUNTS = [10, 100, 1000, 2000];
export const WINDOW_S = 2 * 3600;
export const STEP_S = 15;

const end = Number(process.argv[2]);
if (!Number.isInteger(end) || end <= WINDOW_S) {
  console.error("usage: node bench/data.mjs END_UNIX_SECONDS (a whole number of seconds)");
  process.exit(2);
}
const start = end - WINDOW_S;
const out = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join(""));
  out.length = 0;
};
for (const n of COUNTS) {
  const name = `bench_gauge_n${n}`;
  out.push(`# TYPE ${name} gauge\n# HELP ${name} A benchmark gauge with ${n} series.\n`);
  for (let i = 0; i < n; i++) {
    const id = String(i).padStart(4, "0");
    const phase = (i * 0.37) % (2 * Math.PI);
    for (let t = start; t <= end; t += STEP_S) {
      // rounded to 3 decimals so both parsers read exactly the same float
      const v = (100 + i * 0.5 + 20 * Math.sin((t - start) / 900 + phase)).toFixed(3);
      out.push(`${name}{i="${id}"} ${v} ${t}\n`);
    }
    if (out.length > 50000) flush();
  }
}
out.push("# EOF\n");
flush();
