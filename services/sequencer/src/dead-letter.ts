/**
 * Dead letters: every rejected ingest message or event goes to
 * hwl.dlq.<chain> (stream HWL_DLQ_<chain>) with what the producer sent and
 * why it was refused, so nothing is dropped silently.
 *
 * Headers: Hwl-Reject-Code (stable), Hwl-Reject-Reason, Hwl-Orig-Subject,
 * Hwl-Ingest-Seq, Hwl-Ingest-Index (events only), Nats-Msg-Id
 * `dlq-<ingestSeq>-<index|m>` so that re-dead-lettering after a crash (the
 * events between the chain's watermark and the crash are processed again)
 * is deduplicated within the DLQ stream's duplicate window.
 * Body: the whole message (message-level rejects) or the event's own bytes
 * re-wrapped as a one-event IngestBatch (event-level rejects).
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { HEADERS, subjects } from '@hwledger/core';
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

export function deadLetterMsgId(ingestSeq: number, index: number | undefined): string {
  return `dlq-${ingestSeq}-${index === undefined ? 'm' : index}`;
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

/**
 * Publishes dead letters concurrently and resolves once every one is stored
 * (or was a duplicate of one stored before). Throws when any is refused: the
 * caller must not move past these events until their dead letters are durable.
 */
export async function publishDeadLetters(js: JetStreamClient, chainId: string, letters: readonly DeadLetter[], maxPayload: number): Promise<void> {
  const room = Math.max(1024, maxPayload - 8192);
  await Promise.all(
    letters.map((d) => {
      const truncated = d.body.length > room;
      const body = truncated ? d.body.subarray(0, room) : d.body;
      return js.publish(subjects.dlq(chainId), body, {
        msgID: deadLetterMsgId(d.ingestSeq, d.index),
        headers: deadLetterHeaders(d, truncated ? d.body.length : undefined),
        timeout: 10_000,
      });
    }),
  );
}
