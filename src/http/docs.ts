/**
 * /docs: the API reference rendered by Redoc, whole offline. The Redoc bundle that ships inside
 * @redocly/cli is inlined into the page with the spec, so no CDN is ever asked for anything.
 */
import fs from 'node:fs';

export function redocBundle(): string {
  const file = require.resolve('@redocly/cli/lib/chunks/redoc.standalone.js');
  // The bundle is an ES module ending in `export{RedocStandalone,hydrate,init};`; inlined in a
  // module script its top-level `const` bindings are what we need.
  return fs.readFileSync(file, 'utf8').replace(/export\s*\{[^}]*\};?\s*$/, '');
}

/** Escapes `</script` so JSON or code can sit inside a <script> element. */
export function forScript(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function renderDocsPage(spec: unknown, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title.replace(/[<>&"]/g, '')}</title>
<style>body{margin:0;padding:0}</style>
</head>
<body>
<div id="redoc"></div>
<script type="module">
${forScript(redocBundle())}
const spec = ${forScript(JSON.stringify(spec))};
init(spec, { disableTelemetry: true, hideDownloadButtons: false }, document.getElementById('redoc'));
</script>
</body>
</html>
`;
}

/** Builds the page on first use and keeps it (about 2.5 MB). */
export function lazyDocsPage(spec: unknown, title: string): () => string {
  let page: string | undefined;
  return () => (page ??= renderDocsPage(spec, title));
}
