/**
 * The wire format of the `/streams` socket (`docs/streams.md`): the messages the client sends
 * and a reader for the host's frames that checks every field it relies on, so a malformed or
 * unknown frame becomes a reported problem rather than an exception.
 */

/** What changed, as a `stream` frame's `event` carries it. */
export type StreamEvent =
  | { type: "sync"; data: unknown }
  | { type: "create" | "update" | "delete"; data: unknown }
  | { type: "event"; event: { type: string; data: unknown } };

/** `{"type":"stream",...}`: one numbered frame of a group. */
export interface StreamFrame {
  type: "stream";
  timestamp: number;
  streamName: string;
  groupId: string;
  /** The item or event id the frame is about (a sync's: the subscription's id filter). */
  id: string | null;
  /** Grows by one per frame of the group within an epoch; a sync carries the current seq. */
  seq: number;
  /** The numbering's name: a seq means nothing in another epoch. */
  epoch: string;
  /** An event type this client does not know yet (a newer host) stays `unknown`: the frame
   *  still takes its seq, so skipping it is no gap. */
  event: StreamEvent | { type: "unknown"; name: string };
}

export type ServerMessage =
  | StreamFrame
  | { type: "error"; error: { code: string; message: string } }
  | { type: "pong"; data: unknown };

/** A frame read, or why it could not be. */
export type Parsed = { ok: true; message: ServerMessage } | { ok: false; reason: string };

export function parseServerMessage(text: unknown): Parsed {
  if (typeof text !== "string") return bad("a binary or empty message");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad("a frame that is not JSON");
  }
  if (!isObject(value)) return bad("a frame that is not an object");
  switch (value.type) {
    case "stream":
      return parseStream(value);
    case "error": {
      const error = value.error;
      if (!isObject(error) || typeof error.code !== "string") return bad("an error frame without a code");
      const message = typeof error.message === "string" ? error.message : error.code;
      return { ok: true, message: { type: "error", error: { code: error.code, message } } };
    }
    case "pong":
      return { ok: true, message: { type: "pong", data: value.data } };
    default:
      return bad(`an unknown frame type ${JSON.stringify(value.type)}`);
  }
}

function parseStream(value: Record<string, unknown>): Parsed {
  const { streamName, groupId, id, seq, epoch, event } = value;
  if (typeof streamName !== "string" || typeof groupId !== "string") {
    return bad("a stream frame without streamName or groupId");
  }
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    return bad("a stream frame without a whole seq");
  }
  if (typeof epoch !== "string") return bad("a stream frame without an epoch");
  if (id != null && typeof id !== "string") return bad("a stream frame whose id is not a string");
  if (!isObject(event) || typeof event.type !== "string") return bad("a stream frame without an event");
  let parsed: StreamFrame["event"];
  switch (event.type) {
    case "sync":
    case "create":
    case "update":
    case "delete":
      parsed = { type: event.type, data: event.data };
      break;
    case "event": {
      const inner = event.event;
      if (!isObject(inner) || typeof inner.type !== "string") {
        return bad("an event frame without an event type");
      }
      parsed = { type: "event", event: { type: inner.type, data: inner.data } };
      break;
    }
    default:
      parsed = { type: "unknown", name: event.type };
  }
  const timestamp = typeof value.timestamp === "number" ? value.timestamp : 0;
  const frame: StreamFrame = {
    type: "stream",
    timestamp,
    streamName,
    groupId,
    id: id ?? null,
    seq,
    epoch,
    event: parsed,
  };
  return { ok: true, message: frame };
}

function bad(reason: string): Parsed {
  return { ok: false, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The `data` of a join: `since` and `epoch` only together (a seq is only good in its epoch). */
export interface JoinData {
  subscriptionId: string;
  streamName: string;
  groupId: string;
  id?: string;
  since?: number;
  epoch?: string;
}

export type ClientMessage =
  | { type: "join"; data: JoinData }
  | { type: "leave"; data: { subscriptionId: string } }
  | { type: "auth"; data: { token: string } }
  | { type: "ping"; data: { n: number } };
