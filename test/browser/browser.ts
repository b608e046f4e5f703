// Headless Chromium for the console's tests, through playwright-core and the system's Chromium
// (Debian's `chromium` package; .ci/run installs it when missing). Screenshots of every page
// go to one folder per run, printed, so a person can look at what the tests saw.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH}: the browser tests are skipped (apt-get install chromium, as .ci/run does)`;
}

export async function launch(args: string[] = []): Promise<Browser> {
  const options: LaunchOptions = { executablePath: CHROMIUM_PATH, headless: true, args: ['--autoplay-policy=no-user-gesture-required', ...args] };
  return chromium.launch(options);
}

/** One folder per run (CONSOLE_SCREENSHOTS_DIR to choose it), named once on the console. */
let folder: string | undefined;
export function screenshotFolder(): string {
  if (folder) return folder;
  folder = process.env.CONSOLE_SCREENSHOTS_DIR ?? path.join(os.tmpdir(), `console-screenshots-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(folder, { recursive: true });
  console.log(`      console screenshots: ${folder}`);
  return folder;
}

export async function screenshot(page: Page, name: string, selector?: string): Promise<void> {
  const file = path.join(screenshotFolder(), `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
}

/** Fails the test on any error the page logs or throws (a CSP refusal, an exception). */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    // A refused request the test provokes (a 400, a 401) is logged by Chromium too; the page shows those itself.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });
  return errors;
}
