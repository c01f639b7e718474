/**
 * @hwledger/agent: the GPU agent (docs/agent.md): nvidia-smi sampling, a
 * simulated fleet, the scheduler hook, batching publisher and durable outbox.
 */
export { Agent, defaultOutboxDir, sourceOf, type AgentOptions } from './agent.js';
export { EventTooLargeError, MaybeStoredError, type Acceptance, type StoredIn, type ShipperStats } from './shipper.js';
export { agentMetrics, type AgentMetrics } from './agent-metrics.js';
export { Outbox, OutboxFullError, type OutboxEntry, type OutboxOptions, type OutboxQuarantine } from './outbox.js';
export { encodeFrame, decodeFramePayload, readFrameHeader, FRAME_HEADER_BYTES } from './outbox-frame.js';
export { IngestBatchBuilder, MAX_INGEST_BODY_BYTES, type SealedBatch } from './ingest-batch-builder.js';
export { ingestMsgId } from './ingest-msg-id.js';
export { loadMsgIdKey, MSG_ID_KEY_FILE } from './msg-id-key.js';
export { NatsLink, type NatsLinkOptions } from './nats-link.js';
export { NvidiaSmiError, isNvidiaSmiError, type NvidiaSmiReason, type NvidiaSmiErrorDetail } from './nvidia-smi-error.js';
export { parseNvidiaSmiCsv, NVIDIA_SMI_FIELDS, NVIDIA_SMI_ARGS, type GpuMetrics, type GpuReading, type NvidiaSmiSample } from './nvidia-smi-parse.js';
export { runNvidiaSmi, sampleNvidiaSmi, DEFAULT_NVIDIA_SMI, type NvidiaSmiRunOptions } from './nvidia-smi-run.js';
export { parseScaledDecimal, parseUnsignedInteger } from './decimal.js';
export { GpuSampler, type GpuSamplerOptions, type SampleResult, type EventSink } from './gpu-sampler.js';
export { simulateFleet, simulatedNodeNames, gpuCostMicroUsd, SIM_REASON_WEIGHTS, type SimulateFleetOptions } from './simulate-fleet.js';
export { runEvents, type RunEventsOptions, type RunEventsResult, type EventDriverTarget } from './run-events.js';
export { deviceRegistered, metricsCollected, jobDispatched, jobCompleted, jobFailed, inferenceCompleted, instanceIds, type Envelope } from './event-builders.js';
export { startHookServer, type HookServer, type HookServerOptions } from './hook-server.js';
export { eventFromHookBody, HOOK_ROUTES, HookRequestError, type HookRoute, type HookKind } from './hook-request.js';
export { HookClient, HookError, type HookReceipt, type HookCallOptions, type HookTransportCode } from './hook-client.js';
export { createUlidFactory, type UlidFactory } from './ulid.js';
export { Prng } from './prng.js';
