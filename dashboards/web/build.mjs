// Bundles the web UI into dist/ (committed; embedded in the binary by dashboards/src/web.rs).
// Deterministic: the same sources and package-lock.json give the same bytes, which is what the
// stale-bundle check in scripts/test.sh relies on.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: { app: "src/main.jsx" },
  outdir: "dist",
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync("src/index.html", "dist/index.html");
