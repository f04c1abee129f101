/**
 * The two kinds of trouble the client reports: {@link EddyError}, what a route answered with
 * the host's error envelope (thrown by `fetch`, the app asked and awaits it), and
 * {@link SocketProblem}, what went wrong on the stream socket (handed to listeners, never
 * thrown: the socket lives in the background and the app's event loop must not see it throw).
 */

/** A route's error: the status and the `{"error":{"code","message"}}` envelope of `docs/http.md`. */
export class EddyError extends Error {
  /** The HTTP status; 0 when no answer arrived (the network failed). */
  readonly status: number;
  /** The envelope's code (`not_found`, `unauthorized`, ...); `network` without an answer,
   *  `http_STATUS` for an error answer without the envelope (a proxy's page, say). */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "EddyError";
    this.status = status;
    this.code = code;
  }
}

/** What a socket problem was about. */
export type ProblemKind =
  /** The host answered a message with an `error` frame (a refused join, a refused token). */
  | "server"
  /** A frame the client cannot read: not JSON, a missing field, an unknown type. */
  | "frame"
  /** The host closed the socket (the close code says why: 1013 too slow, 1008 token expired). */
  | "close"
  /** The socket stayed silent past the heartbeat's timeout and was dropped. */
  | "heartbeat"
  /** The socket could not be opened, or the token provider failed. */
  | "connect"
  /** An app handler threw; the client carried on. */
  | "handler";

/** A problem on the stream socket. The client has already dealt with it (reconnected, skipped
 *  the frame); it is reported so the app can show or log it. */
export interface SocketProblem {
  kind: ProblemKind;
  /** The error frame's code, or the close code. */
  code?: string | number;
  message: string;
  /** The subscription it concerns, when one does (a refused join). */
  subscription?: { streamName: string; groupId: string; id?: string };
}

/** A message for anything thrown. */
export function describe(thrown: unknown): string {
  return thrown instanceof Error ? thrown.message : String(thrown);
}
