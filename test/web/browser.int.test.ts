/**
 * The web view in a real browser: Debian's Chromium driven by playwright-core (never a
 * downloaded browser). locus runs in-process on `memory://` with the demo topology; the test
 * signs in with a reader token, migrates ports through the API and checks that the page shows
 * each new owner within a second, on the overview and on the port's page, then travels back in
 * time. Screenshots go to test-results/web/ (LOCUS_UPDATE_SCREENSHOT=1 also refreshes the
 * README's docs/screenshots/locus.png).
 *
 * Without /usr/bin/chromium the suite fails, as every missing test requirement does
 * (test/support/requirements.ts): `ops/install.sh --test` installs it.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locus } from '../../src/locus.js';
import { required } from '../support/requirements.js';
import {
  buildWeb,
  type Client,
  client,
  homeOf,
  loadDemoTopology,
  migrate,
  repoRoot,
  settle,
  startTestLocus,
  tokens,
} from './support.js';

const CHROMIUM = process.env.LOCUS_CHROMIUM ?? '/usr/bin/chromium';
const available = required(existsSync(CHROMIUM), `Chromium (${CHROMIUM})`, 'chromium');
const artefacts = join(repoRoot, 'test-results', 'web');

/** Within a second of the change, as the issue asks; the page's own budget, not the apps'. */
const LIVE_MS = 1_000;

