/** Drives executions over the HTTP API, as a client would (WebSocket and API tests). */
import type { AnyExecutionEvent } from '../../src/domain/types.js';
import type { ExecutionBody, TestService } from './service-harness.js';
import { waitFor } from './wait.js';

export type Headers = Record<string, string>;

export async function startExecution(
  svc: TestService,
  workflowId: string,
  initialContext: Record<string, unknown>,
  headers: Headers = {},
): Promise<string> {
  const res = await svc
    .http()
    .post(`/api/v1/workflows/${workflowId}/start`)
    .set(headers)
    .send({ project_id: 'proj-ws', initial_context: initialContext })
    .expect(202);
  return (res.body as ExecutionBody).execution_id;
}

/** A project-brief execution parked at its clarification gate (seq 1..3 stored). */
export async function briefWaitingForAnswers(svc: TestService, headers: Headers = {}): Promise<string> {
  const id = await startExecution(
    svc,
    'project-brief',
    { idea: 'An app that reminds people to water plants' },
    headers,
  );
  await svc.waitForStatus(id, 'waiting_clarification', headers);
  return id;
}

/** A quick-summary execution whose only model call never answers: running until cancelled. */
export async function summaryStuckRunning(svc: TestService): Promise<string> {
  svc.fake.script('summarize', [{ kind: 'hang' }]);
  const id = await startExecution(svc, 'quick-summary', { text: 'Plants need water.' });
  // In flight means step_started is stored: nothing more happens until the test acts.
  await waitFor(
    () => svc.fake.calls.some((c) => c.executionId === id && c.outcome === 'in_flight'),
    'the model call to hang',
  );
  return id;
}

export async function answer(svc: TestService, id: string, headers: Headers = {}): Promise<ExecutionBody> {
  const res = await svc
    .http()
    .post(`/api/v1/executions/${id}/clarification`)
    .set(headers)
    .send({ answers: { audience: 'Busy people with houseplants' } })
    .expect(200);
  return res.body as ExecutionBody;
}

export async function decide(
  svc: TestService,
  id: string,
  accepted: boolean,
  comment?: string,
): Promise<ExecutionBody> {
  const res = await svc
    .http()
    .post(`/api/v1/executions/${id}/acceptance`)
    .send(comment === undefined ? { accepted } : { accepted, comment })
    .expect(200);
  return res.body as ExecutionBody;
}

export async function cancel(svc: TestService, id: string): Promise<ExecutionBody> {
  const res = await svc.http().post(`/api/v1/executions/${id}/cancel`).expect(200);
  return res.body as ExecutionBody;
}

export async function getExecution(svc: TestService, id: string, headers: Headers = {}): Promise<ExecutionBody> {
  const res = await svc.http().get(`/api/v1/executions/${id}`).set(headers).expect(200);
  return res.body as ExecutionBody;
}

/** Every stored event of the execution, over GET /events (paged). */
export async function storedEvents(svc: TestService, id: string): Promise<AnyExecutionEvent[]> {
  const all: AnyExecutionEvent[] = [];
  for (;;) {
    const after = all.at(-1)?.seq ?? 0;
    const res = await svc
      .http()
      .get(`/api/v1/executions/${id}/events`)
      .query({ after_seq: after, limit: 1000 })
      .expect(200);
    const page = (res.body as { items: AnyExecutionEvent[] }).items;
    all.push(...page);
    if (page.length < 1000) return all;
  }
}
