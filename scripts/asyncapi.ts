// Parses asyncapi.yaml with @asyncapi/parser (external $refs into openapi.yaml resolved) and
// gives each message's dereferenced payload schema. Shared by the validation script, the type
// generator and the tests.
import { Parser, fromFile, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');

export interface ParsedAsyncApi {
  document: AsyncAPIDocumentInterface | undefined;
  diagnostics: Diagnostic[];
  /** Diagnostics of severity 0 (error). */
  errors: Diagnostic[];
}

export async function parseAsyncApi(file = path.join(ROOT, 'asyncapi.yaml')): Promise<ParsedAsyncApi> {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, file).parse();
  return { document, diagnostics, errors: diagnostics.filter((d) => d.severity === 0) };
}

export interface MessageSchema {
  /** Component key, e.g. `StepStarted`. */
  id: string;
  payload: Record<string, unknown>;
  examples: unknown[];
}

/** Message schemas by message name (the `event_type`). */
export function messageSchemas(document: AsyncAPIDocumentInterface): Record<string, MessageSchema> {
  const out: Record<string, MessageSchema> = {};
  for (const message of document.components().messages()) {
    const name = message.name() ?? message.id();
    out[name] = {
      id: message.id(),
      payload: message.payload()?.json() as Record<string, unknown>,
      examples: message
        .examples()
        .all()
        .map((e) => e.payload()),
    };
  }
  return out;
}
