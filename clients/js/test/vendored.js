// Where the client's built modules are copied for pages, and which modules those are.
import { readdirSync } from "node:fs";

export const DIST = new URL("../dist/", import.meta.url);
export const VENDORED = new URL("../../../plugins/todos/public/client/", import.meta.url);

/** [file name, URL] of every built module. */
export function builtModules() {
  return readdirSync(DIST)
    .filter((name) => name.endsWith(".js"))
    .sort()
    .map((name) => [name, new URL(name, DIST)]);
}
