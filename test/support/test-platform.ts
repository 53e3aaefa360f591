import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { AuthThrottleOptions } from '../../src/gateway/auth-throttle.js';
import { buildGateway, type GatewayOptions } from '../../src/gateway/build-gateway.js';
import { Platform, type PlatformOptions } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { photoChunkSize } from '../../src/services/cloud/photo-sync.js';
import { tempDir } from './temp-dir.js';

export const examplesDir = join(import.meta.dirname, '..', '..', 'examples');

export interface TestPlatform {
  platform: Platform;
  app: FastifyInstance;
  dataDir: string;
  close(): Promise<void>;
}

/** Limits no test reaches unless it means to: the suites register many users from one address. */
export const liftedAuthThrottle: Partial<AuthThrottleOptions> = {
  loginsPerIdentifier: { limit: 1_000_000, windowSeconds: 1 },
  loginsPerAddress: { limit: 1_000_000, windowSeconds: 1 },
  registrationsPerAddress: { limit: 1_000_000, windowSeconds: 1 },
};

/** A real platform (SQLite regions, keyrings, directory) in a temp folder, with its gateway. */
export async function openTestPlatform(
  phase = 'phase3',
  gateway: GatewayOptions = {},
  options: Partial<PlatformOptions> = {},
): Promise<TestPlatform> {
  const { path: dir, remove } = tempDir('platform');
  const policy = await loadPolicyFile(join(examplesDir, `${phase}.yaml`));
  const platform = await Platform.open({ policy, dataDir: dir, durability: 'normal', ...options });
  let app: FastifyInstance;
  try {
    app = await buildGateway(platform, { throttle: liftedAuthThrottle, ...gateway });
  } catch (err) {
    await platform.close();
    remove();
    throw err;
  }
  return {
    platform,
    app,
    dataDir: dir,
    close: async () => {
      await app.close();
      await platform.close();
      remove();
    },
  };
}

export interface Registered {
  userId: string;
  token: string;
  sessionId: string;
}

export async function register(app: FastifyInstance, body: Record<string, unknown>): Promise<Registered> {
  const res = await app.inject({ method: 'POST', url: '/v1/accounts', payload: body });
  if (res.statusCode !== 201) throw new Error(`registration failed: ${res.statusCode} ${res.body}`);
  return res.json() as Registered;
}

/** Grants a consent purpose through the API, answering the policy's current notice. */
export async function grant(
  app: FastifyInstance,
  token: string,
  purpose: string,
  noticeVersion = '2014-08',
): Promise<void> {
  const res = await app.inject({
    method: 'PUT',
    url: `/v1/me/consents/${purpose}`,
    headers: auth(token),
    payload: { decision: 'grant', noticeVersion, method: 'in-app-dialog' },
  });
  if (res.statusCode !== 200) throw new Error(`granting ${purpose} failed: ${res.statusCode} ${res.body}`);
}

export function auth(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Uploads a complete photo of `bytes` through the API (start, every chunk, complete); its id. */
export async function uploadPhoto(
  app: TestPlatform['app'],
  user: Registered,
  bytes: Buffer,
  name = 'IMG.jpg',
): Promise<string> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const started = await app.inject({
    method: 'POST',
    url: '/v1/me/photos',
    headers: auth(user.token),
    payload: { name, contentType: 'image/jpeg', size: bytes.length, sha256 },
  });
  expect(started.statusCode, started.body).toBe(201);
  const { id, chunks } = started.json() as { id: string; chunks: number };
  for (let i = 0; i < chunks; i++) {
    const res = await app.inject({
      method: 'PUT',
      url: `/v1/me/photos/${id}/chunks/${i}`,
      headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
      payload: bytes.subarray(i * photoChunkSize, (i + 1) * photoChunkSize),
    });
    expect(res.statusCode).toBe(200);
  }
  expect(
    (await app.inject({ method: 'POST', url: `/v1/me/photos/${id}/complete`, headers: auth(user.token) })).statusCode,
  ).toBe(200);
  return id;
}
