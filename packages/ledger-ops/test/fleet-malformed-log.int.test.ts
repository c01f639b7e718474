/**
 * A malformed message in one region's checkpoint log must be a
 * failure of that region in verifyFleet's report (as verifyCheckpointLog and
 * verifyLiveFromAnchor already treat it), not an exception that ends the
 * whole fleet verification and every other region's report with it.
 * verifyFleet's anchored-entry check uses CheckpointLog.findBySize, whose
 * binary search parses the malformed message and throws: that ended the
 * whole verification (found by a review helper).
 */
import { describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { generateSigner, verifierOf, type NoteSigner, type NoteVerifier } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { FleetAnchorer, verifyFleet } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'fleet-malformed-review6' });
const EU = 'r6m-eu';
const US = 'r6m-us';
const euKey = generateSigner('r6-eu');
const usKey = generateSigner('r6-us');
const bind = (s: NoteSigner, ...chains: string[]): NoteVerifier => ({ ...verifierOf(s), chains });
const bound = [bind(euKey, EU), bind(usKey, US)];

describe('verifyFleet with a malformed message in a region checkpoint log', () => {
  it('reports the region as failed and still reports the other regions', async () => {
    const eu = await ChainWriter.open(nats.nc, EU);
    const us = await ChainWriter.open(nats.nc, US);
    await eu.append(100);
    await checkpointWriter(nats.nc, eu, euKey, 100);
    await us.append(100);
    await checkpointWriter(nats.nc, us, usKey, 100);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'r6m', chains: [EU, US], trusted: bound });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(2);
    expect((await verifyFleet(nats.nc, 'r6m', bound)).ok).toBe(true);
    // Anyone allowed to publish on hwl.checkpoint.<chain> appends two non-notes.
    const js = jetstream(nats.nc);
    await js.publish(`hwl.checkpoint.${EU}`, new TextEncoder().encode('not a note'));
    await js.publish(`hwl.checkpoint.${EU}`, new TextEncoder().encode('not a note either'));
    let report: Awaited<ReturnType<typeof verifyFleet>> | undefined;
    let thrown: unknown;
    try {
      report = await verifyFleet(nats.nc, 'r6m', bound);
    } catch (e) {
      thrown = e;
    }
    expect(thrown === undefined ? 'returned a report' : `threw: ${(thrown as Error).message}`).toBe('returned a report');
    expect(report!.ok).toBe(false);
    const byChain = Object.fromEntries(report!.chains.map((c) => [c.chainId, c]));
    expect(byChain[EU]!.logIssue).toMatch(/not a signed checkpoint note/);
    expect(byChain[US]!.live?.result.ok).toBe(true);
  });
});
