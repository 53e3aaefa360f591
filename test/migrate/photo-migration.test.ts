import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { photoChunkSize } from '../../src/services/cloud/photo-sync.js';
import { listFiles } from '../support/file-scan.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { registerUsers } from './support/random-writer.js';

/**
 * A photo's chunks rest as files of its region's blob store; phase 2 moves Mi Cloud of
 * international users from Beijing to Singapore, and the files move with their records: the
 * bytes come back the same from Singapore, and Beijing's blob store keeps none of them.
 */
describe('photos across a migration', () => {
  const data = tempDir('photo-migration');
  let current: PhasePlatform | undefined;
  afterAll(async () => {
    await current?.close();
    data.remove();
  });
  const blobFiles = (region: string): string[] => {
    const dir = join(data.path, 'regions', region, 'store.db-blobs');
    try {
      return listFiles(dir).filter((f) => !f.endsWith('address.json'));
    } catch {
      return [];
    }
  };

  it('moves the files of a photo with its records', async () => {
    current = await openPhase(data.path, 'before');
    const send = injectSender(() => current!.app);
    const [user] = await registerUsers(send, ['SG'], 1, 'photo-migration');
    expect(
      (
        await send('PUT', '/v1/me/consents/cloud-backup', user!.token, {
          decision: 'grant',
          noticeVersion: '2014-08',
          method: 'settings',
        })
      ).status,
    ).toBe(200);
    const photo = randomBytes(3 * photoChunkSize);
    const sha256 = createHash('sha256').update(photo).digest('hex');
    const started = await send('POST', '/v1/me/photos', user!.token, {
      name: 'IMG_2014.jpg',
      contentType: 'image/jpeg',
      size: photo.length,
      sha256,
    });
    const { id } = started.json as { id: string };
    for (let i = 0; i < 3; i++) {
      const res = await current.app.inject({
        method: 'PUT',
        url: `/v1/me/photos/${id}/chunks/${i}`,
        headers: { authorization: `Bearer ${user!.token}`, 'content-type': 'application/octet-stream' },
        payload: photo.subarray(i * photoChunkSize, (i + 1) * photoChunkSize),
      });
      expect(res.statusCode).toBe(200);
    }
    expect((await send('POST', `/v1/me/photos/${id}/complete`, user!.token)).status).toBe(200);
    expect(blobFiles('cn-beijing')).toHaveLength(3);
    await current.close();

    current = await openPhase(data.path, 'phase2');
    await current.engine.start({ services: ['cloud'] });
    await expectCutOverAndCompleted(current.engine);

    expect((await current.platform.directory.home(user!.userId, 'cloud'))?.region).toBe('sg-singapore');
    const download = await current.app.inject({
      method: 'GET',
      url: `/v1/me/photos/${id}/content`,
      headers: { authorization: `Bearer ${user!.token}` },
    });
    expect(download.statusCode).toBe(200);
    expect(createHash('sha256').update(download.rawPayload).digest('hex')).toBe(sha256);
    expect(blobFiles('sg-singapore')).toHaveLength(3);
    expect(blobFiles('cn-beijing')).toEqual([]);
  }, 60_000);
});
