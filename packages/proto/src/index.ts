/** @hwledger/proto: generated contracts (src/gen, do not edit) and the narrowing codecs. */
export * as pb from './gen/hwledger/v1/ingest.js';
/** The query API (proto/hwledger/v1/query.proto): messages, LedgerQueryService, LedgerQueryClient. */
export * as query from './gen/hwledger/v1/query.js';
export {
  encodeIngestBatch,
  decodeIngestBatch,
  eventToProto,
  eventFromProto,
  IngestDecodeError,
  INGEST_ENVELOPE_VERSION,
  type IngestDecodeCode,
  type DecodedBatch,
  type DecodeIngestOptions,
} from './ingest-codec.js';
