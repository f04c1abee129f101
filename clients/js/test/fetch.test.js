// The route helper: JSON in and out, the token as a bearer, the error envelope as EddyError.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient, EddyError } from "../dist/index.js";

/** A `fetch` that records its calls and answers with `answer`. */
function fakeFetch(answer) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return answer();
  };
  return { calls, fetch };
}

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

test("a JSON body goes out, the JSON answer comes back, with the token as a bearer", async () => {
  const { calls, fetch } = fakeFetch(() => json(200, { id: "1", title: "milk" }));
  const client = createClient({ url: "http://host.test", fetch, token: () => "tok" });
  const todo = await client.fetch("/todos", { method: "POST", json: { title: "milk" } });
  assert.deepEqual(todo, { id: "1", title: "milk" });
  assert.equal(calls[0].url, "http://host.test/todos");
  assert.equal(calls[0].init.body, '{"title":"milk"}');
  assert.equal(calls[0].init.headers.get("authorization"), "Bearer tok");
  assert.equal(calls[0].init.headers.get("content-type"), "application/json");
});

test("without a token no Authorization header is sent; an empty answer is null", async () => {
  const { calls, fetch } = fakeFetch(() => new Response(null, { status: 204 }));
  const client = createClient({ url: "http://host.test", fetch });
  assert.equal(await client.fetch("/todos/1", { method: "DELETE" }), null);
  assert.equal(calls[0].init.headers.has("authorization"), false);
});

test("the error envelope becomes an EddyError with status, code and message", async () => {
  const { fetch } = fakeFetch(() => json(404, { error: { code: "not_found", message: "no todo 7" } }));
  const client = createClient({ url: "http://host.test", fetch });
  const error = await client.fetch("/todos/7").catch((thrown) => thrown);
  assert.ok(error instanceof EddyError);
  assert.deepEqual([error.status, error.code, error.message], [404, "not_found", "no todo 7"]);
});

test("an error without the envelope, or no answer at all, is an EddyError too", async () => {
  const proxy = fakeFetch(() => new Response("<h1>Bad gateway</h1>", { status: 502, statusText: "Bad Gateway", headers: { "content-type": "text/html" } }));
  const error = await createClient({ url: "http://host.test", fetch: proxy.fetch }).fetch("/x").catch((e) => e);
  assert.deepEqual([error.status, error.code, error.message], [502, "http_502", "Bad Gateway"]);

  const offline = fakeFetch(() => Promise.reject(new TypeError("fetch failed")));
  const gone = await createClient({ url: "http://host.test", fetch: offline.fetch }).fetch("/x").catch((e) => e);
  assert.deepEqual([gone instanceof EddyError, gone.status, gone.code], [true, 0, "network"]);
});

test("an Authorization header the app sets itself is kept", async () => {
  const { calls, fetch } = fakeFetch(() => json(200, {}));
  const client = createClient({ url: "http://host.test", fetch, token: () => "tok" });
  await client.fetch("/x", { headers: { authorization: "Bearer mine" } });
  assert.equal(calls[0].init.headers.get("authorization"), "Bearer mine");
});
