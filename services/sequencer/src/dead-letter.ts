/**
 * Dead letters: every rejected ingest message or event goes to
 * hwl.dlq.<chain> (stream HWL_DLQ_<chain>) with what the producer sent and
 * why it was refused, so nothing is dropped silently.
 *
 * Headers: Hwl-Reject-Code (stable), Hwl-Reject-Reason, Hwl-Orig-Subject,
 * Hwl-Ingest-Seq, Hwl-Ingest-Index (events only), Nats-Msg-Id
 * `dlq-<ingest stream epoch>-<ingestSeq>-<index|m>` so that re-dead-lettering after a crash (the
 * events between the chain's watermark and the crash are processed again)
 * is deduplicated within the DLQ stream's duplicate window.
 * Body: the whole message (message-level rejects) or the event's own bytes
 * re-wrapped as a one-event IngestBatch (event-level rejects).
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { HEADERS, streams, subjects } from '@hwledger/core';
import type { RejectCode } from './admission.js';

export interface DeadLetter {
  body: Uint8Array;
  code: RejectCode;
  reason: string;
  origSubject: string;
  ingestSeq: number;
  /** Event index within the message; undefined for a whole-message reject. */
  index: number | undefined;
}

/** Header with the original body length when the dead letter had to be truncated. */
export const TRUNCATED_HEADER = 'Hwl-Truncated';

/** Header values cannot carry CR/LF (header injection) and should stay short. */
function headerValue(s: string, max = 512): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * `epoch`: when the ingest stream was created (ms, from its stream info). A
 * re-created stream numbers its messages from 1 again; without the epoch a
 * new rejection at an old position would be taken for the old one's
 * re-publication (within the DLQ's duplicate window) and dropped uncounted.
 */
export function deadLetterMsgId(epoch: number, ingestSeq: number, index: number | undefined): string {
  return `dlq-${epoch}-${ingestSeq}-${index === undefined ? 'm' : index}`;
}

function deadLetterHeaders(d: DeadLetter, truncatedFrom: number | undefined): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADERS.rejectCode, d.code);
  h.set(HEADERS.rejectReason, headerValue(d.reason));
  h.set(HEADERS.origSubject, headerValue(d.origSubject, 256));
  h.set(HEADERS.ingestSeq, String(d.ingestSeq));
  if (d.index !== undefined) h.set(HEADERS.ingestIndex, String(d.index));
  if (truncatedFrom !== undefined) h.set(TRUNCATED_HEADER, String(truncatedFrom));
  return h;
}

/** Dead letters in flight at once, at most (a message may carry up to MAX_EVENTS_PER_MESSAGE rejected events). */
const DLQ_IN_FLIGHT = 256;

/**
 * Publishes dead letters, up to DLQ_IN_FLIGHT at a time, and resolves once
 * every one is stored, with, per letter, whether the stream already held it
 * (a duplicate Nats-Msg-Id: dead-lettered by an earlier session, not again).
 * Throws when any is refused: the caller must not move past these events
 * until their dead letters are durable.
 */
export async function publishDeadLetters(js: JetStreamClient, chainId: string, letters: readonly DeadLetter[], maxPayload: number, epoch: number): Promise<boolean[]> {
  const room = Math.max(1024, maxPayload - 8192);
  const duplicate: boolean[] = [];
  for (let from = 0; from < letters.length; from += DLQ_IN_FLIGHT) {
    const acks = await Promise.all(
      letters.slice(from, from + DLQ_IN_FLIGHT).map((d) => {
        const truncated = d.body.length > room;
        const body = truncated ? d.body.subarray(0, room) : d.body;
        return js.publish(subjects.dlq(chainId), body, {
          msgID: deadLetterMsgId(epoch, d.ingestSeq, d.index),
          // Hostile bytes: refused by any other stream they are ever replayed into (record-headers.ts, `stream`).
          expect: { streamName: streams.dlq(chainId) },
          headers: deadLetterHeaders(d, truncated ? d.body.length : undefined),
          timeout: 10_000,
        });
      }),
    );
    for (const a of acks) duplicate.push(a.duplicate);
  }
  return duplicate;
}
