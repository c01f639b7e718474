/**
 * @hwledger/ledger-ops: signed checkpoints, Merkle proof bundles, git
 * replication, archival and the fleet anchor (issue 6; docs/proofs.md).
 */
export { CKPT_HEADERS, CHECKPOINT_BUCKET, kvKeys, checkpointStreamConfig, fleetNames, fleetStreamConfig } from './names.js';
export { encodeHashList, decodeHashList } from './hex-list.js';
export { loadSigner, loadVerifiers } from './keys.js';
export { nativeMerkleHasher, addonMerkleHasher, nodeCryptoMerkleHasher, withNativeSigning } from './native-crypto.js';
export { readStream, streamExists, type StreamMsg } from './stream-read.js';
export {
  CheckpointLog,
  openCheckpointBucket,
  parseCheckpointMessage,
  verifyCheckpointLog,
  checkNext,
  type StoredCheckpoint,
  type NewCheckpoint,
  type CheckpointLogIssue,
  type CheckpointLogReport,
} from './checkpoint-log.js';
export { walkChain, ChainIntegrityError, type WalkedRecord, type WalkOptions } from './chain-walk.js';
export { genesisTreeAnchor, treeAnchorToJson, treeAnchorFromJson, checkTreeAnchor, type TreeAnchor, type TreeAnchorJson } from './tree-anchor.js';
export { Checkpointer, type CheckpointerOptions, type SealedInput } from './checkpointer.js';
export { FileMerkleStore } from './file-merkle-store.js';
export { lockDir, withDirLock } from './dir-lock.js';
export {
  INCLUSION_BUNDLE,
  CONSISTENCY_BUNDLE,
  makeInclusionBundle,
  makeConsistencyBundle,
  parseProofBundle,
  verifyProofBundle,
  type InclusionBundle,
  type ConsistencyBundle,
  type ProofBundle,
  type VerifiedInclusion,
  type VerifiedConsistency,
} from './proof-bundle.js';
export { proveInclusion, proveConsistency, withSyncedTree, type ProverContext } from './prover.js';
export { SegmentVerifier, type SegmentFailure, type SegmentReason, type SegmentVerifySuccess, type ExpectedCheckpoint } from './segment-verifier.js';
export { replicateToGit, verifyGitReplica, type ReplicateOptions, type ReplicateResult, type ReplicaReport } from './git-replica.js';
export { parseDuration } from './duration.js';
export { archiveChain, verifyArchive, readManifest, ARCHIVE_FORMAT, type ArchiveOptions, type ArchiveResult, type ArchiveReport, type ArchiveManifest, type ArchiveSegmentEntry } from './archive.js';
export { loadArchiveAnchor, verifyLiveFromAnchor, type LiveReport } from './live-verify.js';
export { FleetAnchorer, ensureFleetStream, verifyFleet, formatFleetEntry, parseFleetEntry, fleetGenesisHash, FLEET_FORMAT, type FleetEntry, type FleetAnchorerOptions, type FleetReport, type FleetChainReport } from './fleet.js';
export { checkpointStatus, fleetStatus, type CheckpointStatus, type FleetStatus } from './status.js';
export { keysForChain, requireBoundKeys } from './checkpoint.js';
export { boundedLines, LineTooLongError, MAX_SEGMENT_LINE_BYTES, type BoundedLine } from './bounded-lines.js';
