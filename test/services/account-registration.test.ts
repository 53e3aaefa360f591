import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { passwordChecks } from '../../src/crypto/password.js';
import { registerAccount } from '../../src/services/account/account-service.js';
import { openTestPlatform, type TestPlatform } from '../support/test-platform.js';

/** Every tenancy any region holds, residue included: a user named anywhere is counted. */
async function tenancies(t: TestPlatform): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [id, region] of t.platform.regions) {
    counts[id] = (await region.placementStats()).reduce((sum, s) => sum + s.users + s.residue, 0);
  }
  return counts;
}

describe('registration refused halfway', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
  });
  afterAll(async () => t.close());

  it('leaves no tenancy in any region when the password queue is full by the time the password is hashed', async () => {
    const before = await tenancies(t);
    const limits = passwordChecks.limits;
    // The queue fills between admit() (which passed) and the hash: one long task holds the only slot.
    passwordChecks.configure({ concurrency: 1, maxQueue: 0 });
    let release = (): void => undefined;
    const holder = passwordChecks.run(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const admit = vi.spyOn(passwordChecks, 'admit').mockImplementation(() => undefined);
    try {
      await expect(
        registerAccount(t.platform, { phone: '+65 9333 0001', password: 'flood-password', market: 'SG' }),
      ).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    } finally {
      admit.mockRestore();
      release();
      await holder;
      passwordChecks.configure(limits);
    }
    expect(await tenancies(t)).toEqual(before);
    // And the phone can register once the flood is over.
    const again = await registerAccount(t.platform, {
      phone: '+65 9333 0001',
      password: 'flood-password',
      market: 'SG',
    });
    expect(again.userId).toMatch(/^u_/);
    const after = await tenancies(t);
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBeGreaterThan(
      Object.values(before).reduce((a, b) => a + b, 0),
    );
  });
});
