/**
 * The source rule (source-owner.ts): on hwl.ingest.<chain>.<node> only the
 * sources `<chain>/<node>` and `<chain>/<node>/...` are accepted; the node a
 * producer routes a source to (nodeOfSource) is the one node that owns it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isOwnSource, subjects } from '@hwledger/core';
import { foreignSourceReason, nodeOfSource, ownsSource, sourceOwner, SourceOwners } from '@hwledger/sequencer';

const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,12}$/);

describe('source rule', () => {
  it('owns exactly the node itself and what lies below it', () => {
    const owner = sourceOwner('eu-west-1', 'hwl.ingest.eu-west-1.node-017');
    expect(owner.source).toBe('eu-west-1/node-017');
    expect(Buffer.from(owner.bytes).toString('latin1')).toBe('eu-west-1/node-017');
    for (const s of ['eu-west-1/node-017', 'eu-west-1/node-017/sim-000', 'eu-west-1/node-017/a/b', 'eu-west-1/node-017//x']) expect(ownsSource(owner, s), s).toBe(true);
    for (const s of ['eu-west-1/node-01', 'eu-west-1/node-0170', 'eu-west-1/node-017/', 'eu-west-1/node-018', 'us-east-1/node-017', 'node-017', 'eu-west-1', '', 'EU-WEST-1/node-017', 'eu-west-1/node-017x/y']) {
      expect(ownsSource(owner, s), s).toBe(false);
    }
    expect(foreignSourceReason(owner, 'eu-west-1/node-018')).toBe(
      'source "eu-west-1/node-018" is not node "eu-west-1/node-017"\'s: events on hwl.ingest.eu-west-1.node-017 must have source eu-west-1/node-017 or eu-west-1/node-017/…',
    );
  });

  it('an empty owner, or a chain id that is not a subject token, owns nothing', () => {
    expect(isOwnSource('', '/x')).toBe(false);
    expect(isOwnSource('', '')).toBe(false);
    // 'ţ' is not ASCII: as bytes it would read as another chain's id.
    const owner = sourceOwner('ţ', 'hwl.ingest.ţ.n1');
    expect(owner.source).toBeUndefined();
    expect(ownsSource(owner, 'ţ/n1')).toBe(false);
  });

  it('a subject without exactly one node token after hwl.ingest.<chain>. owns nothing', () => {
    for (const subject of ['hwl.ingest.c.n.extra', 'hwl.ingest.c.', 'hwl.ingest.other.n', 'hwl.ingest.c._n', 'x.ingest.c.n']) {
      const owner = sourceOwner('c', subject);
      expect(owner.source, subject).toBeUndefined();
      expect(ownsSource(owner, 'c/n'), subject).toBe(false);
      expect(foreignSourceReason(owner, 'c/n')).toMatch(/names no node/);
    }
  });

  it('routes every source to the one node that owns it, and no source to a node that does not', () => {
    // Sources of this chain and node, of this chain and another node (often a prefix or extension of it), of another chain, and anything.
    const near = (chain: string, node: string): fc.Arbitrary<string> => {
      const below = fc.option(fc.string({ maxLength: 8 }));
      const nodes = fc.oneof(fc.constant(node), token, fc.constant(node.slice(0, -1)), token.map((t) => node + t));
      const chains = fc.oneof(fc.constant(chain), token);
      return fc.oneof(
        fc.tuple(chains, nodes, below).map(([c, n, b]) => (b === null ? `${c}/${n}` : `${c}/${n}/${b}`)),
        fc.string({ maxLength: 20 }),
      );
    };
    const cases = fc.tuple(token, token).chain(([chain, node]) => fc.tuple(fc.constant(chain), fc.constant(node), near(chain, node)));
    fc.assert(
      fc.property(cases, ([chain, node, s]) => {
        const owner = sourceOwner(chain, subjects.ingest(chain, node));
        const routed = nodeOfSource(chain, s);
        // The node a producer routes to owns the source; any other node does not.
        if (routed !== undefined) expect(ownsSource(sourceOwner(chain, subjects.ingest(chain, routed)), s)).toBe(true);
        expect(ownsSource(owner, s)).toBe(routed === node);
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps a bounded cache of owners by subject', () => {
    const owners = new SourceOwners('c', 3);
    const first = owners.of('hwl.ingest.c.a');
    expect(owners.of('hwl.ingest.c.a')).toBe(first);
    for (const n of ['b', 'c', 'd', 'e']) expect(owners.of(`hwl.ingest.c.${n}`).source).toBe(`c/${n}`);
    // Cleared when full: a fresh (equal) owner, never a wrong one.
    expect(owners.of('hwl.ingest.c.a')).toEqual(first);
  });
});
