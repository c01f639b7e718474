/**
 * Signed checkpoints (C2SP signed-note with the tlog-checkpoint body plus
 * `head` and `time` extension lines): sign/verify, several signatures for key
 * rotation, refusal of wrong keys, tampered bodies and malformed notes, each
 * with its typed code; key texts round-trip; signatures are standard Ed25519
 * (checked by node:crypto) over exactly the body.
 */
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ChainError,
  formatCheckpointBody,
  formatSignerKey,
  formatVerifierKey,
  fromHex,
  generateSigner,
  noteKeyId,
  parseCheckpointBody,
  parseSignedCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signerFromSeed,
  toHex,
  verifierOf,
  verifyCheckpoint,
  type Checkpoint,
  type ChainErrorCode,
} from '@hwledger/chain';

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const oldKey = signerFromSeed('hwledger-eu-2025', seed(1));
const newKey = signerFromSeed('hwledger-eu-2026', seed(2));
const stranger = signerFromSeed('someone-else', seed(3));

const cp: Checkpoint = {
  chainId: 'eu-west-1',
  sequence: 9_007_199_254_740_993n, // past 2^53
  headHash: fromHex('840bd4949aea9d6d31cccfc7fe998d727ea8118572e231063f0fb7edf0f020aa'),
  rootHash: new Uint8Array(32).fill(0xab),
  timeMs: 1_763_800_000_007n,
};

function codeOf(fn: () => unknown): ChainErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChainError);
    return (e as ChainError).code;
  }
  return 'no error';
}

describe('checkpoint body', () => {
  it('is the documented five lines, and parses back', () => {
    const body = formatCheckpointBody(cp);
    expect(body).toBe(
      'hwledger/eu-west-1\n9007199254740993\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\nhead 840bd4949aea9d6d31cccfc7fe998d727ea8118572e231063f0fb7edf0f020aa\ntime 1763800000007\n',
    );
    expect(parseCheckpointBody(body)).toStrictEqual(cp);
  });
});

