import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { explainMissingBenchPackage } from '../../src/cli/bench-packages.js';

const root = resolve(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The package a bare specifier names ('@scope/name/sub' → '@scope/name'). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Every package that loading `entries` loads: its static imports and re-exports, followed through
 * the project's own files (the compiled ones in dist/, as bin/domicile.js runs them). Dynamic
 * import() is what loads on demand, and is not followed.
 */
function staticPackages(...entries: string[]): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = ts.createSourceFile(
      file,
      readFileSync(file, 'utf8'),
      ts.ScriptTarget.Latest,
      false,
      ts.ScriptKind.JS,
    );
    for (const statement of source.statements) {
      if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement))) continue;
      const specifier = statement.moduleSpecifier;
      if (!specifier || !ts.isStringLiteral(specifier)) continue;
      const name = specifier.text;
      if (name.startsWith('.')) visit(resolve(dirname(file), name));
      else if (!name.startsWith('node:') && !builtinModules.includes(name))
        packages.set(packageOf(name), relative(root, file));
    }
  };
  entries.forEach(visit);
  return packages;
}

describe('what a production install runs', () => {
  it("loads only dependencies, never a devDependency such as the benches' autocannon, when bin/domicile.js starts (so `npm ci --omit=dev` then `domicile up` works)", () => {
    expect(existsSync(join(root, 'dist/src/cli/main.js')), 'dist/ is built by `npm run build`').toBe(true);
    // bin/domicile.js checks that dist/ is built, then imports main.js.
    expect(readFileSync(join(root, 'bin/domicile.js'), 'utf8')).toContain(
      "new URL('../dist/src/cli/main.js', import.meta.url)",
    );
    const loaded = staticPackages(join(root, 'bin/domicile.js'), join(root, 'dist/src/cli/main.js'));
    const notDependencies = [...loaded]
      .filter(([name]) => !(name in manifest.dependencies))
      .map(([name, file]) => `${name} (imported by ${file})`);
    expect(notDependencies).toEqual([]);
    // The command line, the gateway and the stores are there: the walk did follow the imports.
    expect([...loaded.keys()]).toEqual(expect.arrayContaining(['commander', 'fastify', 'better-sqlite3', 'pg']));
    expect(Object.keys(manifest.dependencies)).not.toContain('autocannon');
    expect(Object.keys(manifest.devDependencies)).toEqual(expect.arrayContaining(['autocannon', 'playwright-core']));
  });

  it('names a bench package that an install without dev dependencies left out, and how to get it', async () => {
    const missing = await import('domicile-no-such-bench-package' as string).catch((err: unknown) => err);
    expect(explainMissingBenchPackage(missing)).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/needs the package domicile-no-such-bench-package, .*--omit=dev.*run npm ci/),
    });
    const other = new Error('something else');
    expect(explainMissingBenchPackage(other)).toBe(other);
  });
});
