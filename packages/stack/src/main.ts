/**
 * `npm start` / `hwledger-stack`: runs the local stack until Ctrl-C
 * (SIGINT) or SIGTERM, then stops every process it started and exits 0.
 * Bad settings: one line on stderr naming the setting, exit 2; a failure
 * while starting or running: one line, everything stopped, exit 1.
 */
import { isStackError, StackError } from './stack-error.js';
import { resolveStackConfig } from './stack-config.js';
import { startStack, type Stack } from './stack.js';
import { EXAMPLE_FLEET, fleetUsers, renderAuthorization } from './nats-auth.js';
import { ensureTopology, parseTopologyArgs } from './topology.js';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function fail(e: unknown): never {
  if (isStackError(e)) {
    process.stderr.write(`hwledger start: ${e.oneLine()}\n`);
    process.exit(e.exitCode);
  }
  const code = (e as { code?: unknown } | undefined)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`hwledger start: ${typeof code === 'string' ? `${code}: ` : ''}${msg.split('\n')[0] ?? msg}\n`);
  process.exit(1);
}

function banner(stack: Stack, chains: string[]): void {
  const i = stack.info;
  say('');
  say(`hwledger is running: chains ${chains.map((c) => `${c} (from sequence ${i.resumedAt[c] ?? '0'})`).join(', ')}`);
  say(`  dashboard  ${i.dashboardUrl}`);
  say(`  API        ${i.apiUrl}  (gRPC ${i.grpcAddress})${i.keys.operatorKeyFile ? `; operator key in ${i.keys.operatorKeyFile}` : ''}`);
  say(`  NATS       ${i.natsUrl}`);
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
  let stack: Stack;
  let signalled: NodeJS.Signals | undefined;
  // A signal while starting: finish starting (or failing), then stop.
  const onSignal = (s: NodeJS.Signals): void => {
    signalled ??= s;
    wake();
  };
  let wake: () => void = () => undefined;
  const signalledP = new Promise<void>((r) => (wake = r));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    stack = await startStack(cfg, (l) => say(`hwledger start: ${l}`));
  } catch (e) {
    fail(e);
  }
  banner(stack, cfg.chains);
  const outcome = await Promise.race([signalledP.then(() => undefined), stack.failed]);
  if (outcome) {
    process.stderr.write(`hwledger start: ${outcome.service} ${outcome.message.replace(/\s*\n\s*/g, ' ')}; stopping the stack\n`);
  } else {
    say(`\nhwledger start: ${signalled ?? 'signal'} received, stopping…`);
  }
  await stack.stop();
  say('hwledger start: stopped.');
  process.exit(outcome ? 1 : 0);
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
