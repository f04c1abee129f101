/**
 * One subscription's continuity: the seq and epoch of the last frame it saw (what a resume
 * sends as `since`), and the verdict on each frame routed to it — deliver, drop a duplicate or a
 * frame its sync already covers, or resynchronise after a gap or a change of epoch. It is the
 * piece that keeps the promise "never a duplicate, never a silent miss"; the socket only routes.
 */

import type { JoinData, StreamFrame } from "./frames.js";
import type { SocketProblem } from "./errors.js";

/** Why a subscription lost continuity; a sync with the current items follows. */
export type ResyncReason =
  /** A frame skipped seqs: frames were lost on the way. */
  | "gap"
  /** A frame of another epoch arrived (the host's numbering changed). */
  | "epoch"
  /** The host answered a resume with a sync: the frames missed are out of its replay window, or
   *  it restarted. */
  | "window";

/** An item change. */
export interface Change {
  type: "create" | "update" | "delete";
  /** The new value; the old one on delete. */
  data: unknown;
}

/** What the app hears from one subscription. Every handler is optional; one that throws is
 *  reported (as a `handler` problem) and the client carries on. */
export interface Handlers {
  /** The group's items (or, with an `id` filter, that one item or null): the first answer to a
   *  join, and after every resynchronisation. Replace what you show with it. */
  onSync?(items: unknown, frame: StreamFrame): void;
  /** An item was created, updated or deleted. */
  onChange?(change: Change, frame: StreamFrame): void;
  /** A `stream::send` event. */
  onEvent?(type: string, data: unknown, frame: StreamFrame): void;
  /** Continuity was lost: what you show may be stale or incomplete (for a stream of events,
   *  reload them from your HTTP API). `onSync` follows with the current items. */
  onResync?(reason: ResyncReason): void;
  /** The host refused this subscription (`forbidden`, `not_found`, `bad_request`,
   *  `limit_exceeded`): it is dropped, nothing more arrives. */
  onError?(problem: SocketProblem): void;
}

/** What a subscription does with a frame. */
export type Verdict = "deliver" | "drop" | ResyncReason;

export class Subscription {
  /** The seq of the last frame delivered (or of the sync), in `epoch`. */
  since: number | undefined;
  epoch: string | undefined;
  /** A rejoin without `since` is under way: frames until its sync are covered by it. */
  resyncing = false;

  constructor(
    readonly key: string,
    readonly streamName: string,
    readonly groupId: string,
    /** Only frames about this item or event id. Its seqs are not contiguous, so a jump in them
     *  is no gap. */
    readonly only: string | undefined,
    readonly handlers: Handlers,
  ) {}

  /** The join for the current socket: a resume from the last frame seen, when there is one. */
  joinData(): JoinData {
    const data: JoinData = { subscriptionId: this.key, streamName: this.streamName, groupId: this.groupId };
    if (this.only !== undefined) data.id = this.only;
    if (!this.resyncing && this.since !== undefined && this.epoch !== undefined) {
      data.since = this.since;
      data.epoch = this.epoch;
    }
    return data;
  }

  /** Whether a change or event frame is for this subscription. Frames carry no subscription
   *  id: the host sends a group's frame once per socket, for all its subscriptions there. */
  wants(frame: StreamFrame): boolean {
    return (
      frame.streamName === this.streamName &&
      frame.groupId === this.groupId &&
      (this.only === undefined || frame.id === this.only)
    );
  }

  /** Whether a sync frame answers this subscription's join: a sync carries the id filter of the
   *  join it answers (null for none). */
  wantsSync(frame: StreamFrame): boolean {
    return frame.streamName === this.streamName && frame.groupId === this.groupId && frame.id === (this.only ?? null);
  }

  /** The verdict on a change or event frame; a delivered frame becomes the resume point. */
  take(frame: StreamFrame): Verdict {
    // Before its sync a subscription has nothing to build on: the sync covers these frames.
    if (this.resyncing || this.epoch === undefined || this.since === undefined) return "drop";
    if (frame.epoch !== this.epoch) return "epoch";
    if (frame.seq <= this.since) return "drop";
    if (this.only === undefined && frame.seq > this.since + 1) return "gap";
    this.since = frame.seq;
    return "deliver";
  }

  /** Takes the sync that answers this subscription's join; says whether it ends a
   *  resynchronisation the app has not heard of yet (the host's own answer to a resume). */
  takeSync(frame: StreamFrame): ResyncReason | undefined {
    const hadState = this.epoch !== undefined && !this.resyncing;
    this.since = frame.seq;
    this.epoch = frame.epoch;
    this.resyncing = false;
    return hadState ? "window" : undefined;
  }
}
