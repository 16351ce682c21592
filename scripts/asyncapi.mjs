// Parses asyncapi.yaml with @asyncapi/parser (external $refs into openapi.yaml resolved) and
// returns the document plus each message's dereferenced payload schema. Shared by the
// validation script, the type generator and the tests.
import { Parser, fromFile } from '@asyncapi/parser';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Severity 0 is an error in the parser's diagnostics. */
export async function parseAsyncApi(file = path.join(ROOT, 'asyncapi.yaml')) {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, file).parse();
  const errors = diagnostics.filter((d) => d.severity === 0);
  return { document, diagnostics, errors };
}

/** { [event_type]: { name, payload (plain JSON Schema) } } */
export function messageSchemas(document) {
  const out = {};
  for (const message of document.allMessages()) {
    out[message.name()] = { id: message.id(), payload: message.payload().json() };
  }
  return out;
}
