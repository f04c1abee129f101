// The connection: heartbeat, backoff, `online`, observable state, bad input and tokens.

import assert from "node:assert/strict";
import { test } from "node:test";

import { frame, recorder, settle, setup, sync, update } from "./harness.js";

test("the state goes idle, connecting, open, reconnecting and back to open", () => {
  const { client, clock, last, states } = setup();
  assert.equal(client.state.status, "idle");
  client.subscribe("todos", "a", {});
  last().open();
  last().hostCloses(1006);
  clock.advance(clock.nextDelay());
  last().open();
  assert.deepEqual(
    states.map((state) => state.status),
    ["connecting", "open", "reconnecting", "connecting", "open"],
  );
  client.close();
  assert.equal(client.state.status, "closed");
  assert.deepEqual(last().closed, { code: 1000, reason: "closed" });
});

test("a silent socket is found dead within interval + timeout and replaced", () => {
  const { client, clock, sockets, last, states } = setup({ heartbeatInterval: 5_000, heartbeatTimeout: 3_000 });
  client.subscribe("todos", "a", {});
  last().open();
  last().pongAll();
  // Answered beats keep it.
  clock.advance(5_000);
  assert.equal(last().messages("ping").length, 3);
  last().pongAll();
  clock.advance(2_999);
  assert.equal(client.state.status, "open");
  // Then the network goes quiet.
  clock.advance(5_000 + 3_000 - 2_999);
  assert.equal(client.state.status, "reconnecting");
  assert.equal(states.at(-1).problem.kind, "heartbeat");
  assert.equal(sockets[0].closed.code, 4000);
  clock.advance(clock.nextDelay());
  assert.equal(sockets.length, 2);
});

test("a connect refused with an error alone, or one that hangs, is retried", () => {
  const { client, clock, sockets, last, states } = setup({ connectTimeout: 10_000 });
  client.subscribe("todos", "a", {});
  last().refused();
  assert.equal(client.state.status, "reconnecting");
  assert.equal(states.at(-1).problem.message, "could not connect");
  // A close after the error (as browsers send) changes nothing more.
  last().hostCloses(1006);
  assert.equal(client.state.attempt, 1);
  clock.advance(clock.nextDelay());
  assert.equal(sockets.length, 2);
  // The second connect neither opens nor fails.
  clock.advance(9_999);
  assert.equal(client.state.status, "connecting");
  clock.advance(1);
  assert.equal(client.state.status, "reconnecting");
  assert.match(states.at(-1).problem.message, /not connected within 10 s/);
  assert.equal(sockets[1].closed.code, 4000);
  clock.advance(clock.nextDelay());
  last().open();
  last().pongAll();
  assert.equal(client.state.status, "open");
  // The connect deadline is gone once open: only the heartbeat watches the socket now.
  for (let second = 0; second < 12; second++) {
    clock.advance(1_000);
    last().pongAll();
  }
  assert.equal(client.state.status, "open");
  assert.equal(sockets.length, 3);
  client.close();
});

test("any frame counts as a sign of life while a pong waits behind a long queue", () => {
  const { client, clock, last } = setup({ heartbeatInterval: 5_000, heartbeatTimeout: 3_000 });
  client.subscribe("todos", "a", {});
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  for (let seq = 2; seq < 10; seq++) {
    clock.advance(2_000);
    last().receive(frame("todos", "a", seq, update(seq)));
  }
  assert.equal(client.state.status, "open");
});

test("backoff is jittered, bounded, grows per failure and resets after a good connection", () => {
  const delays = [];
  for (const random of [0, 0.999]) {
    const { client, clock, last } = setup({ random: () => random, backoffBase: 1_000, backoffMax: 8_000 });
    client.subscribe("todos", "a", {});
    const seen = [];
    for (let i = 0; i < 6; i++) {
      last().hostCloses(1006);
      seen.push(clock.nextDelay());
      clock.advance(clock.nextDelay());
    }
    delays.push(seen);
    // A connection whose ping is answered is a good one: the next failure starts over.
    last().open();
    last().pongAll();
    assert.equal(client.state.attempt, 0);
    last().hostCloses(1006);
    assert.equal(clock.nextDelay(), seen[0]);
  }
  assert.deepEqual(delays[0], [500, 1_000, 2_000, 4_000, 4_000, 4_000]);
  for (const [i, delay] of delays[1].entries()) {
    assert.ok(delay > delays[0][i] && delay < 2 * delays[0][i], `${delay} within (cap/2, cap)`);
  }
});

