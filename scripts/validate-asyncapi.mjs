// Validates asyncapi.yaml with @asyncapi/parser; exits non-zero on any error diagnostic.
import { parseAsyncApi, messageSchemas } from './asyncapi.mjs';

const { document, diagnostics, errors } = await parseAsyncApi();
for (const d of diagnostics.filter((x) => x.severity <= 1)) {
  console.error(`${d.severity === 0 ? 'error' : 'warning'} ${d.code} at /${d.path.join('/')}: ${d.message}`);
}
if (errors.length > 0 || !document) {
  console.error(`asyncapi.yaml: ${errors.length} error(s)`);
  process.exit(1);
}
const messages = Object.keys(messageSchemas(document));
console.log(`asyncapi.yaml: valid AsyncAPI ${document.version()}, ${messages.length} messages`);
