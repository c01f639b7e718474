/**
 * Typed nvidia-smi failures. A reading nvidia-smi cannot give (`[N/A]`,
 * `[Not Supported]`, a missing binary, a hung driver) is an error that names
 * the GPU and the field, never a zero: a zero would be sealed onto the chain
 * as a measurement and billed (threat: silent under-reporting).
 */
import { HwlError } from '@hwledger/core';

export type NvidiaSmiReason =
  /** The binary is not on PATH / at the configured path (ENOENT). */
  | 'not_found'
  /** The binary exists but cannot be executed (EACCES). */
  | 'not_executable'
  /** Spawning failed for another reason. */
  | 'spawn_failed'
  /** nvidia-smi exited non-zero or was killed by a signal (driver not loaded, ...). */
  | 'exit_status'
  /** nvidia-smi did not finish within the timeout (hung driver). */
  | 'timeout'
  /** stdout exceeded the size bound. */
  | 'output_too_large'
  /** No GPU lines in the output. */
  | 'no_gpus'
  /** A line does not have the 8 queried columns. */
  | 'column_count'
  /** A field reads `[N/A]`. */
  | 'not_available'
  /** A field reads `[Not Supported]`. */
  | 'not_supported'
  /** A field reads `[Unknown Error]`. */
  | 'unknown_error'
  /** A field reads another bracketed status (`[GPU requires reset]`, ...). */
  | 'unavailable'
  /** A field is empty. */
  | 'empty_field'
  /** A numeric field is not a number. */
  | 'not_numeric'
  /** A number is outside what the wire type or policy allows. */
  | 'out_of_range'
  /** A text field (uuid, name) is malformed. */
  | 'invalid_value'
  /** The same GPU uuid appears twice. */
  | 'duplicate_gpu'
  /**
   * A GPU registered on this node (devices.json) is absent from a sample
   * that otherwise worked (fell off the bus, driver lost it, removed).
   */
  | 'gpu_missing';

export interface NvidiaSmiErrorDetail {
  reason: NvidiaSmiReason;
  /** 1-based output line, when the error is about one line. */
  line?: number;
  /** The GPU's index and uuid as printed, when known. */
  gpuIndex?: string;
  gpuUuid?: string;
  /** The GPU's name, when the error is about a GPU not in the output (gpu_missing: as last seen). */
  gpuName?: string;
  /** The query field (e.g. `power.draw`), when the error is about one field. */
  field?: string;
  /** The raw text of the field or a snippet of the output. */
  raw?: string;
}

export class NvidiaSmiError extends HwlError {
  readonly reason: NvidiaSmiReason;
  readonly line: number | undefined;
  readonly gpuIndex: string | undefined;
  readonly gpuUuid: string | undefined;
  readonly gpuName: string | undefined;
  readonly field: string | undefined;
  readonly raw: string | undefined;

  constructor(detail: NvidiaSmiErrorDetail, message: string, options?: { cause?: unknown }) {
    super('NVIDIA_SMI', message, options);
    this.reason = detail.reason;
    this.line = detail.line;
    this.gpuIndex = detail.gpuIndex;
    this.gpuUuid = detail.gpuUuid;
    this.gpuName = detail.gpuName;
    this.field = detail.field;
    this.raw = detail.raw;
  }
}

export function isNvidiaSmiError(e: unknown): e is NvidiaSmiError {
  return e instanceof NvidiaSmiError;
}
