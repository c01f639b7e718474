// Builds the optional N-API addon (src/native-hash.c) with the node-gyp that
// ships inside npm, against the headers of the Node.js running this script
// (<prefix>/include/node, present in Debian's nodejs and the official
// tarballs), so nothing is downloaded. Copies it to dist/hwl_native_hash.node.
// `npm run build` passes --force; `npm start` does not, and keeps an addon
// that is newer than its sources.
// If anything is missing (no compiler, no headers, no npm), it says so and
// exits 0: the packages that use it fall back to node:crypto
// (src/index.ts), which computes the same bytes, only slower.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(here, 'dist', 'hwl_native_hash.node');
const skip = (why) => {
  rmSync(target, { force: true });
  process.stderr.write(`@hwledger/native-hash: addon not built (${why}); node:crypto is used instead\n`);
  process.exit(0);
};

if (process.env.HWL_NATIVE_HASH === '0') skip('HWL_NATIVE_HASH=0');
// `npm start` calls this on every start: an addon newer than its sources is kept.
const newest = Math.max(...['src/native-hash.c', 'src/ingest-transcode.c', 'src/record-link.c', 'binding.gyp'].map((f) => statSync(join(here, f)).mtimeMs));
if (existsSync(target) && statSync(target).mtimeMs >= newest && process.argv[2] !== '--force') process.exit(0);
const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), '..');
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node.js headers under ${nodedir}/include/node`);
const npmCli = process.env.npm_execpath;
const gyp = [
  npmCli && join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && existsSync(p));
if (!gyp) skip("npm's node-gyp not found");
try {
  execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
} catch (e) {
  skip(`node-gyp failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
}
mkdirSync(dirname(target), { recursive: true });
copyFileSync(join(here, 'build', 'Release', 'hwl_native_hash.node'), target);
rmSync(join(here, 'build'), { recursive: true, force: true });
