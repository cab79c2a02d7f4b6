/** The CLI's exit codes and the two errors that carry them: one line for the operator, never a stack trace. */
export const EXIT = { ok: 0, failed: 1, usage: 2, attention: 3 } as const;

/** The command line is wrong: exit 2, with a pointer to --help. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command failed or was refused: exit 1 (unless told otherwise). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}
