/**
 * A session's outbound side of the numbered stream (PROTOCOL.md §2.3, §2.4): each envelope
 * is numbered, encoded, held in the replay buffer until the client acknowledges it, and
 * written to the link the session is on (with a shared store, once stored); what the client
 * acknowledges is freed; a resume replays what it missed. Functions over the session, not an
 * object of their own, so a send pays no extra hop: the session holds the replay buffer
 * (the shared store and the stats read it too).
 */
import { EnvelopeError, ReplayBuffer, type InboundSequence, type ReplayBound, type ReplayBounds, type SequencedEnvelope } from '@lifeline/protocol';
import { sizeOfFrame, type Codec, type Frame } from './codec.js';
import type { Link } from './link.js';
import type { SessionSnapshot } from './session-store.js';
import type { SharedSession } from './shared-session.js';

/** What the numbered stream needs of its session. */
export interface OutboundParty {
  /** The link the session is on; null while its client is away. */
  readonly link: Link | null;
  readonly codec: Codec;
  /**
   * The client's last link agreed to the binary form (PROTOCOL.md §2.8): an envelope with `b`
   * is encoded in it (and written as text to a link that did not agree, Link.write).
   */
  readonly binaryForm: boolean;
  /** Sent envelopes, encoded, until the client acknowledges them. */
  readonly replay: ReplayBuffer<Frame>;
  /** The client's numbered envelopes: a pending acknowledgement rides along in `a`. */
  readonly inbound: InboundSequence;
  readonly shared: SharedSession | undefined;
  /** The route's replay bounds. */
  readonly replayBounds: ReplayBounds;
  /** The replay buffer went over `bound`: the session ends (1013). */
  overflow(bound: ReplayBound): void;
}

/**
 * Numbers, encodes, holds for replay and (when connected) writes one sequenced envelope,
 * with a pending acknowledgement riding along. False when it pushed the replay buffer over
 * its bounds (the session then ends). Throws LL_ENCODE_FAILED before numbering anything:
 * the envelope is encoded before its number is taken (`replay.push`) or its acknowledgement
 * used. Once numbered, nothing throws: a transport that throws on the write closes the link
 * with 1011 (Link.write), and the frame waits in the replay buffer for the client's resume.
 */
export function sendNumbered(session: OutboundParty, make: (s: number, a: number | undefined) => SequencedEnvelope): boolean {
  const link = session.link;
  const { replay, inbound } = session;
  const s = replay.lastSeq + 1;
  const a = link !== null && inbound.pending > 0 ? inbound.delivered : undefined;
  const envelope = make(s, a);
  const codec = session.codec;
  const frame = (session.binaryForm && codec.binaryForm?.encode(envelope)) || codec.encode(envelope);
  // The ack timer stays armed: when it fires with nothing pending it sends nothing, and
  // clearing it here would cost a timer per message in a request-reply exchange.
  if (a !== undefined) inbound.takeAck();
  const size = sizeOfFrame(frame);
  const now = Date.now();
  replay.push(s, frame, size, now);
  const over = replay.exceeded(session.replayBounds, now);
  if (over !== undefined) {
    session.overflow(over);
    return false;
  }
  // With a shared store the frame is written once stored (SharedSession.stored).
  const shared = session.shared;
  if (shared !== undefined) shared.sent();
  else link?.write(frame, size);
  return true;
}

/** Frees what the client acknowledged (`a` of a `t` envelope); false (and 1002) for an acknowledgement of something never sent. */
export function acknowledged(session: OutboundParty, a: number, t: string, link: Link): boolean {
  if (a > session.replay.lastSeq) {
    link.fail(new EnvelopeError(1002, `${t}.a: above the last s the server sent`));
    return false;
  }
  freeAcknowledged(session, a);
  return true;
}

/** Frees the envelopes up to `a`. With a shared store the acknowledgement is stored too, so that every node refuses a resume below it. */
export function freeAcknowledged(session: OutboundParty, a: number): void {
  if (session.replay.ack(a) > 0) session.shared?.acknowledged();
}

/**
 * Where a resume's `rx` stands (PROTOCOL.md §2.4): `below` what the client acknowledged (no
 * correct client sends that), `above` the last envelope the client can have seen (with a
 * shared store, the last one stored: nothing unstored is shown), or within (undefined).
 */
export function rxOutOfRange(session: OutboundParty, rx: number): 'below' | 'above' | undefined {
  if (rx < session.replay.acked) return 'below';
  if (rx > (session.shared?.storedSeq ?? session.replay.lastSeq)) return 'above';
  return undefined;
}

/** Writes to `link` what the client missed after `rx`, up to `upTo`; returns how many envelopes. */
export function replayTo(link: Link, replay: ReplayBuffer<Frame>, rx: number, upTo: number): number {
  let replayed = 0;
  for (const [s, frame] of replay.entriesAfter(rx)) {
    if (s > upTo) break;
    link.write(frame, 0, true);
    replayed++;
  }
  return replayed;
}

/** The replay buffer of a session claimed from the shared store, from its snapshot. */
export function restoredReplay(snapshot: SessionSnapshot, codec: Codec): ReplayBuffer<Frame> {
  const replay = new ReplayBuffer<Frame>(snapshot.acked);
  const now = Date.now();
  let s = snapshot.acked;
  for (const stored of snapshot.frames) {
    // A store may hand JSON frames back as bytes; the link writes them as text frames.
    const frame = codec.binary || typeof stored === 'string' ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8');
    replay.push(++s, frame, sizeOfFrame(frame), now);
  }
  return replay;
}
