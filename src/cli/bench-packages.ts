import { DomicileError } from '../errors/domicile-error.js';

/**
 * The benches' load generator (autocannon) and browser driver (playwright-core) are
 * devDependencies: `domicile up` never loads them, and an install with `--omit=dev` leaves
 * them out. A bench run there meets ERR_MODULE_NOT_FOUND; this says which package is missing
 * and how to get it. Any other error is returned as it is.
 */
export function explainMissingBenchPackage(err: unknown): unknown {
  if ((err as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') return err;
  const name = /Cannot find package '([^']+)'/.exec((err as Error).message)?.[1];
  if (name === undefined) return err;
  return new DomicileError(
    'UNAVAILABLE',
    `domicile bench needs the package ${name}, one of the development dependencies that an install with --omit=dev leaves out: run npm ci (or npm install ${name}) in the project, then run the bench again`,
    { cause: err },
  );
}
