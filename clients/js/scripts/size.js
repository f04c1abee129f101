// Prints the client's size over the wire: every built module, comments stripped (a second
// `tsc` pass with removeComments; no minifier is installed), concatenated and gzipped.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const out = mkdtempSync(join(tmpdir(), "eddy-client-size-"));
try {
  execFileSync("npx", ["tsc", "-p", ".", "--removeComments", "--declaration", "false", "--outDir", out]);
  const files = readdirSync(out).filter((name) => name.endsWith(".js"));
  const source = files.map((name) => readFileSync(join(out, name))).join("\n");
  const gzipped = gzipSync(source, { level: 9 }).length;
  console.log(`${files.length} modules, ${source.length} bytes without comments, ${gzipped} bytes gzipped`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
