/** In-memory shapes of the read-model rows a batch writes (docs/read-models.md). */

export interface JobRow {
  jobId: string;
  status: 'dispatched' | 'completed' | 'failed';
  dispatchTenant: string | null;
  deviceId: string | null;
  modelId: string | null;
  vramRequestedMib: bigint | null;
  predictedCostMicroUsd: bigint | null;
  dispatchSequence: bigint | null;
  dispatchedAtMs: bigint | null;
  dispatchCount: number;
  completionTenant: string | null;
  tokensGenerated: bigint | null;
  durationMs: bigint | null;
  actualVramMib: bigint | null;
  reportedCostMicroUsd: bigint | null;
  completionSequence: bigint | null;
  completedAtMs: bigint | null;
  completionCount: number;
  failureTenant: string | null;
  errorMessage: string | null;
  failureSequence: bigint | null;
  failedAtMs: bigint | null;
  failureCount: number;
  ratedDeviceType: string | null;
  ratedModelId: string | null;
  ratedCostMicroUsd: bigint | null;
  priceBookVersion: number | null;
  lastSequence: bigint;
}

export interface DeviceRow {
  deviceId: string;
  registered: boolean;
  hostname: string | null;
  deviceType: string | null;
  vramTotalMib: bigint | null;
  registeredSequence: bigint | null;
  registeredAtMs: bigint | null;
  registrationCount: number;
  lastMetricsSequence: bigint | null;
  lastSeenAtMs: bigint | null;
  vramUsedMib: bigint | null;
  reportedVramTotalMib: bigint | null;
  utilizationPct: bigint | null;
  temperatureMc: number | null;
  powerMw: bigint | null;
  metricsCount: bigint;
}

export interface TenantUsage {
  requestCount: bigint;
  requestTokens: bigint;
  requestComputeMs: bigint;
  requestCostMicroUsd: bigint;
  unratedRequestCount: bigint;
  jobsCompleted: bigint;
  jobsFailed: bigint;
  jobTokens: bigint;
  jobDurationMs: bigint;
  jobReportedCostMicroUsd: bigint;
  jobRatedCostMicroUsd: bigint;
  unratedJobCount: bigint;
  priceBookVersions: Set<number>;
}

export function emptyUsage(): TenantUsage {
  return {
    requestCount: 0n,
    requestTokens: 0n,
    requestComputeMs: 0n,
    requestCostMicroUsd: 0n,
    unratedRequestCount: 0n,
    jobsCompleted: 0n,
    jobsFailed: 0n,
    jobTokens: 0n,
    jobDurationMs: 0n,
    jobReportedCostMicroUsd: 0n,
    jobRatedCostMicroUsd: 0n,
    unratedJobCount: 0n,
    priceBookVersions: new Set(),
  };
}

export interface ReasonUsage {
  requestCount: bigint;
  tokens: bigint;
  computeMs: bigint;
}

export interface MetricsRollup {
  samples: bigint;
  vramUsedSum: bigint;
  vramUsedMax: bigint;
  utilizationSum: bigint;
  utilizationMax: bigint;
  temperatureSum: bigint;
  temperatureMax: number;
  powerSum: bigint;
  powerMax: bigint;
}

export function newJob(jobId: string, sequence: bigint): JobRow {
  return {
    jobId,
    status: 'dispatched',
    dispatchTenant: null,
    deviceId: null,
    modelId: null,
    vramRequestedMib: null,
    predictedCostMicroUsd: null,
    dispatchSequence: null,
    dispatchedAtMs: null,
    dispatchCount: 0,
    completionTenant: null,
    tokensGenerated: null,
    durationMs: null,
    actualVramMib: null,
    reportedCostMicroUsd: null,
    completionSequence: null,
    completedAtMs: null,
    completionCount: 0,
    failureTenant: null,
    errorMessage: null,
    failureSequence: null,
    failedAtMs: null,
    failureCount: 0,
    ratedDeviceType: null,
    ratedModelId: null,
    ratedCostMicroUsd: null,
    priceBookVersion: null,
    lastSequence: sequence,
  };
}

export function newDevice(deviceId: string): DeviceRow {
  return {
    deviceId,
    registered: false,
    hostname: null,
    deviceType: null,
    vramTotalMib: null,
    registeredSequence: null,
    registeredAtMs: null,
    registrationCount: 0,
    lastMetricsSequence: null,
    lastSeenAtMs: null,
    vramUsedMib: null,
    reportedVramTotalMib: null,
    utilizationPct: null,
    temperatureMc: null,
    powerMw: null,
    metricsCount: 0n,
  };
}
