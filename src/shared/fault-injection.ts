/**
 * Fault injection for the kill tests: with DOMICILE_FAULT=<point> in its environment, the
 * process SIGKILLs itself the first time it reaches that point, exactly as a crash would stop
 * it (no handler runs, nothing is flushed beyond what was committed).
 */
export function killAtFault(point: string): void {
  if (process.env.DOMICILE_FAULT === point) {
    process.stderr.write(`domicile: DOMICILE_FAULT=${point}: killing this process (fault injection)\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
