// The copy of the client the todo page loads (plugins/todos/public/client/) is the current build.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { VENDORED, builtModules } from "./vendored.js";

test("the todo page's copy of the client is the current build (npm run vendor)", () => {
  const built = builtModules();
  assert.deepEqual(readdirSync(VENDORED).sort(), built.map(([name]) => name), "the same modules");
  for (const [name, path] of built) {
    assert.equal(
      readFileSync(new URL(name, VENDORED), "utf8"),
      readFileSync(path, "utf8"),
      `${name} differs from the build: run npm run vendor --prefix clients/js`,
    );
  }
});
