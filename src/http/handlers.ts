/**
 * One thin handler per operationId. Validation lives in openapi.yaml (the validator runs before
 * these); domain errors are thrown as DomainError and mapped by the error middleware.
 */
import type { WorkflowEngine } from '../engine/api.js';
import type { OperationHandlers } from './operations.js';
import { toExecutionResponse, toWorkflowDefinition, toWorkflowSummary } from './presenters.js';

export interface OperationsDeps {
  engine: WorkflowEngine;
  openapiYaml: string;
  asyncapiYaml: string;
  docsHtml: () => string;
  metricsText: () => Promise<{ contentType: string; body: string }>;
}

export function createHandlers({
  engine,
  openapiYaml,
  asyncapiYaml,
  docsHtml,
  metricsText,
}: OperationsDeps): OperationHandlers {
  return {
    listWorkflows: async () => ({ status: 200, body: { items: engine.listWorkflows().map(toWorkflowSummary) } }),

    getWorkflow: async ({ path }) => ({
      status: 200,
      body: toWorkflowDefinition(engine.getWorkflow(path.workflow_id)),
    }),

    startWorkflow: async ({ path, body, actor }) => {
      const execution = await engine.start({
        workflowId: path.workflow_id,
        projectId: body.project_id,
        initialContext: body.initial_context ?? {},
        actor,
      });
      return {
        status: 202,
        body: toExecutionResponse(execution),
        headers: { Location: `/api/v1/executions/${execution.execution_id}` },
      };
    },

    listExecutions: async ({ query, actor }) => {
      const page = await engine.list({
        status: query.status,
        workflowId: query.workflow_id,
        projectId: query.project_id,
        createdBy: actor.admin ? undefined : actor.id,
        limit: query.limit ?? 20,
        cursor: query.cursor,
      });
      return { status: 200, body: { items: page.items.map(toExecutionResponse), next_cursor: page.nextCursor } };
    },

    getExecution: async ({ path, actor }) => ({
      status: 200,
      body: toExecutionResponse(await engine.get(path.execution_id, actor)),
    }),

    listExecutionEvents: async ({ path, query, actor }) => ({
      status: 200,
      body: { items: await engine.events(path.execution_id, actor, query.after_seq ?? 0, query.limit ?? 100) },
    }),

    cancelExecution: async ({ path, actor }) => ({
      status: 200,
      body: toExecutionResponse(await engine.cancel(path.execution_id, actor)),
    }),

    resumeExecution: async ({ path, actor }) => ({
      status: 200,
      body: toExecutionResponse(await engine.resume(path.execution_id, actor)),
    }),

    submitAcceptance: async ({ path, body, actor }) => ({
      status: 200,
      body: toExecutionResponse(
        await engine.submitAcceptance(path.execution_id, actor, body.accepted, body.comment ?? null),
      ),
    }),

    submitClarification: async ({ path, body, actor }) => ({
      status: 200,
      body: toExecutionResponse(await engine.submitClarification(path.execution_id, actor, body.answers)),
    }),

    getHealth: async () => ({ status: 200, body: { status: 'ok' } }),

    getReadiness: async () => {
      const h = await engine.health();
      const ready = h.storeWritable && h.definitionsLoaded > 0 && !h.llmBreakerOpen;
      const body = {
        status: ready ? ('ready' as const) : ('not_ready' as const),
        checks: {
          store_writable: h.storeWritable,
          definitions_loaded: h.definitionsLoaded,
          llm_breaker: h.llmBreakerOpen ? ('open' as const) : ('closed' as const),
        },
      };
      if (ready) return { status: 200, body };
      const headers: Record<string, string> = {};
      if (h.llmRetryAfterSeconds !== null) headers['Retry-After'] = String(h.llmRetryAfterSeconds);
      return { status: 503, body, headers };
    },

    getMetrics: async () => {
      const m = await metricsText();
      return { status: 200, body: m.body, contentType: m.contentType };
    },

    getOpenApiDocument: async () => ({ status: 200, body: openapiYaml, contentType: 'application/yaml' }),
    getAsyncApiDocument: async () => ({ status: 200, body: asyncapiYaml, contentType: 'application/yaml' }),
    getApiReference: async () => ({ status: 200, body: docsHtml(), contentType: 'text/html; charset=utf-8' }),
  };
}
