/**
 * The hwledger CLI. Each command lives in commands/<name>.ts and exports
 * `register(program)`. Errors with a stable `code` become one-line messages;
 * exit codes: 0 ok, 1 verification failure or bad input, 2 usage/config error.
 */
import { Command, CommanderError } from 'commander';
import { isChainError } from '@hwledger/chain';
import { isHwlError } from '@hwledger/core';
import { COMMANDS } from './commands/index.js';

import { ExitError } from './exit-error.js';

export { ExitError };

export function buildProgram(): Command {
  const program = new Command('hwledger')
    .description('Tamper-evident ledger of GPU-seconds, tokens and dollars per tenant and request')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/**
 * A reader that closed the pipe (`hwledger decode | head`) makes writes to
 * stdout fail with EPIPE: end quietly with 141 (128 + SIGPIPE), as a program
 * killed by SIGPIPE would (Node ignores the signal). Before, it printed
 * "hwledger: write EPIPE" (twice) and exited 2. Not 0: what was not read may
 * have been a failure line (`verify … | true` must not pass under pipefail).
 */
function endQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
}

export async function main(argv: string[]): Promise<void> {
  endQuietlyOnClosedStdout();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof ExitError) {
      if (e.message) process.stderr.write(`hwledger: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    if (isHwlError(e)) {
      process.stderr.write(`hwledger: ${e.code}: ${e.message}\n`);
      process.exitCode = e.code === 'CONFIG' || e.code === 'NATS_UNREACHABLE' || e.code === 'PG_UNREACHABLE' ? 2 : 1;
      return;
    }
    if (isChainError(e)) {
      process.stderr.write(`hwledger: ${e.code}: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}
