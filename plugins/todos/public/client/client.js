/**
 * The client: one `/streams` socket for every subscription, kept alive. It connects when the
 * first subscription is made, joins every subscription on each new socket (resuming from the
 * last frame each saw), routes frames to subscriptions (`subscription.ts` judges each frame),
 * pings to find a dead socket within seconds, and reconnects with jittered backoff — at once
 * when the browser comes back online. Nothing it does in the background throws: problems go to
 * the connection state and the problem listeners.
 *
 * Replies are matched to requests by order. The host answers a client's messages in the order
 * it sent them, and a `pong` is queued behind everything before its `ping`; so each join (and
 * auth) is followed by a ping, and a `sync` or `error` frame belongs to the oldest message
 * whose pong has not come back yet.
 */
import { describe } from "./errors.js";
import { request } from "./fetch.js";
import { parseServerMessage } from "./frames.js";
import { backoff, settings, socketUrl } from "./options.js";
import { Subscription } from "./subscription.js";
/** Stream names, group ids and subscription ids are 1–128 bytes without control characters. */
const NAME = /^[^\u0000-\u001f\u007f]{1,128}$/u;
export class EddyClient {
    #settings;
    #subscriptions = new Map();
    #pending = [];
    #state = { status: "idle", attempt: 0 };
    #stateListeners = new Set();
    #problemListeners = new Set();
    #socket;
    /** Bumped whenever the current socket is given up, so late callbacks of old ones are ignored. */
    #generation = 0;
    #pings = 0;
    #nextKey = 0;
    /** The host closed the last socket because its token expired: ask for a fresh one. */
    #expired = false;
    #heartbeat;
    #deadline;
    #retry;
    #onOnline = () => this.#online();
    constructor(options = {}) {
        this.#settings = settings(options);
    }
    /** The connection's state now. */
    get state() {
        return this.#state;
    }
    /** Calls `listener` on every change of state; returns the function that stops it. */
    onState(listener) {
        this.#stateListeners.add(listener);
        return () => this.#stateListeners.delete(listener);
    }
    /** Calls `listener` with every socket problem (also kept in `state.problem`). */
    onProblem(listener) {
        this.#problemListeners.add(listener);
        return () => this.#problemListeners.delete(listener);
    }
    /** Subscribes to a group of a stream (or, with `id`, to one item or event id of it) on the
     *  shared socket, connecting if needed. Returns the function that unsubscribes. */
    subscribe(streamName, groupId, handlers, options = {}) {
        for (const [what, name] of [["stream name", streamName], ["group id", groupId]]) {
            if (typeof name !== "string" || !NAME.test(name)) {
                throw new TypeError(`Eddy client: a ${what} is 1-128 characters without control characters`);
            }
        }
        if (this.#state.status === "closed")
            throw new Error("Eddy client: subscribe after close()");
        const key = `s${++this.#nextKey}`;
        const subscription = new Subscription(key, streamName, groupId, options.id, handlers);
        this.#subscriptions.set(key, subscription);
        if (this.#state.status === "idle")
            void this.#connect();
        else if (this.#state.status === "open")
            this.#join(subscription);
        return () => {
            if (this.#subscriptions.get(key) !== subscription)
                return;
            this.#subscriptions.delete(key);
            if (this.#state.status === "open")
                this.#send({ type: "leave", data: { subscriptionId: key } });
        };
    }
    /** Calls a route: see `request` in `fetch.ts`. Rejects with an `EddyError`. */
    async fetch(path, options) {
        const token = await this.#token(false);
        return request(this.#settings.fetch, this.#settings.base, path, token ?? undefined, options);
    }
    /** Sends the token provider's current token on the open socket, extending its caller's
     *  session before the old token expires (call it when your token is renewed). A socket that
     *  is not open gets the token when it connects. */
    async refreshToken() {
        const token = await this.#token(false);
        if (!token || this.#state.status !== "open")
            return;
        this.#send({ type: "auth", data: { token } });
        this.#pending.push({ kind: "auth", ping: this.#ping() });
    }
    /** Closes the socket for good; subscriptions end. */
    close() {
        this.#generation++;
        this.#stopTimers();
        this.#settings.timers.clearTimeout(this.#retry);
        this.#settings.online?.removeEventListener("online", this.#onOnline);
        const socket = this.#socket;
        this.#socket = undefined;
        this.#subscriptions.clear();
        this.#pending = [];
        this.#setState({ status: "closed", attempt: 0 });
        try {
            socket?.close(1000, "closed");
        }
        catch {
            // Already closing.
        }
    }
    async #connect() {
        const generation = ++this.#generation;
        if (this.#state.status === "idle")
            this.#settings.online?.addEventListener("online", this.#onOnline);
        this.#setState({ ...this.#state, status: "connecting" });
        let token;
        try {
            token = this.#settings.token ? await this.#token(this.#expired) : undefined;
        }
        catch (thrown) {
            if (generation !== this.#generation)
                return;
            return this.#retryLater({ kind: "connect", message: `the token provider failed: ${describe(thrown)}` });
        }
        if (generation !== this.#generation)
            return;
        this.#expired = false;
        let socket;
        try {
            socket = new this.#settings.WebSocket(socketUrl(this.#settings.base, token));
        }
        catch (thrown) {
            return this.#retryLater({ kind: "connect", message: describe(thrown) });
        }
        this.#socket = socket;
        socket.onopen = () => generation === this.#generation && this.#opened();
        socket.onmessage = (event) => generation === this.#generation && this.#receive(event.data);
        socket.onclose = (event) => generation === this.#generation && this.#closed(event.code, event.reason);
        // Once open, a close always follows an error, and says more. Before it, some runtimes (Node's
        // WebSocket) report a refused connection with an error alone.
        socket.onerror = () => {
            if (generation === this.#generation && this.#state.status === "connecting") {
                this.#retryLater({ kind: "connect", message: "could not connect" });
            }
        };
        // A connect that neither opens nor fails (a dead network, a stuck server) is given up in time.
        this.#deadline = this.#settings.timers.setTimeout(() => {
            if (generation !== this.#generation)
                return;
            this.#retryLater({ kind: "connect", message: `not connected within ${this.#settings.connectTimeout / 1000} s` });
            try {
                socket.close(4000, "connect timeout");
            }
            catch {
                // Already closing.
            }
        }, this.#settings.connectTimeout);
    }
    #opened() {
        this.#settings.timers.clearTimeout(this.#deadline);
        this.#deadline = undefined;
        this.#setState({ ...this.#state, status: "open" });
        for (const subscription of this.#subscriptions.values())
            this.#join(subscription);
        // Proves the path at once (its pong resets the backoff) and starts the heartbeat.
        this.#ping();
        this.#scheduleHeartbeat();
    }
    #join(subscription) {
        this.#send({ type: "join", data: subscription.joinData() });
        this.#pending.push({ kind: "join", subscription, ping: this.#ping() });
    }
    #receive(data) {
        // Any frame shows the socket is alive.
        this.#settings.timers.clearTimeout(this.#deadline);
        this.#deadline = undefined;
        const parsed = parseServerMessage(data);
        if (!parsed.ok)
            return this.#report({ kind: "frame", message: `ignored ${parsed.reason}` });
        const message = parsed.message;
        switch (message.type) {
            case "pong":
                return this.#pong(message.data);
            case "error":
                return this.#refused(message.error.code, message.error.message);
            case "stream":
                return message.event.type === "sync" ? this.#sync(message) : this.#frame(message);
        }
    }
    #pong(data) {
        const n = data?.n;
        if (typeof n !== "number")
            return this.#report({ kind: "frame", message: "ignored a pong that is not ours" });
        this.#pending = this.#pending.filter((pending) => pending.ping > n);
        if (this.#state.attempt > 0 || this.#state.problem)
            this.#setState({ status: this.#state.status, attempt: 0 });
    }
    /** An error frame: the answer to the oldest message still waiting for one. */
    #refused(code, message) {
        const pending = this.#pending.shift();
        if (pending?.kind !== "join")
            return this.#report({ kind: "server", code, message });
        const subscription = pending.subscription;
        const { streamName, groupId, only } = subscription;
        const problem = {
            kind: "server",
            code,
            message,
            subscription: only === undefined ? { streamName, groupId } : { streamName, groupId, id: only },
        };
        if (this.#subscriptions.get(subscription.key) === subscription) {
            this.#subscriptions.delete(subscription.key);
            this.#call(subscription.handlers.onError, problem);
        }
        this.#report(problem);
    }
    /** A sync answers the oldest join still waiting: it goes to that subscription alone (others
     *  on the same group have seen every frame it covers). */
    #sync(frame) {
        const index = this.#pending.findIndex((pending) => pending.kind === "join");
        const pending = this.#pending[index];
        if (pending?.kind !== "join" || !pending.subscription.wantsSync(frame))
            return;
        this.#pending.splice(index, 1);
        const subscription = pending.subscription;
        if (this.#subscriptions.get(subscription.key) !== subscription)
            return;
        const reason = subscription.takeSync(frame);
        if (reason)
            this.#call(subscription.handlers.onResync, reason);
        this.#call(subscription.handlers.onSync, frame.event.type === "sync" ? frame.event.data : null, frame);
    }
    #frame(frame) {
        const event = frame.event;
        if (event.type === "unknown") {
            this.#report({ kind: "frame", message: `skipped a frame of unknown event type ${JSON.stringify(event.name)}` });
        }
        for (const subscription of [...this.#subscriptions.values()]) {
            if (!subscription.wants(frame))
                continue;
            const verdict = subscription.take(frame);
            if (verdict === "drop")
                continue;
            if (verdict !== "deliver") {
                this.#resync(subscription, verdict);
                continue;
            }
            const handlers = subscription.handlers;
            if (event.type === "event")
                this.#call(handlers.onEvent, event.event.type, event.event.data, frame);
            else if (event.type !== "unknown" && event.type !== "sync") {
                this.#call(handlers.onChange, { type: event.type, data: event.data }, frame);
            }
        }
    }
    /** Tells the app, and joins afresh (without `since`) for a sync of the current items. */
    #resync(subscription, reason) {
        subscription.resyncing = true;
        this.#call(subscription.handlers.onResync, reason);
        if (this.#subscriptions.get(subscription.key) === subscription)
            this.#join(subscription);
    }
    #closed(code, reason) {
        // 1008 "token expired": the next connect asks the provider for a fresh token.
        if (code === 1008)
            this.#expired = true;
        const why = reason ? `${code} ${reason}` : `${code}`;
        this.#retryLater({ kind: "close", code, message: `the host closed the socket (${why})` });
    }
    /** Gives up the current socket, reports why, and schedules the next attempt. */
    #retryLater(problem) {
        this.#generation++;
        this.#stopTimers();
        this.#socket = undefined;
        this.#pending = [];
        const attempt = this.#state.attempt;
        this.#setState({ status: "reconnecting", attempt: attempt + 1, problem });
        this.#emitProblem(problem);
        this.#retry = this.#settings.timers.setTimeout(() => void this.#connect(), backoff(this.#settings, attempt));
    }
    #online() {
        if (this.#state.status === "reconnecting") {
            this.#settings.timers.clearTimeout(this.#retry);
            void this.#connect();
        }
        else if (this.#state.status === "open") {
            // The network changed under the socket: check it now rather than at the next beat.
            this.#ping();
        }
    }
    #scheduleHeartbeat() {
        this.#heartbeat = this.#settings.timers.setTimeout(() => {
            this.#ping();
            this.#scheduleHeartbeat();
        }, this.#settings.heartbeatInterval);
    }
    /** Sends a ping and returns its number; the socket is dead if nothing arrives in time. */
    #ping() {
        const n = ++this.#pings;
        this.#send({ type: "ping", data: { n } });
        if (this.#deadline === undefined) {
            this.#deadline = this.#settings.timers.setTimeout(() => this.#dead(), this.#settings.heartbeatTimeout);
        }
        return n;
    }
    #dead() {
        const socket = this.#socket;
        const seconds = this.#settings.heartbeatTimeout / 1000;
        // Its close could take minutes on a dead network: stop listening to it now.
        this.#retryLater({ kind: "heartbeat", message: `no answer to a ping within ${seconds} s` });
        try {
            socket?.close(4000, "heartbeat timeout");
        }
        catch {
            // Already closing.
        }
    }
    #stopTimers() {
        this.#settings.timers.clearTimeout(this.#heartbeat);
        this.#settings.timers.clearTimeout(this.#deadline);
        this.#heartbeat = this.#deadline = undefined;
    }
    #send(message) {
        try {
            this.#socket?.send(JSON.stringify(message));
        }
        catch (thrown) {
            // The socket is closing; its close event follows and reconnects.
            this.#report({ kind: "connect", message: `could not send: ${describe(thrown)}` });
        }
    }
    async #token(expired) {
        return this.#settings.token?.({ expired });
    }
    /** Runs an app handler; what it throws is reported, never passed on. */
    #call(handler, ...args) {
        if (!handler)
            return;
        try {
            handler(...args);
        }
        catch (thrown) {
            this.#report({ kind: "handler", message: `a handler threw: ${describe(thrown)}` });
        }
    }
    /** A problem that leaves the connection as it is. */
    #report(problem) {
        this.#setState({ ...this.#state, problem });
        this.#emitProblem(problem);
    }
    #emitProblem(problem) {
        for (const listener of [...this.#problemListeners]) {
            try {
                listener(problem);
            }
            catch {
                // A listener's own failure has nowhere better to go.
            }
        }
    }
    #setState(state) {
        this.#state = state;
        for (const listener of [...this.#stateListeners]) {
            try {
                listener(state);
            }
            catch {
                // As above.
            }
        }
    }
}
/** A client for the host at `options.url` (the page's origin by default). */
export function createClient(options) {
    return new EddyClient(options);
}
