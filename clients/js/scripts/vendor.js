// Copies the built modules (dist/*.js) to the pages that load the client without a bundler:
// plugins/todos/public/client/, served by the todos plugin as static files. `npm test` checks
// the copy is current (test/vendored.test.js); run `npm run vendor` after changing src/.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { VENDORED, builtModules } from "../test/vendored.js";

rmSync(VENDORED, { recursive: true, force: true });
mkdirSync(VENDORED, { recursive: true });
for (const [name, path] of builtModules()) copyFileSync(path, new URL(name, VENDORED));
console.log(`copied ${builtModules().length} modules to ${VENDORED.pathname}`);
