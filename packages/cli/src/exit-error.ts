/**
 * An error that ends the CLI with a given exit code and a one-line message
 * (main.ts: 0 ok, 1 verification failure or bad input, 2 usage/config
 * error). Its own module, so that commands can import it without importing
 * main.ts, which imports every command (a cycle that leaves classes
 * undefined when a command module is loaded first, as tests do).
 */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
