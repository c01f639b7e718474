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

export async function main(argv: string[]): Promise<void> {
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
