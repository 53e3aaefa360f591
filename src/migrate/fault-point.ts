import { killAtFault } from '../shared/fault-injection.js';
import type { FaultPoint } from './migration-types.js';

/** Called by the engine at each named point; the default kills the process when asked to. */
export type FaultHook = (point: FaultPoint) => void | Promise<void>;

/** The default hook: the migration's points are DOMICILE_FAULT's too. */
export const envFault: FaultHook = (point) => killAtFault(point);
