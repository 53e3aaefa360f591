import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseRateLimit, parseTrustedProxies } from '../../src/cli/cli-options.js';
import { main } from '../../src/cli/main.js';
import { listFiles } from '../support/file-scan.js';
import { tempDir } from '../support/temp-dir.js';

describe('`domicile up` limit flags', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads COUNT/DURATION and lists of trusted proxies', () => {
    expect(parseRateLimit('10/15m')).toEqual({ limit: 10, windowSeconds: 900 });
    expect(parseRateLimit('3/1h')).toEqual({ limit: 3, windowSeconds: 3600 });
    expect(parseRateLimit('30/60s')).toEqual({ limit: 30, windowSeconds: 60 });
    expect(parseTrustedProxies('10.0.0.0/8, 192.168.1.7,::1')).toEqual(['10.0.0.0/8', '192.168.1.7', '::1']);
  });

  it('refuses bad limits with a message naming the flag and an example, before anything is created', async () => {
    const data = tempDir('up-limits');
    try {
      const stderr: string[] = [];
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stderr.push(String(chunk));
        return true;
      });
      for (const args of [
        ['--logins-per-address', 'lots'],
        ['--registrations-per-address', '0/1h'],
        ['--logins-per-identifier', '5/30d'],
        ['--password-concurrency', '0'],
        ['--password-queue', '-1'],
        ['--login-refusal-delay', 'soon'],
        ['--trust-proxy', 'the-balancer'],
        ['--trust-proxy', '10.0.0.0/99'],
      ]) {
        stderr.length = 0;
        const code = await main(['node', 'domicile', 'up', '--data', data.path, '--port', '0', ...args]);
        expect(code, args.join(' ')).toBe(2);
        const said = stderr.join('');
        expect(said, args.join(' ')).toMatch(args[0]!.slice(2).split('-')[0]!);
        expect(said, args.join(' ')).toMatch(/for example|whole number|at least|IP address/);
      }
      expect(listFiles(data.path)).toEqual([]);
    } finally {
      data.remove();
    }
  });
});
