/**
 * The two kinds of trouble the client reports: {@link EddyError}, what a route answered with
 * the host's error envelope (thrown by `fetch`, the app asked and awaits it), and
 * {@link SocketProblem}, what went wrong on the stream socket (handed to listeners, never
 * thrown: the socket lives in the background and the app's event loop must not see it throw).
 */
/** A route's error: the status and the `{"error":{"code","message"}}` envelope of `docs/http.md`. */
export class EddyError extends Error {
    /** The HTTP status; 0 when no answer arrived (the network failed). */
    status;
    /** The envelope's code (`not_found`, `unauthorized`, ...); `network` without an answer,
     *  `http_STATUS` for an error answer without the envelope (a proxy's page, say). */
    code;
    constructor(status, code, message) {
        super(message);
        this.name = "EddyError";
        this.status = status;
        this.code = code;
    }
}
/** A message for anything thrown. */
export function describe(thrown) {
    return thrown instanceof Error ? thrown.message : String(thrown);
}
