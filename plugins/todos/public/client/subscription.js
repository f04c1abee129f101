/**
 * One subscription's continuity: the seq and epoch of the last frame it saw (what a resume
 * sends as `since`), and the verdict on each frame routed to it — deliver, drop a duplicate or a
 * frame its sync already covers, or resynchronise after a gap or a change of epoch. It is the
 * piece that keeps the promise "never a duplicate, never a silent miss"; the socket only routes.
 */
export class Subscription {
    key;
    streamName;
    groupId;
    only;
    handlers;
    /** The seq of the last frame delivered (or of the sync), in `epoch`. */
    since;
    epoch;
    /** A rejoin without `since` is under way: frames until its sync are covered by it. */
    resyncing = false;
    constructor(key, streamName, groupId, 
    /** Only frames about this item or event id. Its seqs are not contiguous, so a jump in them
     *  is no gap. */
    only, handlers) {
        this.key = key;
        this.streamName = streamName;
        this.groupId = groupId;
        this.only = only;
        this.handlers = handlers;
    }
    /** The join for the current socket: a resume from the last frame seen, when there is one. */
    joinData() {
        const data = { subscriptionId: this.key, streamName: this.streamName, groupId: this.groupId };
        if (this.only !== undefined)
            data.id = this.only;
        if (!this.resyncing && this.since !== undefined && this.epoch !== undefined) {
            data.since = this.since;
            data.epoch = this.epoch;
        }
        return data;
    }
    /** Whether a change or event frame is for this subscription. Frames carry no subscription
     *  id: the host sends a group's frame once per socket, for all its subscriptions there. */
    wants(frame) {
        return (frame.streamName === this.streamName &&
            frame.groupId === this.groupId &&
            (this.only === undefined || frame.id === this.only));
    }
    /** Whether a sync frame answers this subscription's join: a sync carries the id filter of the
     *  join it answers (null for none). */
    wantsSync(frame) {
        return frame.streamName === this.streamName && frame.groupId === this.groupId && frame.id === (this.only ?? null);
    }
    /** The verdict on a change or event frame; a delivered frame becomes the resume point. */
    take(frame) {
        // Before its sync a subscription has nothing to build on: the sync covers these frames.
        if (this.resyncing || this.epoch === undefined || this.since === undefined)
            return "drop";
        if (frame.epoch !== this.epoch)
            return "epoch";
        if (frame.seq <= this.since)
            return "drop";
        if (this.only === undefined && frame.seq > this.since + 1)
            return "gap";
        this.since = frame.seq;
        return "deliver";
    }
    /** Takes the sync that answers this subscription's join; says whether it ends a
     *  resynchronisation the app has not heard of yet (the host's own answer to a resume). */
    takeSync(frame) {
        const hadState = this.epoch !== undefined && !this.resyncing;
        this.since = frame.seq;
        this.epoch = frame.epoch;
        this.resyncing = false;
        return hadState ? "window" : undefined;
    }
}
