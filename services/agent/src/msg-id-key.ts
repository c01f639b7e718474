/**
 * The agent's secret for its ingest message ids (ingest-msg-id.ts).
 *
 * Threat: the ingest stream drops a message whose Nats-Msg-Id it has seen in
 * the last 10 minutes, from any subject. An id derived only from the events
 * (source, event_id) can be computed by another node, which could publish a
 * message with that id first, on its own subject: the real message would then
 * be answered "duplicate" and never reach the sequencer, with no dead letter.
 * Keyed with a secret of this agent's, the id still repeats for a retry of the
 * same batch (also after a restart, from the same outbox directory) but no
 * other node can compute it.
 *
 * 32 random bytes in `<outbox dir>/msg-id.key` (mode 0600), made on first use
 * and written atomically (temporary file, fsync, rename). The caller holds the
 * outbox directory's lock, so the temporary file is this process's alone: one
 * a crash left behind (in a container the pid is the same every start) is
 * removed first, not an error (and not reused: its mode could be wider).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HwlError } from '@hwledger/core';

export const MSG_ID_KEY_FILE = 'msg-id.key';
const KEY_BYTES = 32;

/** Reads the key in `dir`, or makes one; throws HwlError CONFIG for a file that is not a key. */
export async function loadMsgIdKey(dir: string): Promise<Uint8Array> {
  const path = join(dir, MSG_ID_KEY_FILE);
  const existing = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (existing !== undefined) {
    if (existing.length !== KEY_BYTES) throw new HwlError('CONFIG', `${path} holds ${existing.length} bytes, not a ${KEY_BYTES}-byte message-id key; remove it to make a new one`);
    return new Uint8Array(existing);
  }
  const key = randomBytes(KEY_BYTES);
  const tmp = `${path}.${process.pid}.tmp`;
  await unlink(tmp).catch(() => undefined);
  const f = await open(tmp, 'wx', 0o600);
  try {
    await f.writeFile(key);
    await f.sync();
  } finally {
    await f.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return new Uint8Array(key);
}
