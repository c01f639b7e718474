/**
 * @hwledger/chain: the chain wire format, version 1 (shared/spec/chain-format.md).
 * Runtime dependencies: @noble/hashes and @noble/curves only; runs in Node and browsers.
 */
export { ChainError, isChainError, type ChainErrorCode } from './errors.js';
export { toHex, fromHex, hashFromHex, concatBytes, constantTimeEqual, utf8Encode, utf8Decode, isWellFormed } from './bytes.js';
export { U32_MAX, I32_MIN, I32_MAX, U64_MAX } from './limits.js';
export {
  KIND_NAMES,
  KIND_TAGS,
  KIND_FIELDS,
  COMPLETION_REASONS,
  kindFromTag,
  isKindName,
  isCompletionReason,
  type KindName,
  type CompletionReason,
  type FieldSpec,
  type FieldType,
} from './kinds.js';
export {
  FORMAT_VERSION,
  type ChainEvent,
  type ChainRecord,
  type EventEnvelope,
  type EventDataMap,
  type SealFields,
  type Anchor,
  type DeviceRegisteredData,
  type JobDispatchedData,
  type JobCompletedData,
  type JobFailedData,
  type MetricsCollectedData,
  type InferenceRequestCompletedData,
} from './record.js';
export { encodeRecord, decodeRecord, encodeEventData } from './canonical.js';
export { genesisHash, chainHash, sha256, HASH_LENGTH, GENESIS_PREFIX } from './hash.js';
export { sealEvent, type Sealed, type ChainHashFn } from './seal.js';
export {
  eventToJson,
  eventFromJson,
  recordToJson,
  recordFromJson,
  parseU64,
  type EventJson,
  type RecordJson,
  type JsonValue,
} from './json.js';
export { validateEvent, isValidChainId, DEFAULT_LIMITS, FORBIDDEN_CONTROL_RE, SUBJECT_TOKEN_RE, type ValidationLimits } from './validate.js';
export {
  ChainVerifier,
  verifyEntries,
  verifyEntriesSync,
  genesisAnchor,
  type VerifyInput,
  type VerifyReason,
  type VerifyResult,
  type VerifyFailure,
  type VerifySuccess,
} from './verifier.js';
export { formatExportLine, parseExportLine, type ExportEntry, type ExportLineJson } from './export-line.js';
export { merkleLeafHash, merkleNodeHash, merkleRoot, MerkleAccumulator, EMPTY_TREE_ROOT } from './merkle.js';
export {
  signCheckpoint,
  verifyCheckpoint,
  keyMaySignFor,
  parseSignedCheckpoint,
  formatCheckpointBody,
  parseCheckpointBody,
  signerFromSeed,
  generateSigner,
  verifierOf,
  formatVerifierKey,
  parseVerifierKey,
  formatSignerKey,
  parseSignerKey,
  noteKeyId,
  type Checkpoint,
  type SignedCheckpoint,
  type NoteSigner,
  type NoteVerifier,
  type NoteSignature,
} from './checkpoint.js';
export {
  inclusionProofRanges,
  consistencyProofRanges,
  rangeHash,
  inclusionProof,
  consistencyProof,
  rootFromInclusionProof,
  verifyInclusion,
  verifyRecordInclusion,
  verifyConsistency,
  compactRangeShape,
  rootFromCompactRange,
  isCompactRangeNode,
  type MerkleRange,
  type MerkleNodeSource,
} from './merkle-proof.js';
export { MemoryMerkleTree } from './merkle-tree.js';
export { fastLeafHash, fastNodeHash, jsMerkleHasher, type MerkleHasher } from './merkle-fast-hash.js';
