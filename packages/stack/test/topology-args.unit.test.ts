/** `hwledger-stack topology` arguments: chains, replicas and the fleet anchors whose streams it creates. */
import { describe, expect, it } from 'vitest';
import { parseTopologyArgs } from '../src/topology.js';

describe('parseTopologyArgs', () => {
  it('creates fleet anchor streams only when named (a region site must not hold one)', () => {
    expect(parseTopologyArgs(['--chains', 'eu-west-1,us-east-1'])).toEqual({ chains: ['eu-west-1', 'us-east-1'], replicas: 1, fleets: [] });
    expect(parseTopologyArgs(['--chains', 'a', '--replicas', '3', '--fleets', 'main, emea'])).toEqual({ chains: ['a'], replicas: 3, fleets: ['main', 'emea'] });
    expect(parseTopologyArgs(['--chains', 'a', '--fleets', ''])).toEqual({ chains: ['a'], replicas: 1, fleets: [] });
  });

  it('refuses names that are not subject tokens, bad replica counts and unknown arguments', () => {
    const refused = (argv: string[], setting: string): void => expect(() => parseTopologyArgs(argv)).toThrow(expect.objectContaining({ code: 'CONFIG', setting }));
    refused(['--chains', 'a', '--fleets', 'x.y'], '--fleets');
    refused(['--chains', 'a.b'], '--chains');
    refused(['--chains', 'a', '--replicas', '0'], '--replicas');
    refused(['--chains', 'a', '--fleet', 'main'], 'usage');
    refused([], '--chains');
  });
});
