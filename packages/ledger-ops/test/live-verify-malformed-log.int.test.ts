/**
 * A malformed message in a chain's checkpoint log (anyone allowed to publish
 * on `hwl.checkpoint.<chain>` can write one) is a failure of that chain's
 * verification, reported with the others: it used to be an exception that
 * ended the whole verification (under `verify --fleet`, every other
 * region's report with it). Found in a review. Real nats-server.
 */
import { describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { verifyLiveFromAnchor } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'malformed-log' });
const key = generateSigner('hwl-malformed-log');

describe('verifyLiveFromAnchor with a malformed checkpoint message', () => {
  it('reports bad_signature naming the log instead of throwing', async () => {
    const chain = 'malformed-log';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(300);
    await checkpointWriter(nats.nc, w, key, 100);
    expect((await verifyLiveFromAnchor(nats.nc, chain, { trusted: [verifierOf(key)] })).result.ok).toBe(true);
    await jetstream(nats.nc).publish(`hwl.checkpoint.${chain}`, new TextEncoder().encode('not a note'));
    const r = await verifyLiveFromAnchor(nats.nc, chain, { trusted: [verifierOf(key)] });
    expect(r.result).toMatchObject({ ok: false, reason: 'bad_signature', message: expect.stringMatching(/the checkpoint log \(unreadable: checkpoint #4 of chain malformed-log is not a signed checkpoint note/) });
  });
});
