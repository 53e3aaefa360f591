import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/** Debian's Chromium: this project never downloads a browser of its own. */
export const chromiumPath = process.env.DOMICILE_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium driven by playwright-core, for the dashboard's tests and benchmark. A
 * missing browser is an error that says how to install it, never a skipped check.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's package (apt-get install chromium), or point DOMICILE_CHROMIUM at one`,
    );
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
