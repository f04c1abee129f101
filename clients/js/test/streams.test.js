// Subscriptions on the shared socket: routing, resume, de-duplication and resynchronisation.

import assert from "node:assert/strict";
import { test } from "node:test";

import { event, frame, recorder, setup, sync, update } from "./harness.js";

test("several subscriptions share one socket, each getting its own frames", () => {
  const { client, sockets, last } = setup();
  const todos = recorder();
  const chat = recorder();
  client.subscribe("todos", "list-1", todos.handlers);
  client.subscribe("chat", "room-1", chat.handlers);
  last().open();
  assert.equal(sockets.length, 1);
  assert.equal(last().url, "ws://host.test:8080/streams");
  assert.deepEqual(
    last().messages("join"),
    [
      { subscriptionId: "s1", streamName: "todos", groupId: "list-1" },
      { subscriptionId: "s2", streamName: "chat", groupId: "room-1" },
    ],
  );
  last().receive(frame("todos", "list-1", 3, sync([{ id: "a" }])));
  last().receive(frame("chat", "room-1", 7, sync([])));
  last().pongAll();
  last().receive(frame("todos", "list-1", 4, update({ id: "a", done: true })));
  last().receive(frame("chat", "room-1", 8, event("message", "hi")));
  assert.deepEqual(todos.calls, [["sync", [{ id: "a" }], 3], ["update", { id: "a", done: true }, 4]]);
  assert.deepEqual(chat.calls, [["sync", [], 7], ["event", "message", "hi", 8]]);
});

test("after a reconnect every subscription resumes from the last frame it saw", () => {
  const { client, clock, last } = setup();
  client.subscribe("todos", "a", recorder().handlers);
  client.subscribe("todos", "b", recorder().handlers);
  client.subscribe("todos", "c", recorder().handlers);
  last().open();
  last().receive(frame("todos", "a", 10, sync([])));
  last().receive(frame("todos", "b", 20, sync([]), { epoch: "e2" }));
  last().pongAll();
  last().receive(frame("todos", "a", 11, update(1)));
  last().hostCloses(1013, "too slow");
  clock.advance(clock.nextDelay());
  last().open();
  assert.deepEqual(last().messages("join"), [
    { subscriptionId: "s1", streamName: "todos", groupId: "a", since: 11, epoch: "e1" },
    { subscriptionId: "s2", streamName: "todos", groupId: "b", since: 20, epoch: "e2" },
    // It never got its sync: it has nothing to resume from.
    { subscriptionId: "s3", streamName: "todos", groupId: "c" },
  ]);
});

test("a replayed frame is delivered once", () => {
  const { client, clock, last } = setup();
  const todos = recorder();
  client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().receive(frame("todos", "a", 2, update("x")));
  last().receive(frame("todos", "a", 2, update("x")));
  last().hostCloses(1006);
  clock.advance(clock.nextDelay());
  last().open();
  // A host replaying a little more than asked changes nothing.
  last().receive(frame("todos", "a", 2, update("x")));
  last().receive(frame("todos", "a", 3, update("y")));
  assert.deepEqual(todos.calls, [["sync", [], 1], ["update", "x", 2], ["update", "y", 3]]);
});

test("a gap in seqs resynchronises: the app is told, and a fresh join brings a sync", () => {
  const { client, last } = setup();
  const todos = recorder();
  client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().pongAll();
  last().receive(frame("todos", "a", 3, update("lost one before me")));
  assert.deepEqual(last().messages("join").at(-1), { subscriptionId: "s1", streamName: "todos", groupId: "a" });
  // Frames until the sync are covered by it.
  last().receive(frame("todos", "a", 4, update("z")));
  last().receive(frame("todos", "a", 4, sync(["current"])));
  last().receive(frame("todos", "a", 5, update("after")));
  assert.deepEqual(todos.calls, [["sync", [], 1], ["resync", "gap"], ["sync", ["current"], 4], ["update", "after", 5]]);
});

test("a frame of another epoch resynchronises", () => {
  const { client, last } = setup();
  const todos = recorder();
  client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 9, sync([])));
  last().pongAll();
  last().receive(frame("todos", "a", 10, update("x"), { epoch: "e2" }));
  last().receive(frame("todos", "a", 10, sync(["new life"]), { epoch: "e2" }));
  assert.deepEqual(todos.calls, [["sync", [], 9], ["resync", "epoch"], ["sync", ["new life"], 10]]);
});

test("a sync answering a resume is a resynchronisation", () => {
  const { client, clock, last } = setup();
  const todos = recorder();
  client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  last().hostCloses(1006);
  clock.advance(clock.nextDelay());
  last().open();
  last().receive(frame("todos", "a", 1, sync(["after a restart"]), { epoch: "e9" }));
  assert.deepEqual(todos.calls, [["sync", [], 1], ["resync", "window"], ["sync", ["after a restart"], 1]]);
});

test("an id filter's seqs may jump without a gap, and it gets only its frames", () => {
  const { client, last } = setup();
  const all = recorder();
  const one = recorder();
  client.subscribe("todos", "a", all.handlers);
  client.subscribe("todos", "a", one.handlers, { id: "x" });
  last().open();
  assert.equal(last().messages("join")[1].id, "x");
  // The second join's sync, on the same group, goes to the join it answers only.
  last().receive(frame("todos", "a", 5, sync(["x", "y"])));
  last().receive(frame("todos", "a", 5, sync("x"), { id: "x" }));
  last().pongAll();
  last().receive(frame("todos", "a", 6, update("y1"), { id: "y" }));
  last().receive(frame("todos", "a", 7, update("x1"), { id: "x" }));
  assert.deepEqual(all.calls, [["sync", ["x", "y"], 5], ["update", "y1", 6], ["update", "x1", 7]]);
  assert.deepEqual(one.calls, [["sync", "x", 5], ["update", "x1", 7]]);
});

test("unsubscribing sends leave and stops the handlers", () => {
  const { client, last } = setup();
  const todos = recorder();
  const unsubscribe = client.subscribe("todos", "a", todos.handlers);
  last().open();
  last().receive(frame("todos", "a", 1, sync([])));
  unsubscribe();
  unsubscribe();
  assert.deepEqual(last().messages("leave"), [{ subscriptionId: "s1" }]);
  last().receive(frame("todos", "a", 2, update("x")));
  assert.deepEqual(todos.calls, [["sync", [], 1]]);
});

test("a refused join reaches its own subscription's onError, and the others carry on", () => {
  const { client, last, problems } = setup();
  const ok = recorder();
  const no = recorder();
  client.subscribe("todos", "a", ok.handlers);
  client.subscribe("secret", "a", no.handlers);
  last().open();
  // The host's order: each join's answer, then the pong of the ping sent after it.
  const [first, second] = last().messages("ping");
  last().receive(frame("todos", "a", 1, sync([])));
  last().receive({ type: "pong", data: first });
  last().receive({ type: "error", error: { code: "forbidden", message: "joining secret/a was refused" } });
  last().receive({ type: "pong", data: second });
  last().receive(frame("todos", "a", 2, update("x")));
  assert.deepEqual(ok.calls, [["sync", [], 1], ["update", "x", 2]]);
  assert.deepEqual(no.calls, [["error", "forbidden"]]);
  assert.deepEqual(problems.map((p) => [p.kind, p.code, p.subscription.streamName]), [["server", "forbidden", "secret"]]);
});
