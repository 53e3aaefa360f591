import type { FaultPoint } from './migration-types.js';

/** Called by the engine at each named point; the default kills the process when asked to. */
export type FaultHook = (point: FaultPoint) => void | Promise<void>;

/**
 * Fault injection for the kill-and-resume tests: with DOMICILE_FAULT=<point> in its
 * environment, the process SIGKILLs itself the first time it reaches that point, exactly as
 * a crash would stop it (no handler runs, nothing is flushed beyond what was committed).
 */
export const envFault: FaultHook = (point) => {
  if (process.env.DOMICILE_FAULT === point) {
    process.stderr.write(`domicile: DOMICILE_FAULT=${point}: killing this process (fault injection)\n`);
    process.kill(process.pid, 'SIGKILL');
  }
};
