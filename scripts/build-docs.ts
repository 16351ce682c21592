/**
 * `npm run docs`: one offline HTML API reference, built by @redocly/cli (`build-docs`, which
 * pre-renders the page), with the Redoc bundle it would fetch from a CDN inlined instead.
 * Output: dist/docs/api-reference.html (open it from disk; no network needed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { forScript, redocBundle } from '../src/http/docs.js';

const ROOT = resolve(__dirname, '..');
const outDir = join(ROOT, 'dist', 'docs');
const out = join(outDir, 'api-reference.html');
mkdirSync(outDir, { recursive: true });
const raw = join(outDir, 'redocly-build.html');
execFileSync(join(ROOT, 'node_modules/.bin/redocly'), ['build-docs', 'openapi.yaml', '-o', raw], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
});

let html = readFileSync(raw, 'utf8');
const cdnImport = /import\s*\{\s*hydrate\s*\}\s*from\s*"https:\/\/[^"]+";/;
if (!cdnImport.test(html)) throw new Error('redocly build-docs output changed: no CDN import of hydrate to inline');
html = html
  .replace(/<link rel="modulepreload"[^>]*>/g, '')
  .replace(cdnImport, () => forScript(redocBundle()))
  .replace('"disableTelemetry":false', '"disableTelemetry":true');
if (/(src|href)="https?:\/\/cdn/.test(html) || /from\s*"https?:/.test(html))
  throw new Error('the page still loads something from the network');
writeFileSync(out, html);
rmSync(raw);
console.log(`wrote ${out} (${(html.length / 1024 / 1024).toFixed(1)} MB, works offline)`);
