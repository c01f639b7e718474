/**
 * `npm start` / `hwledger-stack`: runs the local stack until Ctrl-C
 * (SIGINT), SIGTERM or SIGHUP (the terminal closed), then stops every
 * process it started and exits 0.
 * Bad settings: one line on stderr naming the setting, exit 2; a failure
 * while starting or running: one line, everything stopped, exit 1.
 */
import { isStackError, StackError } from './stack-error.js';
import { resolveStackConfig } from './stack-config.js';
import { redactNatsUrl } from '@hwledger/core';
import { runStack, startStack, type Stack } from './stack.js';
import { EXAMPLE_FLEET, fleetUsers, renderAuthorization } from './nats-auth.js';
import { ensureTopology, parseTopologyArgs } from './topology.js';

// After SIGHUP the terminal is gone: a write to it fails (EIO/EPIPE), which must not kill the runner before it has stopped the stack.
for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);

function say(line: string): void {
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    /* no terminal any more */
  }
}

function fail(e: unknown): never {
  if (isStackError(e)) {
    process.stderr.write(`hwledger start: ${redactNatsUrl(e.oneLine())}\n`);
    process.exit(e.exitCode);
  }
  const code = (e as { code?: unknown } | undefined)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`hwledger start: ${typeof code === 'string' ? `${code}: ` : ''}${redactNatsUrl(msg.split('\n')[0] ?? msg)}\n`);
  process.exit(1);
}

function banner(stack: Stack, chains: string[]): void {
  const i = stack.info;
  say('');
  say(`hwledger is running: chains ${chains.map((c) => `${c} (from sequence ${i.resumedAt[c] ?? '0'})`).join(', ')}`);
  say(`  dashboard  ${i.dashboardUrl}`);
  say(`  API        ${i.apiUrl}  (gRPC ${i.grpcAddress})${i.keys.operatorKeyFile ? `; operator key in ${i.keys.operatorKeyFile}` : ''}`);
  say(`  NATS       ${redactNatsUrl(i.natsUrl)}`);
  say(`  metrics    ${i.services.filter((s) => s.metrics !== '').map((s) => `${s.name} ${s.metrics}`).join('\n             ')}`);
  say(`  logs       ${i.logs}`);
  say('Press Ctrl-C to stop everything.');
}

async function start(): Promise<void> {
  let cfg;
  try {
    cfg = resolveStackConfig();
  } catch (e) {
    fail(e);
  }
  const chains = cfg.chains;
  let code: number;
  try {
    // SIGINT, SIGTERM and SIGHUP stop the stack (STOP_SIGNALS); a signal while starting: finish starting (or failing), then stop.
    code = await runStack(() => startStack(cfg, (l) => say(`hwledger start: ${l}`)), {
      started: (stack: Stack) => banner(stack, chains),
      say: (l) => say(l === '' ? '' : `hwledger start: ${l}`),
      warn: (l) => {
        try {
          process.stderr.write(`hwledger start: ${l}\n`);
        } catch {
          /* no terminal any more */
        }
      },
    });
  } catch (e) {
    fail(e);
  }
  process.exit(code);
}

const cmd = process.argv[2];
if (cmd === 'nats-auth') {
  // Regenerates deploy/nats/auth.conf for the example fleet.
  process.stdout.write(renderAuthorization(fleetUsers(EXAMPLE_FLEET)));
} else if (cmd === 'topology') {
  Promise.resolve()
    .then(() => ensureTopology(parseTopologyArgs(process.argv.slice(3)), (l) => say(`hwledger topology: ${l}`)))
    .catch(fail);
} else if (cmd === undefined || cmd === 'start') {
  start().catch(fail);
} else {
  fail(new StackError('CONFIG', 'usage', `unknown command ${JSON.stringify(cmd)}: use \`hwledger-stack [start]\` or \`hwledger-stack nats-auth\``));
}
