/**
 * Routes for chassis agents: the chassis' own document (what `locus agent` sets its bridges up
 * from) and the OVS interfaces it observes. An agent token reaches only its own chassis' routes
 * (checked by the auth hook against `:id` before anything is read or appended); operators may
 * use them too, e.g. to clear interfaces of a dead chassis.
 *
 * The reads fold the chassis stream from the log itself (not the read model): an agent starting
 * diffs OVS against exactly what the log holds, so a restart re-reports only real differences.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { OvsPortBatchBody, OvsPortBatchParams, OvsPortBatchResult } from '../../api/ovsports.js';
import { type ChassisStream, chassisFold } from '../../commands/chassis.js';
import type { CommandHandler } from '../../commands/index.js';
import { foldStream } from '../../commands/lifecycle.js';
import { decodeRecorded } from '../../commands/log-reads.js';
import { OvsPort } from '../../events/index.js';
import { chassisStream } from '../../events/streams.js';
import { StreamDeletedError, StreamNotFoundError } from '../../store/errors.js';
import type { EventStore } from '../../store/event-store.js';
import type { HttpConfig } from '../config.js';
import { throwIfClientGone, untilClientGone, weighCommand } from '../overload.js';
import { ProblemError } from '../problem.js';
import {
  ChassisResource,
  IdParams,
  OvsPortBody,
  OvsPortDeleted,
  OvsPortParams,
  OvsPortResource,
  problemsFor,
} from '../schemas.js';
import { answer, commandConfig, issuerOf, POSITION_HEADER } from './shared.js';

export interface AgentRoutesOptions {
  readonly commands: CommandHandler;
  readonly store: EventStore;
  readonly config: HttpConfig;
}

const OvsPortList = Type.Object({ items: Type.Array(OvsPort) });

/** The chassis stream folded, and the log position of its last event (0 when it has none). */
async function readChassis(
  store: EventStore,
  id: string,
): Promise<{ state: ChassisStream; position: bigint }> {
  try {
    const recorded = await store.readStream(chassisStream(id));
    return {
      state: foldStream(chassisFold, recorded.map(decodeRecorded)),
      position: recorded.at(-1)?.position ?? 0n,
    };
  } catch (error) {
    if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError)
      return { state: chassisFold.initial, position: 0n };
    throw error;
  }
}

const unknownChassis = (id: string) =>
  new ProblemError('not-found', `no chassis ${id} is registered`, {
    errors: [{ field: 'id', in: 'path', reason: `no chassis ${id} is registered` }],
  });

export const agentRoutes: FastifyPluginAsyncTypebox<AgentRoutesOptions> = async (
  app,
  { commands, store, config },
) => {
  const routeConfig = commandConfig(config, 'agent');
  const stage = app.locus.metrics.stage;
  const errors = problemsFor(400, 401, 403, 404, 429, 503);
  const readErrors = problemsFor(400, 401, 403, 404, 503);

  app.get(
    '/v1/chassis/:id',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: 'The chassis document (tunnel IP and types, bridge mappings), for its agent',
        description:
          "`locus agent` sets its bridges up from it. Readable with the chassis' agent token " +
          'or an operator token. 404 until the chassis is registered.',
        params: IdParams,
        response: { 200: ChassisResource, ...readErrors },
      },
    },
    async (request) => {
      const { state, position } = await readChassis(store, request.params.id);
      if (state.chassis.status !== 'live') throw unknownChassis(request.params.id);
      return { ...state.chassis.document, position: String(position) };
    },
  );

  app.get(
    '/v1/chassis/:id/ovsports',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: 'The OVS interfaces the log holds for the chassis',
        description:
          'What an agent diffs its Open vSwitch against when it starts: after a restart it ' +
          'reports only the differences (interfaces added, changed or gone meanwhile).',
        params: IdParams,
        response: { 200: OvsPortList, ...readErrors },
      },
    },
    async (request) => {
      const { state } = await readChassis(store, request.params.id);
      if (state.chassis.status !== 'live') throw unknownChassis(request.params.id);
      return { items: [...state.ovsPorts.values()] };
    },
  );

  app.post(
    '/v1/chassis/:id/ovsports',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: 'Report an OVS interface observed on the chassis (upsert)',
        description:
          'New name: 201 (OvsPortCreated). Known name with other values: 200 (OvsPortUpdated). ' +
          'Same values: 200, nothing appended. Agents re-report freely after a restart.',
        params: IdParams,
        body: OvsPortBody,
        response: { 200: OvsPortResource, 201: OvsPortResource, ...errors },
      },
    },
    async (request, reply) => {
      const { type = '', ...observed } = request.body;
      const ovsPort = { chassis: request.params.id, ...observed, type };
      throwIfClientGone(request);
      const outcome = await commands.reportOvsPort(
        ovsPort,
        issuerOf(request),
        untilClientGone(request),
      );
      if (outcome.appended > 0) stage('report_appended', reply.elapsedTime / 1000);
      return answer(reply, outcome);
    },
  );

  app.post(
    '/v1/chassis/:id/ovsports/batch',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: 'Report many OVS interfaces observed and gone at once (one append)',
        description:
          'Each `observed` item is the POST above, each `gone` name the DELETE below (an ' +
          'interface the log does not hold is already gone: nothing, not 404), all decided ' +
          'against the chassis stream as one command and appended in one transaction. A name ' +
          'twice in the batch: 400 naming each item, nothing appended. 200 with the counts.',
        params: OvsPortBatchParams,
        body: OvsPortBatchBody,
        response: { 200: OvsPortBatchResult, ...errors },
      },
    },
    async (request, reply) => {
      const chassis = request.params.id;
      const observed = (request.body.observed ?? []).map(({ type = '', ...ovsPort }) => ({
        chassis,
        ...ovsPort,
        type,
      }));
      const gone = request.body.gone ?? [];
      // The overload gate's queue counts this request as the interfaces it carries.
      weighCommand(request, observed.length + gone.length);
      throwIfClientGone(request);
      const outcome = await commands.executeInRound(
        'reportOvsPorts',
        { chassis, observed, gone },
        issuerOf(request),
        untilClientGone(request),
      );
      if (outcome.appended > 0) stage('report_appended', reply.elapsedTime / 1000);
      const position = String(outcome.position);
      reply.header(POSITION_HEADER, position);
      return { ...outcome.result, position };
    },
  );

  app.delete(
    '/v1/chassis/:id/ovsports/:name',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: 'Report that an OVS interface is gone from the chassis',
        params: OvsPortParams,
        response: { 200: OvsPortDeleted, ...errors },
      },
    },
    async (request, reply) => {
      throwIfClientGone(request);
      return answer(
        reply,
        await commands.execute(
          'removeOvsPort',
          { chassis: request.params.id, name: request.params.name },
          issuerOf(request),
          untilClientGone(request),
        ),
      );
    },
  );
};
