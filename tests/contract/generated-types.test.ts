/**
 * generated/ must follow the specs: `npm run gen:check` (part of `npm test`) fails when someone
 * edits openapi.yaml or asyncapi.yaml without regenerating.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/openapi';

const run = promisify(execFile);
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

async function genCheck(root: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(TSX, [path.join(ROOT, 'scripts/gen.ts'), '--check', '--root', root], {
      cwd: ROOT,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

function copyOfSpecs(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-check-'));
  for (const f of ['openapi.yaml', 'asyncapi.yaml']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  fs.cpSync(path.join(ROOT, 'generated'), path.join(dir, 'generated'), { recursive: true });
  return dir;
}

describe('generated types', () => {
  it('when the specs are unchanged, then gen:check passes', async () => {
    const result = await genCheck(copyOfSpecs());
    expect(result).toEqual({ code: 0, output: expect.stringContaining('up to date') });
  }, 30_000);

  it('when openapi.yaml is edited without regenerating, then gen:check fails naming the stale file', async () => {
    const dir = copyOfSpecs();
    const spec = fs.readFileSync(path.join(dir, 'openapi.yaml'), 'utf8');
    fs.writeFileSync(path.join(dir, 'openapi.yaml'), spec.replace('        step_count:\n', '        step_total:\n'));
    const result = await genCheck(dir);
    expect(result.code).toBe(1);
    expect(result.output).toContain('generated/openapi.ts');
  }, 30_000);
});
