/**
 * The wire format of the `/streams` socket (`docs/streams.md`): the messages the client sends
 * and a reader for the host's frames that checks every field it relies on, so a malformed or
 * unknown frame becomes a reported problem rather than an exception.
 */
export function parseServerMessage(text) {
    if (typeof text !== "string")
        return bad("a binary or empty message");
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return bad("a frame that is not JSON");
    }
    if (!isObject(value))
        return bad("a frame that is not an object");
    switch (value.type) {
        case "stream":
            return parseStream(value);
        case "error": {
            const error = value.error;
            if (!isObject(error) || typeof error.code !== "string")
                return bad("an error frame without a code");
            const message = typeof error.message === "string" ? error.message : error.code;
            return { ok: true, message: { type: "error", error: { code: error.code, message } } };
        }
        case "pong":
            return { ok: true, message: { type: "pong", data: value.data } };
        default:
            return bad(`an unknown frame type ${JSON.stringify(value.type)}`);
    }
}
function parseStream(value) {
    const { streamName, groupId, id, seq, epoch, event } = value;
    if (typeof streamName !== "string" || typeof groupId !== "string") {
        return bad("a stream frame without streamName or groupId");
    }
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
        return bad("a stream frame without a whole seq");
    }
    if (typeof epoch !== "string")
        return bad("a stream frame without an epoch");
    if (id != null && typeof id !== "string")
        return bad("a stream frame whose id is not a string");
    if (!isObject(event) || typeof event.type !== "string")
        return bad("a stream frame without an event");
    let parsed;
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
    const frame = {
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
function bad(reason) {
    return { ok: false, reason };
}
function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
