/**
 * @hwledger/sequencer: the single writer that validates ingest events and
 * seals them onto a chain (docs/sequencer.md).
 */
export { Sequencer, DEFAULT_INGEST_BUFFER_BYTES, DEFAULT_LEASE_TTL_MS, DEFAULT_WINDOW, type SequencerOptions } from './sequencer.js';
export { type SealedLink, type SealedRecord, type SessionOutcome, INGEST_CONSUMER, streamSeqOfReply } from './sealing-session.js';
export { readChain, chainStreamState, chainStreamExtent, type ChainStreamExtent, type ChainEntry, type ReadChainOptions } from './chain-reader.js';
export { readChainTail, type ChainTail } from './chain-tail.js';
export { type Watermark, WATERMARK_ORIGIN, isCovered, watermarkFromHeaders } from './watermark.js';
export {
  admitIngestMessage,
  MAX_EVENTS_PER_MESSAGE,
  REJECT_CODES,
  splitBatchEvents,
  singleEventBatch,
  rejectionOf,
  DEFAULT_MAX_INGEST_BYTES,
  type Admission,
  type AdmittedEvent,
  type Rejection,
  type RejectCode,
} from './admission.js';
export { sourceOwner, ownsSource, nodeOfSource, foreignSourceReason, SourceOwners, type SourceOwner } from './source-owner.js';
export { deadLetterMsgId, TRUNCATED_HEADER, type DeadLetter } from './dead-letter.js';
export { AppendPipeline, type AppendOutcome, type AppendFailureCode, type AppendPipelineOptions } from './append-pipeline.js';
export { RecentIds } from './recent-ids.js';
export { BatchKeys } from './batch-keys.js';
export { LeaderLease, openLeaderBucket, type Lease } from './leader-lease.js';
export { b64Length, CHAIN_MSG_ID_LENGTH, chainMsgId, eventKeyOfMsgId, putBase64Url } from './chain-msg-id.js';
export { sequencerMetrics, type SequencerMetrics } from './metrics.js';
export { FastHistogram, FastHistogramChild, type FastHistogramOptions } from './fast-histogram.js';
export { startMetricsServer } from './metrics-server.js';
export { RawHeaders } from './raw-headers.js';
export { Slab } from './slab.js';
export { FrameWriter } from './frame-writer.js';
export { SerialRunner } from './serial-runner.js';
export { encodeRecordHeaders, EncodedHeaders, type RecordHeaderFields } from './record-headers.js';
export { fastAdmit, fastAdmitPortable, canonicalPrefix, type FastBatch, type FastEvent } from './fast-ingest.js';
