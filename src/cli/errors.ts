/** The CLI's failures: one clear line on stderr and a documented exit code (docs/operations.md). */

export const ExitCode = {
  ok: 0,
  /** `locus verify`: the read model or a flow table disagrees with the log. */
  disagree: 1,
  /** Bad arguments or options, or bad configuration in the environment. */
  usage: 2,
  /** The port, chassis, data folder or file does not exist. */
  notFound: 3,
  /** locus (HTTP) or the database cannot be reached, or is not ready. */
  unavailable: 4,
  /** The embedded data folder is in use by a running locus. */
  inUse: 5,
  /** Refused: an export that fails verification, a non-empty import target, an old schema. */
  refused: 6,
  /** The API refused the token (missing, unknown, or without the role). */
  unauthorized: 7,
  /** Anything else: a bug or an unexpected failure. */
  internal: 10,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: ExitCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
