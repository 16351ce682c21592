/**
 * Prompt templates: nunjucks in strict mode (`throwOnUndefined`, no autoescape). References are
 * checked at load time by walking the template's AST, so a typo or a reference to a step that
 * has not run yet stops start-up; what can only be known at run time (a missing optional
 * answer, an output field the schema does not declare) fails the step when rendered.
 */
import nunjucks from 'nunjucks';
import type { JsonSchema, StepDefinition } from '../domain/types.js';

interface NjNode {
  typename: string;
  fields: string[];
  children?: NjNode[];
  value?: unknown;
  [field: string]: unknown;
}

const parser = (nunjucks as unknown as { parser: { parse(src: string): NjNode } }).parser;

export function createTemplateEnvironment(): nunjucks.Environment {
  return new nunjucks.Environment(null, { throwOnUndefined: true, autoescape: false });
}

/** Names nunjucks provides itself. */
const BUILTIN_NAMES = new Set(['range', 'cycler', 'joiner', 'loop', 'caller', 'super']);
/** The variables a prompt may use (PRODUCT §2). */
export const TEMPLATE_ROOTS = ['project_id', 'context', 'steps', 'feedback', 'previous_output'] as const;

export interface TemplateCheckScope {
  /** The steps before the one whose template is checked. */
  earlierSteps: readonly StepDefinition[];
  /** Every step id of the workflow (to tell "later" from "unknown"). */
  allStepIds: readonly string[];
  inputSchema: JsonSchema | null;
}

function isNode(v: unknown): v is NjNode {
  return typeof v === 'object' && v !== null && typeof (v as NjNode).typename === 'string';
}

function childrenOf(node: NjNode): unknown[] {
  if (Array.isArray(node.children)) return node.children;
  return node.fields.map((f) => node[f]);
}

/** Variables the template binds itself (loop variables, set, macros). */
function boundNames(root: NjNode): Set<string> {
  const names = new Set<string>();
  const addSymbols = (n: unknown): void => {
    if (!isNode(n)) return;
    if (n.typename === 'Symbol') names.add(String(n.value));
    else if (n.typename === 'Pair') addSymbols(n.key);
    else for (const c of childrenOf(n)) addSymbols(c);
  };
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) {
      n.forEach(visit);
      return;
    }
    if (!isNode(n)) return;
    switch (n.typename) {
      case 'For':
      case 'AsyncEach':
      case 'AsyncAll':
        addSymbols(n.name);
        break;
      case 'Set':
        (n.targets as unknown[]).forEach(addSymbols);
        break;
      case 'Macro':
        addSymbols(n.name);
        addSymbols(n.args);
        break;
      case 'FromImport':
        addSymbols(n.names);
        break;
    }
    childrenOf(n).forEach(visit);
  };
  visit(root);
  return names;
}

/** A variable reference: its root name and the literal keys after it (null for a computed key). */
interface Reference {
  root: string;
  keys: (string | null)[];
}

function collectReferences(root: NjNode, problems: string[]): Reference[] {
  const refs: Reference[] = [];
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) {
      n.forEach(visit);
      return;
    }
    if (!isNode(n)) return;
    switch (n.typename) {
      case 'Symbol':
        refs.push({ root: String(n.value), keys: [] });
        return;
      case 'LookupVal': {
        const keys: (string | null)[] = [];
        let target: unknown = n;
        while (isNode(target) && target.typename === 'LookupVal') {
          const val = target.val;
          if (isNode(val) && val.typename === 'Literal') keys.unshift(String(val.value));
          else {
            keys.unshift(null);
            visit(val);
          }
          target = target.target;
        }
        if (isNode(target) && target.typename === 'Symbol') refs.push({ root: String(target.value), keys });
        else visit(target);
        return;
      }
      case 'Filter':
      case 'FilterAsync':
        visit(n.args);
        return;
      case 'Is': {
        // `x is defined`, `x is divisibleby(3)`: the right side names a test, not a variable.
        visit(n.left);
        const test = n.right;
        if (isNode(test) && test.typename === 'FunCall') visit(test.args);
        else if (!(isNode(test) && test.typename === 'Symbol')) visit(test);
        return;
      }
      case 'FunCall':
        if (!(isNode(n.name) && n.name.typename === 'Symbol')) visit(n.name);
        else refs.push({ root: String(n.name.value), keys: [] });
        visit(n.args);
        return;
      case 'Pair':
        if (!(isNode(n.key) && n.key.typename === 'Symbol')) visit(n.key);
        visit(n.value);
        return;
      case 'For':
      case 'AsyncEach':
      case 'AsyncAll':
        visit(n.arr);
        visit(n.body);
        visit(n.else_);
        return;
      case 'Set':
        visit(n.value);
        visit(n.body);
        return;
      case 'Macro':
        visit(n.body);
        return;
      case 'Include':
      case 'Import':
      case 'FromImport':
      case 'Extends':
        problems.push('include, import and extends are not supported in prompts');
        return;
      default:
        childrenOf(n).forEach(visit);
    }
  };
  visit(root);
  return refs;
}

