/**
 * GET /v1/verify: the running locus verifies itself — `locus verify` through the API. The log
 * is replayed in memory and compared with the read model and, with `flows=true`, with the flow
 * table of each chassis this process hosts on Open vSwitch (it knows their run dirs). This is
 * how the embedded default is verified while it runs: its data folder is one process's, and
 * its chassis' Open vSwitch stops with it. Operators only: it replays the whole log.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { VerifyReport } from '../../verify/index.js';
import { ProblemError } from '../problem.js';
import { problemsFor } from '../schemas.js';

export interface LiveVerifyOptions {
  readonly flows: boolean;
  readonly allowLag: boolean;
  readonly maxDifferences: number;
}

/** The report, and which chassis' flow tables were compared (and which could not be). */
export interface LiveVerifyReport extends VerifyReport {
  /** Hosted chassis whose flows cannot be compared: they run dry (in-memory bridges). */
  readonly notComparable: readonly string[];
}

export type LiveVerify = (options: LiveVerifyOptions) => Promise<LiveVerifyReport>;

export interface VerifyRoutesOptions {
  /** Absent (an API-only server, as in tests): 503. */
  readonly verify?: LiveVerify;
}

const VerifyQuery = Type.Object(
  {
    flows: Type.Optional(
      Type.Boolean({ description: "also compare the hosted chassis' flow tables", default: false }),
    ),
    allowLag: Type.Optional(
      Type.Boolean({
        description: 'a read model behind the log is not a difference (compare at its checkpoint)',
        default: false,
      }),
    ),
    max: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10_000, default: 50, description: 'differences listed' }),
    ),
  },
  { additionalProperties: false },
);

/** What goes over the wire: positions as decimal strings, no replayed topology. */
export function reportJson(report: LiveVerifyReport) {
  const { topology: _, head, checkpoint, comparedAt, ...readModel } = report.readModel;
  return {
    agree: report.agree,
    readModel: {
      ...readModel,
      head: String(head),
      checkpoint: String(checkpoint),
      comparedAt: String(comparedAt),
    },
    flows: report.flows,
    notComparable: report.notComparable,
  };
}

export const verifyRoutes: FastifyPluginAsyncTypebox<VerifyRoutesOptions> = async (
  app,
  { verify },
) => {
  app.get(
    '/v1/verify',
    {
      config: { access: 'command' },
      schema: {
        tags: ['operations'],
        summary: 'Replay the log and compare it with the read model (and the hosted flow tables)',
        querystring: VerifyQuery,
        response: {
          200: Type.Object(
            {
              agree: Type.Boolean(),
              readModel: Type.Object({}, { additionalProperties: true }),
              flows: Type.Array(Type.Object({}, { additionalProperties: true })),
              notComparable: Type.Array(Type.String()),
            },
            { additionalProperties: true },
          ),
          ...problemsFor(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      if (verify === undefined)
        throw new ProblemError('not-ready', 'this server cannot verify itself (no log replay)');
      const { flows = false, allowLag = false, max = 50 } = request.query;
      return reportJson(await verify({ flows, allowLag, maxDifferences: max }));
    },
  );
};
