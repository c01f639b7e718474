export { HwlError, isHwlError, type HwlErrorCode } from './errors.js';
export { HEADERS, subjects, streams, KV_BUCKETS, recordMsgId, assertToken, isOwnSource } from './subjects.js';
export { resolveNatsUrl, resolveChainId, resolveDatabaseUrl, DEFAULT_NATS_URL } from './config.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export {
  connectNats,
  closeNats,
  ensureChainTopology,
  ensureStream,
  chainStreamConfig,
  ingestStreamConfig,
  dlqStreamConfig,
  type TopologyOptions,
} from './nats.js';
export { registerProcessMetrics, NONCOMPLIANT_DEFAULT_METRICS, FORBIDDEN_METRIC_LABELS } from './metrics.js';
export { natsConnectTarget, redactNatsUrl, type NatsConnectTarget } from './nats-url.js';
export { inboxPrefixFor, inboxSubscribeSubject, connectionInbox, DEFAULT_INBOX_PREFIX } from './nats-inbox.js';
export { openKvBucket, hardenKvBucket, kvBucketAllowsRollups, kvStreamConfig, kvStreamName, type KvBucketOptions } from './kv-bucket.js';
export { parseUtcIsoTime } from './iso-time.js';
