/**
 * The process' logger: pino, with JSON lines for log collectors, or — when stdout is a
 * terminal — the same records made readable by pino-pretty (time, level, message, the fields
 * after). LOCUS_LOG_FORMAT=json or pretty overrides the guess.
 *
 * Child loggers name what they are with distinct keys: `component` once (the outermost part
 * that logs: agents, http, apps…), then what narrows it (`chassis`, `stage`), never `component`
 * again — pino writes a child's bindings after its parent's, so a repeated key appears twice in
 * one JSON line, which log ingestion rejects or reads as the last one only.
 */
import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import type pinoPretty from 'pino-pretty';

// pino-pretty (~30 modules, ~3 MiB of RSS) is loaded only when a terminal reads the logs:
// daemons such as `locus agent` write JSON.
const pretty = (options: pinoPretty.PrettyOptions) =>
  (createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty)(options);

export type LogFormat = 'json' | 'pretty';

export interface LoggerSettings {
  readonly level: string;
  readonly name: string;
  /** Default: LOCUS_LOG_FORMAT, else pretty on a terminal, JSON otherwise. */
  readonly format?: LogFormat;
  readonly redact?: LoggerOptions['redact'];
  /** Default stdout. */
  readonly destination?: DestinationStream & { isTTY?: boolean };
}

export function logFormat(
  env: NodeJS.ProcessEnv = process.env,
  isTty = process.stdout.isTTY === true,
): LogFormat {
  const chosen = env.LOCUS_LOG_FORMAT;
  if (chosen === 'json' || chosen === 'pretty') return chosen;
  if (chosen !== undefined && chosen !== '')
    throw new Error(`LOCUS_LOG_FORMAT must be json or pretty, got ${JSON.stringify(chosen)}`);
  return isTty ? 'pretty' : 'json';
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    name: settings.name,
    ...(settings.redact === undefined ? {} : { redact: settings.redact }),
  };
  // stdout as pino's own synchronous writer on fd 1, not process.stdout: a pipe's
  // process.stdout may still hold the last lines when the process exits.
  const destination = settings.destination;
  const isTty = (destination ?? process.stdout).isTTY === true;
  const format = settings.format ?? logFormat(process.env, isTty);
  if (format === 'json')
    return destination === undefined ? pino(options) : pino(options, destination);
  // In process and synchronous: the last lines before an exit (a stop, a crash) are not lost.
  return pino(
    options,
    pretty({
      sync: true,
      destination: destination ?? 1,
      colorize: process.env.NO_COLOR === undefined && isTty,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
      singleLine: true,
    }),
  );
}
