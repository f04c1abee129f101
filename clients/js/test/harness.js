// A fake host for the client's tests: sockets the test opens, feeds and closes by hand, a
// clock that moves only when told, and an `online` event source. No network, no real time.

import { createClient } from "../dist/index.js";

export class FakeClock {
  now = 0;
  #timers = new Map();
  #next = 0;

  setTimeout = (callback, ms) => {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.now + ms, callback });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** Moves time forward by `ms`, running every timer that comes due, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let due;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = end;
  }

  /** When the next timer is due, relative to now. */
  nextDelay() {
    const ats = [...this.#timers.values()].map((timer) => timer.at - this.now);
    return ats.length ? Math.min(...ats) : undefined;
  }
}

export class FakeOnline {
  #listeners = new Set();
  addEventListener(type, listener) {
    if (type === "online") this.#listeners.add(listener);
  }
  removeEventListener(type, listener) {
    this.#listeners.delete(listener);
  }
  fire() {
    for (const listener of this.#listeners) listener();
  }
}

/** Everything a test needs: the client, its sockets (newest last), clock and online source. */
export function setup(options = {}) {
  const sockets = [];
  class FakeSocket {
    sent = [];
    closed = undefined;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    constructor(url) {
      this.url = url;
      sockets.push(this);
    }
    send(text) {
      if (this.closed) throw new Error("socket closed");
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) {
      this.closed = { code, reason };
    }
    // The host's side.
    open() {
      this.onopen?.({});
    }
    receive(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }
    /** A connect refused as Node's WebSocket reports it: an error, and no close. */
    refused() {
      this.onerror?.({});
    }
    hostCloses(code, reason = "") {
      this.closed = { code, reason };
      this.onclose?.({ code, reason });
    }
    /** The messages of one type sent so far. */
    messages(type) {
      return this.sent.filter((message) => message.type === type).map((message) => message.data);
    }
    /** Answers every ping sent so far (in order, as the host queues them). */
    pongAll() {
      for (const ping of this.messages("ping").slice(this.answered ?? 0)) this.receive({ type: "pong", data: ping });
      this.answered = this.messages("ping").length;
    }
  }
  const clock = new FakeClock();
  const online = new FakeOnline();
  const states = [];
  const problems = [];
  const client = createClient({
    url: "http://host.test:8080",
    WebSocket: FakeSocket,
    timers: clock,
    online,
    random: () => 0.5,
    ...options,
  });
  client.onState((state) => states.push(state));
  client.onProblem((problem) => problems.push(problem));
  return { client, sockets, clock, online, states, problems, last: () => sockets.at(-1) };
}

/** A `stream` frame. */
export function frame(streamName, groupId, seq, event, { epoch = "e1", id = null } = {}) {
  return { type: "stream", timestamp: 1, streamName, groupId, id, seq, epoch, event };
}

export const sync = (data) => ({ type: "sync", data });
export const update = (data) => ({ type: "update", data });
export const event = (type, data) => ({ type: "event", event: { type, data } });

/** Handlers that record what they were called with. */
export function recorder() {
  const calls = [];
  return {
    calls,
    handlers: {
      onSync: (items, f) => calls.push(["sync", items, f.seq]),
      onChange: (change, f) => calls.push([change.type, change.data, f.seq]),
      onEvent: (type, data, f) => calls.push(["event", type, data, f.seq]),
      onResync: (reason) => calls.push(["resync", reason]),
      onError: (problem) => calls.push(["error", problem.code]),
    },
  };
}

/** Lets pending promise callbacks run (a token provider's answer). */
export const settle = () => new Promise((resolve) => setImmediate(resolve));
