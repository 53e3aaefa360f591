import { DomicileError } from '../errors/domicile-error.js';
import { defaultSettings, type MigrationSettings, settingLimits } from './migration-types.js';

/** A change of settings as an operator sends it: absent fields stay as they are. */
export interface SettingsPatch {
  batchSize?: number | undefined;
  rate?: number | undefined;
}

function checkInt(value: number, field: keyof typeof settingLimits, what: string): number {
  const { min, max } = settingLimits[field];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${what} must be a whole number from ${min} to ${max.toLocaleString('en-US')}, not ${JSON.stringify(value)}`,
      { details: { field } },
    );
  }
  return value;
}

/** Applies a patch to settings (the defaults when none), checking every field it names. */
export function applySettings(patch: SettingsPatch, base: MigrationSettings = defaultSettings): MigrationSettings {
  return {
    batchSize:
      patch.batchSize === undefined
        ? base.batchSize
        : checkInt(patch.batchSize, 'batchSize', 'the batch size (users per batch, --batch-size)'),
    rate:
      patch.rate === undefined
        ? base.rate
        : checkInt(patch.rate, 'rate', 'the rate cap (rows per second, --rate; 0 for none)'),
  };
}
