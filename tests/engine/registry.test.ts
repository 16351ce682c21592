import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefinitionError, WorkflowRegistry } from '../../src/engine/registry.js';
import type { LlmStepDefinition } from '../../src/domain/types.js';
import { SEED_WORKFLOWS_DIR } from '../support/engine-harness.js';
import { removeTempDirs, tempDir } from '../support/temp-dir.js';

afterAll(removeTempDirs);

const header = `id: wf
name: Workflow
description: test
version: 1
`;

function problemsOf(yaml: string, file = 'seeds/workflows/x.yaml'): string[] {
  try {
    WorkflowRegistry.fromSources({ [file]: yaml });
  } catch (err) {
    if (err instanceof DefinitionError) return err.message.split('\n');
    throw err;
  }
  throw new Error('definition was accepted');
}

describe('the workflow registry', () => {
  it('loads the seed workflows with defaults filled and stable hashes', async () => {
    const registry = await WorkflowRegistry.load(SEED_WORKFLOWS_DIR);
    expect(registry.list().map((w) => w.id)).toEqual(['bug-triage', 'project-brief', 'quick-summary']);

    const summary = registry.get('quick-summary').definition;
    expect(summary.steps).toHaveLength(1);
    expect(summary.steps[0]).toMatchObject({
      id: 'summarize',
      type: 'llm',
      requires_acceptance: false,
      on_reject: 'revise',
      max_revisions: 3,
      may_request_clarification: false,
      max_attempts: 3,
    });
    expect(summary.input_schema).toMatchObject({
      required: ['text'],
      properties: { text: { type: 'string', minLength: 1 } },
    });

    const brief = registry.get('project-brief').definition;
    expect(brief.input_schema).toMatchObject({
      required: ['idea'],
      properties: { idea: { type: 'string', minLength: 1 } },
    });
    expect(brief.steps.map((s) => [s.id, s.type])).toEqual([
      ['clarify_goals', 'clarification'],
      ['draft_brief', 'llm'],
      ['task_breakdown', 'llm'],
    ]);
    expect(brief.steps[0]).toMatchObject({
      questions: [
        { id: 'audience', required: true },
        { id: 'constraints', required: false },
      ],
    });
    const draft = brief.steps[1] as LlmStepDefinition;
    expect(draft).toMatchObject({ requires_acceptance: true, on_reject: 'revise', max_revisions: 2 });
    expect(draft.prompt).toContain('feedback');
    expect(draft.prompt).toContain('previous_output');
    expect(draft.prompt).toContain('steps.clarify_goals.answers');

    const triage = registry.get('bug-triage').definition.steps[0] as LlmStepDefinition;
    expect(triage.may_request_clarification).toBe(true);

    const again = await WorkflowRegistry.load(SEED_WORKFLOWS_DIR);
    expect(again.get('project-brief').hash).toBe(registry.get('project-brief').hash);
    expect(registry.get('project-brief').hash).toMatch(/^[0-9a-f]{64}$/);
    expect(registry.get('project-brief').hash).not.toBe(registry.get('quick-summary').hash);
  });

  it('fills question.required with true and keeps explicit values', () => {
    const registry = WorkflowRegistry.fromSources({
      'q.yaml': `${header}steps:
  - id: ask
    name: Ask
    type: clarification
    questions: [{ id: a, text: A? }, { id: b, text: B?, required: false }]
`,
    });
    expect(registry.get('wf').definition.steps[0]).toMatchObject({
      questions: [
        { id: 'a', required: true },
        { id: 'b', required: false },
      ],
    });
  });

  it.each([
    [
      'an unknown variable',
      `input_schema: { type: object, properties: { idea: { type: string } } }
steps:
  - { id: s, name: S, type: llm, prompt: "Idea: {{ contxt.idea }}", output_schema: { type: object } }`,
      'seeds/workflows/x.yaml: /steps/0/prompt: unknown variable "contxt.idea"',
    ],
    [
      'a reference to a later step',
      `steps:
  - { id: first, name: F, type: llm, prompt: "{{ steps.second.output.x }}", output_schema: { type: object } }
  - { id: second, name: S, type: llm, prompt: "hi", output_schema: { type: object } }`,
      'seeds/workflows/x.yaml: /steps/0/prompt: "steps.second.output.x" refers to step "second", which has not run yet at this point',
    ],
    [
      'a reference to the step itself',
      `steps:
  - { id: first, name: F, type: llm, prompt: "{{ steps.first.output }}", output_schema: { type: object } }`,
      'refers to step "first", which has not run yet',
    ],
    [
      'a reference to an unknown step',
      `steps:
  - { id: first, name: F, type: llm, prompt: "hi", output_schema: { type: object } }
  - { id: second, name: S, type: llm, system: "{{ steps.frist.output }}", prompt: "hi", output_schema: { type: object } }`,
      'seeds/workflows/x.yaml: /steps/1/system: unknown variable "steps.frist.output": no step "frist"',
    ],
    [
      'an unknown question',
      `steps:
  - { id: ask, name: A, type: clarification, questions: [{ id: audience, text: Who? }] }
  - { id: use, name: U, type: llm, prompt: "{{ steps.ask.answers.audiense }}", output_schema: { type: object } }`,
      '/steps/1/prompt: unknown variable "steps.ask.answers.audiense": step "ask" has no question "audiense"',
    ],
    [
      'a field the earlier output_schema does not declare',
      `steps:
  - { id: a, name: A, type: llm, prompt: "hi", output_schema: { type: object, properties: { title: { type: string } } } }
  - { id: b, name: B, type: llm, prompt: "{{ steps.a.output.titel }}", output_schema: { type: object } }`,
      `/steps/1/prompt: unknown variable "steps.a.output.titel": the output_schema of "a" declares no "titel"`,
    ],
    [
      'a context field input_schema does not declare',
      `input_schema: { type: object, properties: { idea: { type: string } } }
steps:
  - { id: s, name: S, type: llm, prompt: "{{ context.iddea }}", output_schema: { type: object } }`,
      '/steps/0/prompt: unknown variable "context.iddea": "iddea" is not declared in input_schema',
    ],
    [
      'a template syntax error',
      `steps:
  - { id: s, name: S, type: llm, prompt: "{% if %}", output_schema: { type: object } }`,
      '/steps/0/prompt: template syntax error',
    ],
    [
      'duplicate step ids',
      `steps:
  - { id: s, name: S, type: llm, prompt: "hi", output_schema: { type: object } }
  - { id: s, name: S2, type: llm, prompt: "hi", output_schema: { type: object } }`,
      'seeds/workflows/x.yaml: /steps/1/id: duplicate step id "s" (also /steps/0/id)',
    ],
    [
      'a step id that is not a slug',
      `steps:
  - { id: "Bad Id", name: S, type: llm, prompt: "hi", output_schema: { type: object } }`,
      '/steps/0/id: must match pattern',
    ],
    [
      'an output_schema that does not compile',
      `steps:
  - { id: s, name: S, type: llm, prompt: "hi", output_schema: { type: strin } }`,
      '/steps/0/output_schema: invalid JSON Schema',
    ],
    [
      'an unknown step type',
      `steps:
  - { id: s, name: S, type: shell, prompt: "hi" }`,
      '/steps/0/type: must be equal to one of the allowed values',
    ],
    [
      'a missing prompt',
      `steps:
  - { id: s, name: S, type: llm, output_schema: { type: object } }`,
      '/steps/0/prompt: is required',
    ],
    [
      'an unknown field',
      `steps:
  - { id: s, name: S, type: llm, prompt: hi, output_schema: { type: object }, max_atempts: 2 }`,
      '/steps/0/max_atempts: is not allowed',
    ],
    ['no steps', `steps: []`, '/steps: must NOT have fewer than 1 items'],
  ])('names file and path for %s', (_, body, expected) => {
    const problems = problemsOf(`${header}${body}\n`);
    expect(problems.some((p) => p.includes(expected))).toBe(true);
    for (const p of problems) expect(p.startsWith('seeds/workflows/x.yaml: /')).toBe(true);
  });

  it('rejects more than 50 steps and a workflow id that is not a slug', () => {
    const steps = Array.from(
      { length: 51 },
      (_, i) => `  - { id: s${i}, name: S, type: llm, prompt: hi, output_schema: { type: object } }`,
    );
    expect(problemsOf(`${header}steps:\n${steps.join('\n')}\n`)).toContain(
      'seeds/workflows/x.yaml: /steps: must NOT have more than 50 items',
    );
    expect(
      problemsOf(
        header.replace('id: wf', 'id: My_Workflow') +
          'steps: [{ id: s, name: S, type: llm, prompt: hi, output_schema: { type: object } }]\n',
      ),
    ).toEqual([expect.stringContaining('seeds/workflows/x.yaml: /id: must match pattern')]);
  });

  it('accepts loop variables, filters, tests and guarded optional values', () => {
    expect(() =>
      WorkflowRegistry.fromSources({
        'ok.yaml': `${header}input_schema: { type: object, properties: { items: { type: array } } }
steps:
  - id: a
    name: A
    type: llm
    prompt: |
      {% for item in context.items %}{{ loop.index }}. {{ item | upper }}{% endfor %}
      {% set n = context.items | length %}{{ n }}
      {% if feedback is defined %}{{ feedback }}{{ previous_output | dump }}{% endif %}
      {{ project_id }}
    output_schema: { type: object }
`,
      }),
    ).not.toThrow();
  });

  it('when a directory holds a broken file, then loading reports it by file name and path, with YAML errors located', async () => {
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'good.yaml'),
      `${header.replace('wf', 'good')}steps: [{ id: s, name: S, type: llm, prompt: hi, output_schema: { type: object } }]\n`,
    );
    await writeFile(join(dir, 'broken.yaml'), 'id: [unclosed\n');
    await writeFile(
      join(dir, 'dup.yml'),
      `${header.replace('wf', 'good')}steps: [{ id: s, name: S, type: llm, prompt: hi, output_schema: { type: object } }]\n`,
    );
    await expect(WorkflowRegistry.load(dir)).rejects.toThrow(
      new RegExp(`${join(dir, 'broken.yaml')}: /: YAML syntax error at line`),
    );
    await writeFile(
      join(dir, 'broken.yaml'),
      `${header.replace('wf', 'other')}steps: [{ id: s, name: S, type: llm, prompt: hi, output_schema: { type: object } }]\n`,
    );
    await expect(WorkflowRegistry.load(dir)).rejects.toThrow(
      `${join(dir, 'good.yaml')}: /id: duplicate workflow id "good"`,
    );
  });
});
