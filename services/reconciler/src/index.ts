/** @hwledger/reconciler: predicted-vs-actual reconciliation of jobs (docs/reconciler.md). */
export { Reconciler, type ReconcilerOptions, type RunResult } from './reconciler.js';
