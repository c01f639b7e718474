/**
 * FleetAnchorer.run() waited between rounds with a timer and an
 * 'abort' listener on the caller's signal, added with { once: true } every
 * round and never removed when the timer fired (found in a review). A
 * long-running anchorer (`hwledger fleet-anchor`, --interval-ms down to 10)
 * therefore kept one listener closure per round for its whole life: unbounded
 * memory, and Node's MaxListenersExceededWarning after 10 rounds. Now each
 * wait removes its listener. Real nats-server and anchorer.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { FleetAnchorer } from '@hwledger/ledger-ops';
import { ChainWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'fleet-run' });

describe('fleet anchorer run loop', () => {
  it('does not accumulate abort listeners round after round', async () => {
    const key = generateSigner('hwl-eu');
    await ChainWriter.open(nats.nc, 'rl-eu');
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'rl', chains: ['rl-eu'], trusted: [{ ...verifierOf(key), chains: ['rl-eu'] }] });
    const ticks = { n: 0 };
    const tick = anchorer.tick.bind(anchorer);
    anchorer.tick = async () => {
      ticks.n++;
      return tick();
    };
    const abort = new AbortController();
    const running = anchorer.run(10, abort.signal);
    while (ticks.n < 40) await new Promise((r) => setTimeout(r, 20));
    const listeners = getEventListeners(abort.signal, 'abort').length;
    abort.abort();
    await running;
    // One wait in progress needs one listener; every finished wait should have let go of its own.
    expect(listeners).toBeLessThanOrEqual(2);
  });
});
