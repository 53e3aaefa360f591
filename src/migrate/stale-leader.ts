import { DomicileError } from '../errors/domicile-error.js';

/** A leader's write refused: another process has taken the coordinator's lead since (a newer lead token). */
export function staleLeader(token: number, newest: number | undefined): DomicileError {
  return new DomicileError(
    'STALE_LEADER',
    `this gateway's lead of the migration coordinator (token ${token}) was taken by another since (token ${newest ?? 'unknown'}): it stops, and the new leader runs the migration`,
    { details: { token, newest: newest ?? null } },
  );
}