function display(ref: Reference): string {
  return [ref.root, ...ref.keys.map((k) => k ?? '[…]')].join('.');
}

function declaredProperties(schema: JsonSchema | null | undefined): Set<string> | null {
  const props = schema?.properties;
  return props && typeof props === 'object' ? new Set(Object.keys(props)) : null;
}

/**
 * Checks a template's syntax and references against what exists before the step runs.
 * Returns problem messages (empty when fine).
 */
export function checkTemplate(source: string, scope: TemplateCheckScope): string[] {
  let ast: NjNode;
  try {
    ast = parser.parse(source);
  } catch (err) {
    return [`template syntax error: ${oneLine((err as Error).message)}`];
  }
  const problems: string[] = [];
  const bound = boundNames(ast);
  const allowed = new Set<string>(TEMPLATE_ROOTS);
  const earlier = new Map(scope.earlierSteps.map((s) => [s.id, s]));
  const seen = new Set<string>();
  for (const ref of collectReferences(ast, problems)) {
    if (bound.has(ref.root) || BUILTIN_NAMES.has(ref.root)) continue;
    const name = display(ref);
    const report = (message: string): void => {
      if (!seen.has(message)) problems.push(message);
      seen.add(message);
    };
    if (!allowed.has(ref.root)) {
      report(`unknown variable "${name}"`);
      continue;
    }
    const [first, second, third] = ref.keys;
    if (ref.root === 'context' && typeof first === 'string') {
      const declared = declaredProperties(scope.inputSchema);
      if (declared && !declared.has(first))
        report(`unknown variable "${name}": "${first}" is not declared in input_schema`);
    }
    if (ref.root !== 'steps' || typeof first !== 'string') continue;
    const step = earlier.get(first);
    if (!step) {
      report(
        scope.allStepIds.includes(first)
          ? `"${name}" refers to step "${first}", which has not run yet at this point`
          : `unknown variable "${name}": no step "${first}"`,
      );
      continue;
    }
    if (second === undefined || second === null) continue;
    if (second !== 'output' && second !== 'answers') {
      report(`unknown variable "${name}": a step has only "output" and "answers"`);
      continue;
    }
    if (typeof third !== 'string') continue;
    if (step.type === 'clarification') {
      if (!step.questions.some((q) => q.id === third)) {
        report(`unknown variable "${name}": step "${first}" has no question "${third}"`);
      }
    } else if (second === 'output') {
      const declared = declaredProperties(step.output_schema);
      if (declared && !declared.has(third)) {
        report(`unknown variable "${name}": the output_schema of "${first}" declares no "${third}"`);
      }
    }
  }
  return problems;
}

function oneLine(message: string): string {
  return message
    .replace(/\s+/g, ' ')
    .replace(/^\(unknown path\)\s*/, '')
    .trim();
}

/** Renders templates with a compile cache; errors name the offending line. */
export class TemplateRenderer {
  private readonly env = createTemplateEnvironment();
  private readonly compiled = new Map<string, nunjucks.Template>();

  render(source: string, vars: Record<string, unknown>): string {
    let template = this.compiled.get(source);
    if (!template) {
      template = new nunjucks.Template(source, this.env, undefined, true);
      this.compiled.set(source, template);
    }
    try {
      return template.render(vars);
    } catch (err) {
      throw new Error(describeRenderError(source, err as Error));
    }
  }
}

function describeRenderError(source: string, err: Error): string {
  const message = oneLine(err.message);
  const m = /\[Line (\d+), Column (\d+)\]/.exec(err.message);
  if (!m) return message;
  const line = source.split('\n')[Number(m[1]) - 1]?.trim();
  return line ? `${message} (in: ${line.slice(0, 200)})` : message;
}
