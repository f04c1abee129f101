/**
 * The client's options and the seams it runs on: the WebSocket constructor, `fetch`, timers,
 * randomness and the `online` event come from here (the browser's or Node's globals by
 * default), so tests drive a fake socket and a fake clock deterministically.
 */
export function settings(options) {
    const global = globalThis;
    const base = options.url ?? global.location?.origin;
    if (!base)
        throw new TypeError("Eddy client: no url given and no page origin to default to");
    const online = options.online === undefined ? defaultOnline(global) : (options.online ?? undefined);
    return {
        base,
        token: options.token,
        heartbeatInterval: options.heartbeatInterval ?? 5_000,
        heartbeatTimeout: options.heartbeatTimeout ?? 4_000,
        connectTimeout: options.connectTimeout ?? 10_000,
        backoffBase: options.backoffBase ?? 500,
        backoffMax: options.backoffMax ?? 30_000,
        WebSocket: options.WebSocket ?? global.WebSocket,
        fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
        timers: options.timers ?? {
            setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
            clearTimeout: (handle) => globalThis.clearTimeout(handle),
        },
        random: options.random ?? Math.random,
        online,
    };
}
function defaultOnline(global) {
    return typeof global.addEventListener === "function" && typeof global.removeEventListener === "function"
        ? global
        : undefined;
}
/** The `/streams` socket's URL for `base`, with the token as `access_token` (browsers cannot
 *  set a WebSocket's headers). */
export function socketUrl(base, token) {
    const url = new URL("/streams", base);
    url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
    if (token)
        url.searchParams.set("access_token", token);
    return url.toString();
}
/** The delay before reconnect attempt `attempt` (0 for the first): "equal jitter", between half
 *  the cap and the cap, so a host's clients do not all come back at once. */
export function backoff(settings, attempt) {
    const cap = Math.min(settings.backoffMax, settings.backoffBase * 2 ** Math.min(attempt, 30));
    return cap / 2 + (cap / 2) * settings.random();
}