describe('sign and verify', () => {
  it('a checkpoint signed by a trusted key verifies and yields its fields', () => {
    const signed = signCheckpoint(cp, [oldKey]);
    const v = verifyCheckpoint(signed.note, [verifierOf(oldKey)]);
    expect(v.verifiedBy).toEqual(['hwledger-eu-2025']);
    expect(v.checkpoint).toStrictEqual(cp);
    expect(signed.note).toBe(`${signed.body}\n— hwledger-eu-2025 ${Buffer.from([...oldKey.keyId, ...signed.signatures[0]!.signature]).toString('base64')}\n`);
  });

  it('is standard Ed25519 over exactly the body (node:crypto agrees), with the signed-note key id', () => {
    const signed = signCheckpoint(cp, [oldKey]);
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(oldKey.publicKey).toString('base64url') }, format: 'jwk' });
    expect(nodeVerify(null, Buffer.from(signed.body, 'utf8'), pub, signed.signatures[0]!.signature)).toBe(true);
    const id = createHash('sha256').update(Buffer.from('hwledger-eu-2025\n\x01', 'latin1')).update(oldKey.publicKey).digest().subarray(0, 4);
    expect(toHex(noteKeyId(oldKey.name, oldKey.publicKey))).toBe(id.toString('hex'));
  });

  it('RFC 8032 test 1: the seed gives the published public key', () => {
    const s = signerFromSeed('rfc8032', fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(toHex(s.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });

  it('key rotation: a note signed by old and new keys verifies for holders of either or both', () => {
    const signed = signCheckpoint(cp, [oldKey, newKey]);
    expect(signed.signatures).toHaveLength(2);
    expect(verifyCheckpoint(signed.note, [verifierOf(oldKey)]).verifiedBy).toEqual(['hwledger-eu-2025']);
    expect(verifyCheckpoint(signed.note, [verifierOf(newKey)]).verifiedBy).toEqual(['hwledger-eu-2026']);
    expect(verifyCheckpoint(signed.note, [verifierOf(newKey), verifierOf(oldKey)]).verifiedBy).toEqual(['hwledger-eu-2025', 'hwledger-eu-2026']);
    // Unknown signers are ignored, not fatal (signed-note rules).
    expect(verifyCheckpoint(signCheckpoint(cp, [stranger, newKey]).note, [verifierOf(newKey)]).verifiedBy).toEqual(['hwledger-eu-2026']);
  });

  it('refuses a note with no signature by a trusted key (INVALID_SIGNATURE)', () => {
    const signed = signCheckpoint(cp, [stranger]);
    expect(codeOf(() => verifyCheckpoint(signed.note, [verifierOf(oldKey)]))).toBe('INVALID_SIGNATURE');
    expect(codeOf(() => verifyCheckpoint(signed.note, []))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a signature under a trusted name and key id that its key does not verify', () => {
    const signed = signCheckpoint(cp, [oldKey]);
    const impostor = { ...verifierOf(oldKey), publicKey: newKey.publicKey };
    expect(codeOf(() => verifyCheckpoint(signed.note, [impostor]))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a tampered body: every line changed, a line added', () => {
    const signed = signCheckpoint(cp, [oldKey]);
    const trusted = [verifierOf(oldKey)];
    const tampered = [
      signed.note.replace('hwledger/eu-west-1', 'hwledger/eu-west-2'),
      signed.note.replace('9007199254740993', '9007199254740994'),
      signed.note.replace('q6urq6ur', 'q6urq6uS'),
      signed.note.replace('head 840b', 'head 940b'),
      signed.note.replace('time 1763800000007', 'time 1763800000008'),
    ];
    for (const note of tampered) {
      expect(note).not.toBe(signed.note);
      expect(
        codeOf(() => verifyCheckpoint(note, trusted)),
        note,
      ).toBe('INVALID_SIGNATURE');
    }
    const extended = signed.note.replace('time 1763800000007\n', 'time 1763800000007\nextra line\n');
    expect(['INVALID_SIGNATURE', 'INVALID_CHECKPOINT']).toContain(codeOf(() => verifyCheckpoint(extended, trusted)));
  });

  it('refuses a tampered signature', () => {
    const signed = signCheckpoint(cp, [oldKey]);
    const sig = signed.signatures[0]!.signature.slice();
    sig[10] = sig[10]! ^ 1;
    const line = `— ${oldKey.name} ${Buffer.from([...oldKey.keyId, ...sig]).toString('base64')}\n`;
    expect(codeOf(() => verifyCheckpoint(`${signed.body}\n${line}`, [verifierOf(oldKey)]))).toBe('INVALID_SIGNATURE');
  });

  it('refuses to sign with no signer', () => {
    expect(codeOf(() => signCheckpoint(cp, []))).toBe('INVALID_SIGNATURE');
  });
});

describe('malformed notes are refused with INVALID_CHECKPOINT', () => {
  const signed = signCheckpoint(cp, [oldKey]);
  const sigLine = signed.note.slice(signed.body.length + 1);
  const cases: [string, string][] = [
    ['empty', ''],
    ['no blank line', signed.body + sigLine],
    ['no signature lines', `${signed.body}\n`],
    ['no final newline', signed.note.slice(0, -1)],
    ['signature line without em dash', `${signed.body}\n- ${sigLine.slice(2)}`],
    ['signature not base64', `${signed.body}\n— ${oldKey.name} !!!!\n`],
    ['signature too short', `${signed.body}\n— ${oldKey.name} ${Buffer.alloc(67).toString('base64')}\n`],
    ['body of four lines', signed.note.replace(/time \d+\n/, '')],
    ['origin not hwledger/', signed.note.replace('hwledger/eu-west-1', 'other/eu-west-1')],
    ['empty chain id', signed.note.replace('hwledger/eu-west-1', 'hwledger/')],
    ['tree size not a u64', signed.note.replace('9007199254740993', '-1')],
    ['tree size with leading zero', signed.note.replace('9007199254740993', '09007199254740993')],
    ['root not base64', signed.note.replace(/^q6ur.*$/m, 'not base64!')],
    ['root of 31 bytes', signed.note.replace(/^q6ur.*$/m, Buffer.alloc(31).toString('base64'))],
    ['head not hex', signed.note.replace('head 840b', 'head X40b')],
    ['head of 31 bytes', signed.note.replace(/head [0-9a-f]+/, `head ${'00'.repeat(31)}`)],
    ['missing head line', signed.note.replace('head ', 'hash ')],
    ['time not a number', signed.note.replace('time 1763800000007', 'time soon')],
  ];
  it.each(cases)('%s', (_what, note) => {
    expect(codeOf(() => parseSignedCheckpoint(note))).toBe('INVALID_CHECKPOINT');
    expect(codeOf(() => verifyCheckpoint(note, [verifierOf(oldKey)]))).toBe('INVALID_CHECKPOINT');
  });
});

describe('key texts', () => {
  it('verifier and signer keys round-trip', () => {
    for (const s of [oldKey, newKey, generateSigner('fresh')]) {
      const vt = formatVerifierKey(verifierOf(s));
      expect(vt.startsWith(`${s.name}+${toHex(s.keyId)}+`)).toBe(true);
      expect(parseVerifierKey(vt)).toStrictEqual(verifierOf(s));
      const back = parseSignerKey(formatSignerKey(s));
      expect(back).toStrictEqual(s);
      expect(verifyCheckpoint(signCheckpoint(cp, [back]).note, [parseVerifierKey(vt)]).verifiedBy).toEqual([s.name]);
    }
  });

  it('refuses key texts that are malformed or whose id does not match (INVALID_SIGNATURE)', () => {
    const vt = formatVerifierKey(verifierOf(oldKey));
    const st = formatSignerKey(oldKey);
    const bad = [
      'nonsense',
      vt.replace(toHex(oldKey.keyId), '00000000'),
      vt.replace(oldKey.name, 'renamed'),
      `${oldKey.name}+${toHex(oldKey.keyId)}+${Buffer.from([0x02, ...oldKey.publicKey]).toString('base64')}`,
      `bad name+${toHex(oldKey.keyId)}+${vt.split('+').slice(2).join('+')}`,
    ];
    for (const t of bad) expect(['INVALID_SIGNATURE', 'INVALID_CHECKPOINT']).toContain(codeOf(() => parseVerifierKey(t)));
    expect(['INVALID_SIGNATURE', 'INVALID_CHECKPOINT']).toContain(codeOf(() => parseSignerKey(st.replace(toHex(oldKey.keyId), '00000000'))));
    expect(codeOf(() => parseSignerKey(vt))).toBe('INVALID_SIGNATURE');
    expect(codeOf(() => signerFromSeed('has space', seed(1)))).toBe('INVALID_SIGNATURE');
    expect(codeOf(() => signerFromSeed('short', new Uint8Array(31)))).toBe('INVALID_SIGNATURE');
  });
});
