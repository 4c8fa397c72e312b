/** What every command gets: its streams, style, configuration and a client for the API. */
import { type Config, ConfigError, loadConfig } from '../config.js';
import type { Fetch } from '../lib/tls-fetch.js';
import { CliError, ExitCode } from './errors.js';
import type { LocusClient } from './http.js';
import type { ProgressStream } from './progress.js';
import { type Style, styleFor } from './style.js';

export interface OutputStream extends ProgressStream {
  write(text: string): boolean;
}

export interface Io {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
}

/** Options every command accepts (see program.ts). */
export interface GlobalOptions {
  readonly url?: string;
  readonly token?: string;
  readonly store?: string;
  readonly readModel?: string;
  readonly json?: boolean;
  readonly color?: boolean;
  readonly quiet?: boolean;
  /** PEM files: the CA to verify the server against, a client certificate and its key. */
  readonly ca?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

export class Context {
  readonly style: Style;
  readonly errStyle: Style;
  readonly config: Config;

  constructor(
    readonly io: Io,
    readonly options: GlobalOptions,
  ) {
    this.style = styleFor(io.stdout, io.env, options.color);
    this.errStyle = styleFor(io.stderr, io.env, options.color);
    let config: Config;
    try {
      config = loadConfig(io.env);
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(ExitCode.usage, error.message);
      throw error;
    }
    const storeUrl = options.store ?? config.storeUrl;
    this.config = {
      ...config,
      storeUrl,
      // The read model follows an overridden store unless named itself.
      readModelUrl:
        options.readModel ??
        (options.store !== undefined && !io.env.LOCUS_READ_MODEL_URL
          ? storeUrl
          : config.readModelUrl),
    };
  }

  get json(): boolean {
    return this.options.json === true;
  }

  get baseUrl(): string {
    return this.options.url ?? `http://${this.config.httpHost}:${this.config.httpPort}`;
  }

  /** A client for the API (loaded on demand: the admin commands never need it). */
  async client(
    options: { role?: 'reader' | 'operator'; timeoutMs?: number } = {},
  ): Promise<LocusClient> {
    const { LocusClient, resolveToken } = await import('./http.js');
    const token = resolveToken(
      {
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
        env: this.io.env,
        storeUrl: this.config.storeUrl,
      },
      options.role,
    );
    return new LocusClient(this.baseUrl, token, await this.fetch(), options.timeoutMs);
  }

  /** How to reach the API: verifying the server against --ca, presenting --client-cert. */
  async fetch(): Promise<Fetch> {
    const { ClientTlsError, readClientTls, tlsFetch } = await import('../lib/tls-fetch.js');
    try {
      return tlsFetch(
        readClientTls({
          caFile: this.options.ca ?? this.io.env.LOCUS_CA,
          certFile: this.options.clientCert ?? this.io.env.LOCUS_CLIENT_CERT,
          keyFile: this.options.clientKey ?? this.io.env.LOCUS_CLIENT_KEY,
        }),
      );
    } catch (error) {
      if (error instanceof ClientTlsError) throw new CliError(ExitCode.usage, error.message);
      throw error;
    }
  }

  /** A line (or lines) on stdout. */
  print(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(
      `${JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
    );
  }

  /** A note on stderr (suppressed by --quiet). */
  note(text: string): void {
    if (!this.options.quiet) this.io.stderr.write(`${text}\n`);
  }
}
