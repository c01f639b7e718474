/**
 * Builders of chain events with the agent's identity conventions (spec:
 * instance_id "e.g. `inference:request_completed:req-42` or a device id"):
 *
 *   device_registered, metrics_collected   tenant ""        instance_id = device id
 *   job_dispatched/_completed/_failed      tenant = job's   instance_id = job:<job_id>
 *   inference_request_completed            tenant = tenant_id  instance_id = inference:request_completed:<request_id>
 */
import type {
  ChainEvent,
  DeviceRegisteredData,
  InferenceRequestCompletedData,
  JobCompletedData,
  JobDispatchedData,
  JobFailedData,
  MetricsCollectedData,
} from '@hwledger/chain';

export interface Envelope {
  source: string;
  eventId: string;
  observedAtMs: bigint;
}

export const instanceIds = {
  device: (deviceId: string): string => deviceId,
  job: (jobId: string): string => `job:${jobId}`,
  inference: (requestId: string): string => `inference:request_completed:${requestId}`,
} as const;

export function deviceRegistered(env: Envelope, data: DeviceRegisteredData): ChainEvent {
  return { ...env, kind: 'device_registered', tenant: '', instanceId: instanceIds.device(data.device_id), data };
}

export function metricsCollected(env: Envelope, data: MetricsCollectedData): ChainEvent {
  return { ...env, kind: 'metrics_collected', tenant: '', instanceId: instanceIds.device(data.device_id), data };
}

export function jobDispatched(env: Envelope, tenant: string, data: JobDispatchedData): ChainEvent {
  return { ...env, kind: 'job_dispatched', tenant, instanceId: instanceIds.job(data.job_id), data };
}

export function jobCompleted(env: Envelope, tenant: string, data: JobCompletedData): ChainEvent {
  return { ...env, kind: 'job_completed', tenant, instanceId: instanceIds.job(data.job_id), data };
}

export function jobFailed(env: Envelope, tenant: string, data: JobFailedData): ChainEvent {
  return { ...env, kind: 'job_failed', tenant, instanceId: instanceIds.job(data.job_id), data };
}

export function inferenceCompleted(env: Envelope, data: InferenceRequestCompletedData): ChainEvent {
  return { ...env, kind: 'inference_request_completed', tenant: data.tenant_id, instanceId: instanceIds.inference(data.request_id), data };
}
