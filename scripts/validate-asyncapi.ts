// Validates asyncapi.yaml with @asyncapi/parser; exits non-zero on any error diagnostic.
import { messageSchemas, parseAsyncApi } from './asyncapi';

async function main(): Promise<void> {
  const { document, diagnostics, errors } = await parseAsyncApi();
  for (const d of diagnostics.filter((x) => x.severity <= 1)) {
    console.error(`${d.severity === 0 ? 'error' : 'warning'} ${String(d.code)} at /${d.path.join('/')}: ${d.message}`);
  }
  if (errors.length > 0 || !document) {
    console.error(`asyncapi.yaml: ${errors.length} error(s)`);
    process.exit(1);
  }
  console.log(
    `asyncapi.yaml: valid AsyncAPI ${document.version()}, ${Object.keys(messageSchemas(document)).length} messages`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