test("coming back online retries at once instead of waiting out the backoff", () => {
  const { client, clock, online, sockets, last } = setup({ backoffBase: 60_000, backoffMax: 60_000 });
  client.subscribe("todos", "a", {});
  last().hostCloses(1006);
  assert.equal(sockets.length, 1);
  online.fire();
  assert.equal(sockets.length, 2);
  assert.equal(client.state.status, "connecting");
  last().open();
  // The abandoned backoff timer does not open a third socket.
  for (let second = 0; second < 61; second++) {
    last().pongAll();
    clock.advance(1_000);
  }
  assert.equal(sockets.length, 2);
});

test("bad input is reported through the state and the client keeps working", () => {
  const { client, last, problems, states } = setup();
  const todos = recorder();
  client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().receive("{not json");
  last().receive({ type: "surprise" });
  last().receive({ type: "stream", streamName: "todos", groupId: "a", seq: "two", epoch: "e1", event: {} });
  last().receive(frame("todos", "a", 2, { type: "rename", data: 1 }));
  last().receive({ type: "error", error: { code: "bad_request", message: "what was that" } });
  last().receive(frame("todos", "a", 3, update("still here")));
  assert.deepEqual(
    problems.map((problem) => problem.kind),
    ["frame", "frame", "frame", "frame", "server"],
  );
  assert.match(problems[1].message, /unknown frame type "surprise"/);
  assert.equal(states.at(-1).problem.code, "bad_request");
  assert.equal(client.state.status, "open");
  // The unknown event type took seq 2, so 3 is no gap.
  assert.deepEqual(todos.calls, [["sync", [], 1], ["update", "still here", 3]]);
});

test("a handler that throws is reported, and the other handlers still run", () => {
  const { client, last, problems } = setup();
  const calm = recorder();
  client.subscribe("todos", "a", { onSync: () => { throw new Error("app bug"); } });
  client.subscribe("todos", "b", calm.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().receive(frame("todos", "b", 1, sync([])));
  assert.equal(problems[0].kind, "handler");
  assert.match(problems[0].message, /app bug/);
  assert.deepEqual(calm.calls, [["sync", [], 1]]);
});

test("a host's close code is reported and the client reconnects", () => {
  for (const code of [1013, 1009, 1003, 1007, 1002, 1011]) {
    const { client, clock, sockets, last } = setup();
    client.subscribe("todos", "a", {});
    last().open();
    last().hostCloses(code, "why");
    assert.deepEqual([client.state.status, client.state.problem.kind, client.state.problem.code], ["reconnecting", "close", code]);
    clock.advance(clock.nextDelay());
    assert.equal(sockets.length, 2, `reconnects after ${code}`);
  }
});

test("the token goes on the socket; after a 1008 a fresh one is asked for", async () => {
  const asked = [];
  let current = "t1";
  const { client, clock, last } = setup({
    token: async ({ expired }) => {
      asked.push(expired);
      if (expired) current = "t2";
      return current;
    },
  });
  client.subscribe("todos", "a", {});
  await settle();
  assert.equal(last().url, "ws://host.test:8080/streams?access_token=t1");
  last().open();
  last().hostCloses(1008, "token expired");
  clock.advance(clock.nextDelay());
  await settle();
  assert.equal(last().url, "ws://host.test:8080/streams?access_token=t2");
  assert.deepEqual(asked, [false, true]);
});

test("refreshToken sends the current token on the open socket; a refusal is reported", async () => {
  let current = "t1";
  const { client, last, problems } = setup({ token: () => current });
  client.subscribe("todos", "a", {});
  await settle();
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().pongAll();
  current = "t2";
  await client.refreshToken();
  assert.deepEqual(last().messages("auth"), [{ token: "t2" }]);
  last().receive({ type: "error", error: { code: "forbidden", message: "another caller" } });
  assert.deepEqual([problems[0].kind, problems[0].code, problems[0].subscription], ["server", "forbidden", undefined]);
});

test("a failing token provider is a connect problem, retried with backoff", async () => {
  let fail = true;
  const { client, clock, sockets, last } = setup({
    token: () => {
      if (fail) throw new Error("no session");
      return "t";
    },
  });
  client.subscribe("todos", "a", {});
  await settle();
  assert.equal(sockets.length, 0);
  assert.equal(client.state.problem.kind, "connect");
  fail = false;
  clock.advance(clock.nextDelay());
  await settle();
  assert.equal(last().url, "ws://host.test:8080/streams?access_token=t");
});

test("a socket constructor that throws does not throw into the app", () => {
  const { client } = setup({
    WebSocket: class {
      constructor() {
        throw new SyntaxError("bad url");
      }
    },
  });
  client.subscribe("todos", "a", {});
  assert.deepEqual([client.state.status, client.state.problem.kind], ["reconnecting", "connect"]);
});