describe.skipIf(!available)('web view in Chromium', () => {
  let locus: Locus;
  let operator: Client;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    await buildWeb();
    locus = await startTestLocus();
    operator = client(locus.url, tokens.operator);
    await loadDemoTopology(operator);
    await settle(locus);
    profile = mkdtempSync(join(tmpdir(), 'locus-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 860 },
      timeout: 30_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    mkdirSync(artefacts, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await locus?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const ownerCell = (port: string) => page.locator(`tr[data-port="${port}"] td.owner`);
  const localCount = (chassis: string) =>
    page.locator(`#overview tr[data-chassis="${chassis}"] td[data-locality="local"]`);

  it('asks for a token, then shows the overview and the ports', async () => {
    await page.goto(locus.url);
    await expect.poll(() => page.locator('#sign-in').isVisible()).toBe(true);
    await page.fill('#token', tokens.reader);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#feed-state[data-state="live"]');
    await page.waitForSelector('tr[data-port="vm-20"]');

    // The overview says what the API says.
    const { items } = (await operator.get('/v1/summary')) as {
      items: { chassis: string; locality: string; ports: number }[];
    };
    for (const row of items) {
      const cell = page.locator(
        `#overview tr[data-chassis="${row.chassis}"] td[data-locality="${row.locality}"]`,
      );
      expect(await cell.textContent(), `${row.chassis}/${row.locality}`).toBe(String(row.ports));
    }
    expect(await page.locator('#overview th.switch').allTextContents()).toEqual([
      'ext',
      'net-blue',
      'net-green',
    ]);
    expect(await ownerCell('vm-05').textContent()).toBe(homeOf('vm-05'));
    expect(await ownerCell('rif-blue').textContent()).toBe('distributed');

    // The token is in sessionStorage, not in the URL or a cookie.
    expect(page.url()).not.toContain(tokens.reader);
    expect(await context.cookies()).toEqual([]);
  });

  it('searches the port table', async () => {
    await page.fill('#search', 'compute-2');
    await expect
      .poll(async () => (await page.locator('#ports-body tr[data-port]').count()) > 0)
      .toBe(true);
    await expect
      .poll(() => page.locator('#ports-body td.owner').allTextContents())
      .toSatisfy((owners: string[]) => owners.every((owner) => owner === 'compute-2'));
    await page.fill('#search', '');
    await page.waitForSelector('tr[data-port="vm-20"]');
  });

  it('shows a live migration on the overview within a second', async () => {
    const vm = 'vm-01';
    const from = homeOf(vm);
    const to = 'compute-2';
    const localFrom = Number(await localCount(from).textContent());
    const localTo = Number(await localCount(to).textContent());

    await migrate(operator, vm, from, to);
    const changed = Date.now();
    await page.waitForSelector(`tr[data-port="${vm}"] td.owner:text-is("${to}")`, {
      timeout: LIVE_MS,
    });
    const latency = Date.now() - changed;
    console.info(`web view: new owner of ${vm} shown ${latency} ms after the migration`);
    // vm-01 takes its floating port along: two more local ports on the target, two fewer here.
    await expect
      .poll(
        async () => [await localCount(from).textContent(), await localCount(to).textContent()],
        {
          timeout: LIVE_MS,
        },
      )
      .toEqual([String(localFrom - 2), String(localTo + 2)]);
    await expect
      .poll(() => page.locator('#activity li[data-type="LocalDeleted"]').count())
      .toBeGreaterThan(0);
    await settle(locus);
    await page.screenshot({ path: join(artefacts, 'overview.png'), fullPage: true });
  });

  it("shows a port's views, its history with causes, and follows it live", async () => {
    await page.click('tr[data-port="vm-01"] a');
    await page.waitForSelector('#port-head dd[data-fact="owner"]');
    expect(await page.locator('#port-head dd[data-fact="owner"]').textContent()).toBe('compute-2');
    // A view on every chassis.
    const views = page.locator('#port-views tbody tr');
    expect(await views.count()).toBe(3);
    expect(
      await page.locator('#port-views tr[data-chassis="compute-2"] [data-locality]').textContent(),
    ).toBe('local');

    // The timeline: what happened, which app decided it, and why.
    const timeline = page.locator('#timeline li');
    const types = await timeline.evaluateAll((items) => items.map((li) => li.dataset.type));
    expect(types[0]).toBe('LogicalPortCreated');
    expect(types).toContain('LogicalPortUpdated');
    expect(types.filter((type) => type === 'LocalCreated').length).toBe(2);
    expect(types).toContain('LocalDeleted');
    const claim = timeline.filter({ hasText: 'compute-1 claims the port' });
    expect(await claim.locator('.why').textContent()).toContain('by classification');

    // Why: the explanation, rule by rule; each rule's events open in the event panel.
    await page.waitForSelector('#port-why [data-rule="owner"]');
    expect(
      await page
        .locator('#port-why .view-why[data-chassis="compute-2"] [data-locality]')
        .textContent(),
    ).toBe('local');
    await page
      .locator('#port-why > .card > .chain [data-rule="claim"] button.event-ref')
      .last()
      .click();
    await expect
      .poll(() => page.locator('#event-panel dd[data-fact="type"]').textContent())
      .toBe('LocalCreated');
    // A cause in another stream (the interface that made the claim) opens too.
    const cause = page.locator('#timeline button[data-cause]').first();
    const causeId = await cause.getAttribute('data-cause');
    await cause.click();
    await expect
      .poll(() => page.locator('#event-panel [data-event-id]').textContent())
      .toBe(causeId);
    expect(await page.locator('#event-panel dd[data-fact="type"]').textContent()).toMatch(
      /^OvsPort/,
    );
    await page.click('#event-close');

    // Live on this page too: migrate again, to compute-3.
    await migrate(operator, 'vm-01', 'compute-2', 'compute-3');
    const changed = Date.now();
    await page.waitForSelector('#port-head dd[data-fact="owner"]:text-is("compute-3")', {
      timeout: LIVE_MS,
    });
    console.info(
      `web view: port page showed the second migration after ${Date.now() - changed} ms`,
    );
    await settle(locus);
  });

  it('travels back in time', async () => {
    // Click the first claim in the timeline: the port as it was then.
    await page.locator('#timeline li', { hasText: 'compute-1 claims the port' }).click();
    await expect.poll(() => page.locator('#travel-owner').textContent()).toBe('compute-1');
    expect(await page.locator('#travel-label').textContent()).toContain('LocalCreated');

    // Drag the slider to the very start: just created, owned by nobody.
    await page.locator('#travel-slider').fill('0');
    await expect.poll(() => page.locator('#travel-owner').textContent()).toBe('none');
    await page.screenshot({ path: join(artefacts, 'port.png'), fullPage: true });

    // Back to the present.
    await page.click('#travel-now');
    await expect.poll(() => page.locator('#travel-label').textContent()).toBe('now');
    await page.click('a[href="#/"]');
    await page.waitForSelector('tr[data-port="vm-20"]');
    // The changes seen while on the port page are still listed.
    expect(await page.locator('#activity li[data-type="LocalCreated"]').count()).toBeGreaterThan(0);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(artefacts, 'locus.png') });
    if (process.env.LOCUS_UPDATE_SCREENSHOT) {
      mkdirSync(join(repoRoot, 'docs', 'screenshots'), { recursive: true });
      copyFileSync(
        join(artefacts, 'locus.png'),
        join(repoRoot, 'docs', 'screenshots', 'locus.png'),
      );
    }
  });

  it('logged no errors in the browser console', () => {
    expect(consoleErrors).toEqual([]);
  });
});
