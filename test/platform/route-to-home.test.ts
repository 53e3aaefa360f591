import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import type { HomeEntry } from '../../src/directory/directory.js';
import { DomicileError } from '../../src/errors/domicile-error.js';
import type { Platform } from '../../src/platform/platform.js';
import { routeToHome } from '../../src/platform/route-to-home.js';
import type { RegionClient } from '../../src/region/region-client.js';

/**
 * routeToHome against a scripted directory and regions: the gateway's retries for a fenced user
 * and its re-routes after a move are separate budgets (issue 17: a write that waited out a
 * cut-over, then met the source just marked moved, reached the client as 409 WRONG_REGION); a
 * re-route is followed until a deadline, and a client never sees WRONG_REGION.
 */
function scriptedPlatform(homes: () => HomeEntry): Platform {
  const platform = {
    homeCache: new LRUCache<string, HomeEntry>({ max: 16 }),
    directory: { home: async () => homes() },
    region: (id: string) => ({ id }) as unknown as RegionClient,
  };
  return platform as unknown as Platform;
}

describe('routeToHome', () => {
  it('follows a user to their new home after waiting out a cut-over, however many fenced retries it took', async () => {
    let moved = false;
    let fencedAnswers = 0;
    const platform = scriptedPlatform(() => ({
      service: 'shop',
      region: moved ? 'sg-singapore' : 'cn-beijing',
      epoch: moved ? 2 : 1,
    }));
    const calls: string[] = [];
    const result = await routeToHome(platform, 'u_1', 'shop', async (client, ref) => {
      const region = (client as unknown as { id: string }).id;
      calls.push(`${region}@${ref.epoch}`);
      if (region === 'cn-beijing') {
        // Fenced for eight tries (a cut-over under load); then the source says moved once while
        // the directory still names it, and again as the directory flips to the new home.
        if (fencedAnswers < 8) {
          fencedAnswers++;
          throw new DomicileError('FENCED', 'user u_1 is being moved: retry shortly');
        }
        if (calls.filter((c) => c.startsWith('cn-beijing')).length === 9) {
          throw new DomicileError('WRONG_REGION', 'this region does not home user u_1 for service shop', {
            details: { home: 'sg-singapore', service: 'shop' },
          });
        }
        moved = true;
        throw new DomicileError('WRONG_REGION', 'this region does not home user u_1 for service shop', {
          details: { home: 'sg-singapore', service: 'shop' },
        });
      }
      return `served in ${region} at epoch ${ref.epoch}`;
    });
    expect(result).toBe('served in sg-singapore at epoch 2');
    expect(calls.at(-1)).toBe('sg-singapore@2');
  });

  it('keeps following a move while the directory still names the old home, after a fence spent its retries', async () => {
    // Issue 17: the source is fenced long enough for the request to spend its fenced retries'
    // backoff, then marked moved, while the directory a gateway reads names the new home only
    // 300 ms later (a flip finished by another gateway): five quick re-routes were not enough,
    // and the client was answered 409 WRONG_REGION.
    let movedAt: number | undefined;
    let fencedAnswers = 0;
    const platform = scriptedPlatform(() =>
      movedAt !== undefined && Date.now() - movedAt >= 300
        ? { service: 'shop', region: 'sg-singapore', epoch: 2 }
        : { service: 'shop', region: 'cn-beijing', epoch: 1 },
    );
    const calls: string[] = [];
    const result = await routeToHome(platform, 'u_3', 'shop', async (client, ref) => {
      const region = (client as unknown as { id: string }).id;
      calls.push(`${region}@${ref.epoch}`);
      if (region === 'cn-beijing') {
        if (fencedAnswers < 10) {
          fencedAnswers++;
          throw new DomicileError('FENCED', 'user u_3 is being moved: retry shortly');
        }
        movedAt ??= Date.now();
        throw new DomicileError('WRONG_REGION', 'this region does not home user u_3 for service shop', {
          details: { home: 'sg-singapore', service: 'shop' },
        });
      }
      return `served in ${region} at epoch ${ref.epoch}`;
    });
    expect(result).toBe('served in sg-singapore at epoch 2');
    expect(calls.filter((c) => c === 'cn-beijing@1').length).toBeGreaterThan(10 + 5);
  });

  it('gives up on regions that never agree with the directory at a deadline, as UNAVAILABLE, never WRONG_REGION', async () => {
    const platform = scriptedPlatform(() => ({ service: 'shop', region: 'cn-beijing', epoch: 1 }));
    let tries = 0;
    const started = Date.now();
    const refused = await routeToHome(
      platform,
      'u_2',
      'shop',
      async () => {
        tries++;
        throw new DomicileError('WRONG_REGION', 'this region does not home user u_2 for service shop', {
          details: { home: null, service: 'shop' },
        });
      },
      { rerouteDeadlineMs: 200 },
    ).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomicileError);
    expect((refused as DomicileError).code).toBe('UNAVAILABLE');
    expect((refused as DomicileError).details).toMatchObject({ retryAfterSeconds: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(tries).toBeGreaterThan(1);
  });
});
