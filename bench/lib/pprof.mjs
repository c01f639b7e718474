// A Go pprof CPU profile (gzipped protobuf, as nats-server's prof_port
// serves it at /debug/pprof/profile) reduced to CPU time per function: flat
// (the function itself) and cumulative (it and what it calls). Only the
// fields that needs: samples (location ids, values), locations (line ->
// function id), functions (name -> string table), the string table.
// https://github.com/google/pprof/blob/main/proto/profile.proto
import { gunzipSync } from 'node:zlib';
import { BinaryReader } from '@bufbuild/protobuf/wire';

function packed(r, wireType, out, signed) {
  const read = () => Number(signed ? r.int64() : r.uint64());
  if (wireType === 2) {
    const end = r.uint32() + r.pos;
    while (r.pos < end) out.push(read());
  } else out.push(read());
}

function fields(bytes, onField) {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (!onField(field, wireType, r)) r.skip(wireType, field);
  }
}

/** { totalNs, flat: Map<name, ns>, cum: Map<name, ns> } of a profile's bytes (gzipped or not). */
export function cpuByFunction(gz) {
  const buf = gz[0] === 0x1f && gz[1] === 0x8b ? gunzipSync(gz) : gz;
  const samples = [];
  const locations = new Map();
  const functions = new Map();
  const strings = [];
  fields(buf, (f, wt, r) => {
    if (f === 2) {
      const s = { loc: [], val: [] };
      fields(r.bytes(), (g, w, b) => (g === 1 ? (packed(b, w, s.loc, false), true) : g === 2 ? (packed(b, w, s.val, true), true) : false));
      samples.push(s);
    } else if (f === 4) {
      const l = { id: 0, fns: [] };
      fields(r.bytes(), (g, w, b) => {
        if (g === 1) l.id = Number(b.uint64());
        else if (g === 4) fields(b.bytes(), (h, x, c) => (h === 1 ? (l.fns.push(Number(c.uint64())), true) : false));
        else return false;
        return true;
      });
      locations.set(l.id, l);
    } else if (f === 5) {
      let id = 0;
      let name = 0;
      fields(r.bytes(), (g, w, b) => (g === 1 ? ((id = Number(b.uint64())), true) : g === 2 ? ((name = Number(b.int64())), true) : false));
      functions.set(id, name);
    } else if (f === 6) strings.push(r.string());
    else return false;
    return true;
  });
  const flat = new Map();
  const cum = new Map();
  let totalNs = 0;
  for (const s of samples) {
    const v = s.val[s.val.length - 1] ?? 0; // the last sample type is cpu nanoseconds
    totalNs += v;
    const seen = new Set();
    let leaf = true;
    for (const id of s.loc) {
      // A location lists inlined functions innermost first.
      for (const fn of locations.get(id)?.fns ?? []) {
        const name = strings[functions.get(fn)] ?? '?';
        if (leaf) flat.set(name, (flat.get(name) ?? 0) + v);
        leaf = false;
        if (!seen.has(name)) cum.set(name, (cum.get(name) ?? 0) + v);
        seen.add(name);
      }
    }
  }
  return { totalNs, flat, cum };
}
