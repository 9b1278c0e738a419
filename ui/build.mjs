// Builds the UI into dist/ (the files tsdb-server embeds): `npm run build`, or
// `node build.mjs --outdir DIR` to build elsewhere (the check that dist/ matches the
// sources builds into a temporary directory and compares). The output depends only on
// the sources and the locked package versions, so a rebuild is byte-identical.

import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf("--outdir");
const outdir = i > 0 ? process.argv[i + 1] : join(here, "dist");
mkdirSync(outdir, { recursive: true });

// uPlot's MIT licence travels with the bundle that carries its code
const uplot = JSON.parse(readFileSync(join(here, "node_modules/uplot/package.json"), "utf8"));
const uplotLicense = readFileSync(join(here, "node_modules/uplot/LICENSE"), "utf8").replaceAll("*/", "* /");
const banner = `/*! tsdb-server's web UI. It bundles uPlot ${uplot.version} (https://github.com/leeoniya/uPlot):\n${uplotLicense}*/`;

const common = {
  bundle: true,
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
  absWorkingDir: here,
};
await esbuild.build({
  ...common,
  entryPoints: ["src/main.js"],
  outfile: join(outdir, "app.js"),
  banner: { js: banner },
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
});
await esbuild.build({
  ...common,
  entryPoints: ["src/style.css"],
  outfile: join(outdir, "app.css"),
  target: ["chrome100", "firefox100", "safari15"],
});
copyFileSync(join(here, "src/index.html"), join(outdir, "index.html"));
