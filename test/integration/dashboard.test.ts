/**
 * The campaign dashboard in headless Chromium, served by the local runtime at `/` as
 * `npm start` serves it: an operator signs in, starts from nothing (template, campaign),
 * drops a CSV, reads the rejections, sends, and watches the counts reach the total and the
 * delivery chart follow them; and on Settings sets the app's webhook, copies its secret,
 * tests it, rotates it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { launchChromium } from '#test/support/browser.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';
import { type ReceivedRequest, startWebhookReceiver, verifies } from '#test/support/webhook-receiver.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'outbox.jsonl');
// UPLOAD_WAIT_SECONDS=0: the direct upload answers `processing` at once, so the page takes the
// path of a long import and polls the upload until it completes.
const runtime = useRuntime({ env: { OUTBOX_PATH: outbox, UPLOAD_WAIT_SECONDS: '0' } });

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A page in a fresh context (its own session storage), with browser errors surfaced. */
async function openDashboard(path = '/', timezoneId?: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${runtime.current.url}${path}`);
  return page;
}

/** What the dashboard shows for one delivery count. */
const stat = (page: Page, label: string) =>
  page.locator('.stat', { has: page.getByText(label, { exact: true }) }).locator('dd');

/** The delivery chart of the campaign view: uPlot's canvas, the chart's text alternative, and the pace beside it. */
const chart = (page: Page) => ({
  canvas: page.locator('.chart .uplot canvas').first(),
  summary: () =>
    page.getByRole('img', { name: /^Recipients processed over time/ }).getAttribute('aria-label'),
  pace: () => page.getByTestId('pace').textContent(),
});

/** 20 good recipients, then three rows the import rejects (lines 22-24) and a duplicate. */
function audience(): string {
  const lines = ['user_id,name,discount'];
  for (let i = 1; i <= 20; i += 1) lines.push(`u${String(i).padStart(3, '0')},Name ${i},${i}`);
  lines.push(',Nobody,5'); // line 22: empty user_id
  lines.push('u021,Bad Discount,abc'); // line 23: not a number
  lines.push('u022,,7'); // line 24: required name is empty
  lines.push('u001,Again,1'); // duplicate of line 2
  return `${lines.join('\n')}\n`;
}

describe('campaign dashboard', () => {
  it('takes an operator from sign-in to a sent campaign: template, campaign, CSV with rejections, live counts', async () => {
    const page = await openDashboard();

    // Sign-in is pre-filled with the local app (config.json of the local runtime).
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByLabel('App id').inputValue()).toBe(runtime.current.appId);
    expect(await page.getByLabel('API key').inputValue()).toBe(runtime.current.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No campaigns yet').waitFor();
    expect(await page.locator('.topbar').textContent()).toContain(`Signed in as ${runtime.current.appId}`);

    // A template from a variable list, approved in the same step.
    await page.getByLabel('Template name').fill('Spring offer');
    await page.getByLabel('Variables').fill('name!, discount:number');
    await page.getByLabel('Message').fill('Hi {{name}}, {{discount}}% off this spring.');
    await page.getByRole('button', { name: 'Create and approve template' }).click();
    await page.getByText('Template “Spring offer” is approved').waitFor();

    // A campaign from it.
    await page.getByLabel('Campaign name').fill('Spring sale');
    expect(await page.getByLabel('Template', { exact: true }).locator('option:checked').textContent()).toBe(
      'Spring offer (name, discount)',
    );
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page.getByRole('heading', { name: 'Spring sale' }).waitFor();
    expect(await page.locator('.badge').textContent()).toBe('draft');
    expect(await page.getByRole('button', { name: 'Send now' }).isDisabled()).toBe(true);

    // The CSV through the drop zone's file picker, opened from the keyboard.
    // (locator.press focuses the input and presses in one step, so a re-render of the page
    // between a separate focus and the key press cannot take the focus away.)
    const chooser = page.waitForEvent('filechooser');
    const checked = page.waitForResponse((r) => r.url().endsWith('/api/campaigns/upload?dryRun=true'));
    await page.getByLabel('Drop a CSV file here, or choose one').press('Space');
    await (await chooser).setFiles({
      name: 'spring.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(audience()),
    });
    // First the dry run: what was detected, what would be imported, and what the first
    // recipient will see; nothing is imported until the second click.
    expect((await checked).status()).toBe(200);
    const dryRun = page.locator('p', { hasText: 'Checked spring.csv; nothing is imported yet.' });
    await dryRun.waitFor();
    const dryRunText = await dryRun.textContent();
    expect(dryRunText).toContain('20 would be imported');
    expect(dryRunText).toContain('3 rejected');
    expect(dryRunText).toContain('1 duplicates');
    expect(dryRunText).toContain('24 rows read');
    expect(await page.getByTestId('detected').textContent()).toBe(
      'Detected: UTF-8, no BOM, LF line breaks, delimiter “,”, 24 data rows',
    );
    expect(await page.getByRole('table', { name: 'Rejected rows' }).locator('tbody tr').count()).toBe(3);
    const preview = page.locator('figure.preview');
    expect(await preview.locator('figcaption').textContent()).toBe(
      'What the first recipient (u001) will see',
    );
    expect(await preview.locator('p').textContent()).toBe('Hi Name 1, 1% off this spring.');
    const campaignId = decodeURIComponent(new URL(page.url()).hash.replace('#/campaigns/', ''));
    const owner = apiClient(runtime.current.url, runtime.current);
    expect((await owner.get(`/api/campaigns/${campaignId}`)).body.data).toMatchObject({
      recipientCount: 0,
      status: 'draft',
    });
    expect(await stat(page, 'Recipients').textContent()).toBe('0');

    const uploaded = page.waitForResponse((r) => r.url().endsWith('/api/campaigns/upload'));
    await page.getByRole('button', { name: 'Import 20 recipients' }).click();
    expect((await uploaded).status()).toBe(202); // still importing: the page polls the upload
    const summary = page.locator('.success', { hasText: 'Import complete' });
    await summary.waitFor({ timeout: 60_000 });
    const summaryText = await summary.textContent();
    expect(summaryText).toContain('Import complete: spring.csv.');
    expect(summaryText).toContain('20 imported');
    expect(summaryText).toContain('3 rejected');
    expect(summaryText).toContain('1 duplicates');
    expect(summaryText).toContain('24 rows read');

    const rejections = page.getByRole('table', { name: 'Rejected rows' });
    const rows = await rejections.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^22\(empty\)user_id: required, but empty/);
    expect(rows[1]).toMatch(/^23u021discount: expected a number, got 'abc'/);
    expect(rows[2]).toMatch(/^24u022name: required, but empty/);
    const report = page.getByRole('link', { name: 'Download the rejections report (CSV)' });
    const reportCsv = await (await fetch((await report.getAttribute('href')) as string)).text();
    expect(reportCsv).toContain(`23,u021,"discount: expected a number, got 'abc'"`);
    await expect.poll(() => stat(page, 'Recipients').textContent(), { timeout: 10_000 }).toBe('20');
    expect(await stat(page, 'Pending').textContent()).toBe('20');

    // Send, and watch the counts move to the total.
    await page.getByRole('button', { name: 'Send now' }).click();
    await expect.poll(() => page.locator('.badge').textContent(), { timeout: 60_000 }).toBe('sent');
    await expect.poll(() => stat(page, 'Sent').textContent(), { timeout: 10_000 }).toBe('20');
    expect(await stat(page, 'Pending').textContent()).toBe('0');
    expect(await stat(page, 'Failed').textContent()).toBe('0');
    expect(await page.getByText('20 of 20 sent').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Send now' }).count()).toBe(0);

    // What the page said happened did happen: 20 messages, rendered from the CSV.
    const delivered = await readOutbox(outbox);
    expect(delivered.map((m) => m.userId).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `u${String(i + 1).padStart(3, '0')}`),
    );
    expect(delivered.find((m) => m.userId === 'u007')?.body).toBe('Hi Name 7, 7% off this spring.');

    // Back on the list, the campaign shows as sent with its counts.
    await page.getByRole('link', { name: '← All campaigns' }).click();
    const row = page.getByRole('row', { name: /Spring sale/ });
    await row.waitFor();
    expect(await row.locator('td').allTextContents()).toEqual(
      expect.arrayContaining(['Spring sale', 'sent', '20']),
    );
    await page.context().close();
  });

  it('draws the delivery as it happens: a chart whose text alternative follows the counts, the pace, and the line kept after the end', async () => {
    const credentials = await newApp('dash-chart');
    const api = apiClient(runtime.current.url, credentials);
    const total = 5000;
    const campaignId = await draftCampaign(api, { name: { type: 'string' } });
    await addRecipients(credentials.appId, campaignId, numberedRecipients(total));
    // The consumers hold off, so the campaign is visibly `sending` with no one delivered yet.
    await runtime.current.stopDeliveries();
    try {
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status).toBe(202);
      const page = await openDashboard(`/#/campaigns/${campaignId}`);
      await page.getByLabel('App id').fill(credentials.appId);
      await page.getByLabel('API key').fill(credentials.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.locator('.badge').textContent(), { timeout: 30_000 }).toBe('sending');
      const view = chart(page);
      await view.canvas.waitFor();
      expect(await view.summary()).toContain(': 0 of 5,000 since');
      // Unmeasured at first, then the rate and the ETA, as the API measures them.
      expect(await view.pace()).toMatch(/^(measuring…|≈ [\d,.]+\/s( · ETA .+)?)$/);

      // Some delivered, then the consumers hold again (each finishing its batch): the page
      // follows the counts to what the API says, short of the total.
      runtime.current.startDeliveries();
      await expect
        .poll(async () => (await readOutbox(outbox)).some((m) => m.campaignId === campaignId), {
          timeout: 60_000,
          interval: 20,
        })
        .toBe(true);
      await runtime.current.stopDeliveries();
      const { counts } = (await api.get(`/api/campaigns/${campaignId}`)).body.data;
      const processed = counts.sent + counts.failed + counts.skipped;
      expect(processed).toBeGreaterThan(0);
      expect(processed).toBeLessThan(total);
      await expect
        .poll(view.summary, { timeout: 10_000 })
        .toContain(`: ${processed.toLocaleString('en-US')} of 5,000 since`);
      // Recipients settled within the last minute: the API measures a rate, and the page shows it with the ETA.
      await expect.poll(view.pace, { timeout: 10_000 }).toMatch(/^≈ [\d,.]+\/s · ETA .+$/);

      // The end: the chart stays (its text alternative is on it), with every recipient and when it finished.
      runtime.current.startDeliveries();
      await expect.poll(() => page.locator('.badge').textContent(), { timeout: 60_000 }).toBe('sent');
      await expect.poll(view.summary, { timeout: 10_000 }).toMatch(/: 5,000 of 5,000 since .*; finished at /);
      expect(await view.pace()).toMatch(/^finished at \d\d:\d\d:\d\d$/);
      await page.context().close();
    } finally {
      runtime.current.startDeliveries();
    }
  });

  it('shows the pace and the ETA the API measured, and starts the line at the send even when opened late', async () => {
    const api = apiClient(runtime.current.url, runtime.current);
    const campaignId = await draftCampaign(api);
    const draft = (await api.get(`/api/campaigns/${campaignId}`)).body.data;
    // The campaign as the API describes it while sending (its `progress`), answered by the
    // test so that each state of the contract is shown exactly, in the order the test sets.
    const startedAt = '2026-03-20T14:00:00.000Z';
    let answer: Record<string, unknown> = {
      ...draft,
      status: 'sending',
      recipientCount: 1000,
      counts: { pending: 0, queued: 850, sent: 150, failed: 0, skipped: 0 },
      progress: { ratePerSecond: null, eta: null, startedAt },
    };
    const page = await openDashboard(`/#/campaigns/${campaignId}`, 'UTC');
    await page.clock.setFixedTime('2026-03-20T14:00:30.000Z');
    await page.route(
      (url) => url.pathname === `/api/campaigns/${campaignId}`,
      (route) => route.fulfill({ json: { data: answer } }),
    );
    await page.getByRole('button', { name: 'Sign in' }).click();
    const view = chart(page);
    await view.canvas.waitFor();
    expect(await view.pace()).toBe('measuring…');
    // Opened 30 s into the send, with 150 already delivered: the line starts at the send.
    expect(await view.summary()).toBe(
      'Recipients processed over time: 150 of 1,000 since 14:00:00; ETA not measured yet.',
    );
    expect(await page.locator('.chart .u-legend').textContent()).toMatch(/Processed.*Failed/);

    await page.clock.setFixedTime('2026-03-20T14:00:50.000Z');
    answer = {
      ...answer,
      counts: { pending: 0, queued: 588, sent: 400, failed: 12, skipped: 0 },
      progress: { ratePerSecond: 48.9, eta: '2026-03-20T14:03:20.000Z', startedAt },
    };
    await expect.poll(view.pace, { timeout: 10_000 }).toBe('≈ 48.9/s · ETA 14:03:20');
    expect(await view.summary()).toBe(
      'Recipients processed over time: 412 of 1,000 (12 failed) since 14:00:00; ETA 14:03:20.',
    );

    await page.clock.setFixedTime('2026-03-20T14:03:19.000Z');
    const { progress: _, ...sending } = answer;
    answer = {
      ...sending,
      status: 'partially_failed',
      counts: { pending: 0, queued: 0, sent: 988, failed: 12, skipped: 0 },
      completedAt: '2026-03-20T14:03:18.000Z',
    };
    await expect.poll(view.pace, { timeout: 10_000 }).toBe('finished at 14:03:18');
    expect(await view.summary()).toBe(
      'Recipients processed over time: 1,000 of 1,000 (12 failed) since 14:00:00; finished at 14:03:18.',
    );
    await page.context().close();
  });

  it('exports a finished campaign as a CSV, and follows up its failed recipients in a new draft', async () => {
    const credentials = await newApp('dash-follow');
    const api = apiClient(runtime.current.url, credentials);
    // The app's own webhook rejects the users whose id starts with "bad".
    const receiver = await startWebhookReceiver();
    receiver.answer((request) => ({
      status: 200,
      body: {
        results: request.json.messages.map((m) =>
          m.userId.startsWith('bad')
            ? { idempotencyKey: m.idempotencyKey, status: 'rejected', reason: 'mailbox full' }
            : { idempotencyKey: m.idempotencyKey, status: 'accepted' },
        ),
      },
    }));
    try {
      expect((await api.put('/api/destination', { kind: 'webhook', url: receiver.url })).status).toBe(200);
      const campaignId = await draftCampaign(api, { name: { type: 'string', required: true } });
      const people = { ok1: 'Ann', bad1: 'Bo', ok2: 'Cy', bad2: '=Dee' };
      const added = await api.post(`/api/campaigns/${campaignId}/recipients`, {
        userIds: Object.keys(people),
        variables: Object.fromEntries(Object.entries(people).map(([u, name]) => [u, { name }])),
      });
      expect(added.status).toBe(200);
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status).toBe(202);
      await expect
        .poll(async () => (await api.get(`/api/campaigns/${campaignId}`)).body.data.status, {
          timeout: 60_000,
        })
        .toBe('partially_failed');

      const page = await openDashboard(`/#/campaigns/${campaignId}`);
      await page.getByLabel('App id').fill(credentials.appId);
      await page.getByLabel('API key').fill(credentials.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'After the send' }).waitFor();

      // Export: every recipient, with status and error, formula-looking values neutralised.
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export' }).click();
      const file = await download;
      expect(file.suggestedFilename()).toBe(`${campaignId}-recipients.csv`);
      const csv = readFileSync((await file.path()) as string, 'utf8');
      const lines = csv.trim().split(/\r?\n/);
      expect(lines[0]).toBe('user_id,name,status,error');
      expect(lines.slice(1).sort()).toEqual(
        [
          'bad1,Bo,failed,webhook rejected the message: mailbox full',
          "bad2,'=Dee,failed,webhook rejected the message: mailbox full",
          'ok1,Ann,sent,',
          'ok2,Cy,sent,',
        ].sort(),
      );

      // Follow up the failed: a new draft of exactly those two, with their variables.
      await page.getByRole('button', { name: 'Follow up failed (2)' }).click();
      await page.getByRole('heading', { name: 'upload test (follow-up)' }).waitFor();
      await expect.poll(() => stat(page, 'Recipients').textContent(), { timeout: 30_000 }).toBe('2');
      expect(await page.getByText(`Follow-up of ${campaignId}`).count()).toBe(1);
      expect(await page.locator('.badge').textContent()).toBe('draft');
      const followUpId = decodeURIComponent(new URL(page.url()).hash.replace('#/campaigns/', ''));
      expect(followUpId).not.toBe(campaignId);
      const recipients = (await api.get(`/api/campaigns/${followUpId}/recipients?limit=100`)).body.data;
      expect(
        recipients
          .map((r: { userId: string; variables: unknown; status: string }) => [
            r.userId,
            r.variables,
            r.status,
          ])
          .sort(),
      ).toEqual([
        ['bad1', { name: 'Bo' }, 'pending'],
        ['bad2', { name: '=Dee' }, 'pending'],
      ]);
      await page.context().close();
    } finally {
      await receiver.close();
    }
  });

  it('schedules a campaign at a local date and time, shows when, and cancels it, skipping every recipient', async () => {
    const api = apiClient(runtime.current.url, runtime.current);
    const campaignId = await draftCampaign(api);
    const added = await api.post(`/api/campaigns/${campaignId}/recipients`, {
      userIds: ['s1', 's2', 's3'],
      variables: { s1: { name: 'Ann' }, s2: { name: 'Bo' }, s3: { name: 'Cy' } },
    });
    expect(added.status).toBe(200);

    // A link to the campaign survives sign-in; the operator's clock is Paris time.
    const page = await openDashboard(`/#/campaigns/${campaignId}`, 'Europe/Paris');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'upload test' }).waitFor();
    await page.getByLabel('Send at').fill('2030-01-15T10:30');
    await page.getByRole('button', { name: 'Schedule', exact: true }).click();
    await expect.poll(() => page.locator('.badge').textContent(), { timeout: 10_000 }).toBe('scheduled');
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.scheduledAt).toBe(
      '2030-01-15T09:30:00.000Z',
    );
    expect(await page.getByText(/scheduled for .*2030.*10:30/).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Send now' }).count()).toBe(0);

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Cancel campaign' }).click();
    await expect.poll(() => page.locator('.badge').textContent(), { timeout: 10_000 }).toBe('cancelled');
    await expect.poll(() => stat(page, 'Skipped').textContent(), { timeout: 10_000 }).toBe('3');
    expect(await stat(page, 'Sent').textContent()).toBe('0');
    expect(await page.getByRole('button', { name: 'Cancel campaign' }).count()).toBe(0);
    await page.context().close();
  });

  it('refuses a dropped CSV whose header names a column the template lacks, naming the column', async () => {
    const page = await openDashboard();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Refresh' }).waitFor();
    await page.getByLabel('Template name').fill('Short note');
    await page.getByLabel('Variables').fill('name');
    await page.getByRole('button', { name: 'Create and approve template' }).click();
    await page.getByText('Template “Short note” is approved').waitFor();
    await page.getByLabel('Template', { exact: true }).selectOption({ label: 'Short note (name)' });
    await page.getByLabel('Campaign name').fill('Header check');
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page.getByRole('heading', { name: 'Header check' }).waitFor();

    // Dropped, as a file dragged from the desktop arrives.
    const drop = await page.evaluateHandle(() => {
      // Browser globals, which the Node types that check this file do not declare.
      const { DataTransfer: Transfer, File: BrowserFile } = globalThis as any;
      const data = new Transfer();
      data.items.add(
        new BrowserFile(['user_id,name,coupon\nu1,Ann,X1\n'], 'coupons.csv', { type: 'text/csv' }),
      );
      return data;
    });
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: drop });

    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.textContent();
    expect(text).toContain('coupons.csv was not imported');
    expect(text).toContain('coupon');
    await expect.poll(() => stat(page, 'Recipients').textContent()).toBe('0');
    await page.context().close();
  });

  it('turns away a file over the direct-upload limit without sending it, pointing at the presigned path', async () => {
    const api = apiClient(runtime.current.url, runtime.current);
    const campaignId = await draftCampaign(api);
    const page = await openDashboard(`/#/campaigns/${campaignId}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'upload test' }).waitFor();
    let posted = false;
    page.on('request', (r) => {
      if (r.url().includes('/api/campaigns/upload')) posted = true;
    });

    const big = `user_id,name\n${'u1,Name\n'.repeat(600_000)}`; // 4.8 MB, over the 4 MiB default
    await page.getByLabel('Drop a CSV file here, or choose one').setInputFiles({
      name: 'everyone.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(big),
    });
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe(
      'everyone.csv is 4.6 MB; the dashboard uploads files up to 4.0 MB. Upload bigger files (up to 50 MB) with a presigned URL: POST /api/campaigns/{id}/upload-url, then PUT the file (see README).',
    );
    expect(posted).toBe(false);
    await page.context().close();
  });

  it('says clearly when the app id or API key is wrong, and stays on the sign-in form', async () => {
    const page = await openDashboard();
    await page.getByLabel('API key').fill('not-the-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain(
      `Sign-in failed: the API did not accept app id '${runtime.current.appId}' with this API key.`,
    );
    expect(await page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.context().close();
  });

  it('sets a webhook on Settings, shows its signing secret once, shows the test send and the API refusals, rotates, and goes back to default', async () => {
    // An app of its own: the seeded app's deliveries stay on the outbox the first test reads.
    const creds = await newApp('dash');
    const api = apiClient(runtime.current.url, creds);
    const hook = await startWebhookReceiver();
    try {
      const page = await openDashboard('/#/settings');
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], {
        origin: runtime.current.url,
      });
      await page.getByLabel('App id').fill(creds.appId);
      await page.getByLabel('API key').fill(creds.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Settings' }).waitFor();
      await page.getByText("Messages go to the deployment's own channel.").waitFor();
      expect(await page.getByRole('link', { name: 'Settings' }).getAttribute('aria-current')).toBe('page');
      expect(await page.getByRole('button', { name: 'Send test' }).count()).toBe(0);

      await page.getByLabel('Webhook URL').fill(hook.url);
      await page.getByLabel(/Batch size/).fill('25');
      await page.getByRole('button', { name: 'Save webhook' }).click();
      const box = page.getByRole('region', { name: 'Signing secret', exact: true });
      await box.waitFor();
      const secret = await box.getByRole('textbox', { name: 'Signing secret' }).inputValue();
      expect(secret).toMatch(/^whsec_/);
      expect(await box.textContent()).toContain('Copy it now: it will not be shown again.');
      expect(await box.textContent()).toContain('standardwebhooks');
      await page.getByText(`Saved: messages now go to ${hook.url}.`).waitFor();
      expect(await page.locator('.facts').textContent()).toContain('25 recipients a request');
      expect((await api.get('/api/destination')).body.data).toMatchObject({
        kind: 'webhook',
        url: hook.url,
        batchSize: 25,
        secretHint: secret.slice(-4),
      });

      // The copy button puts it on the clipboard; nothing keeps it in storage or the URL.
      await box.getByRole('button', { name: 'Copy' }).click();
      await box.getByText('Copied to the clipboard.').waitFor();
      // (Browser globals, which the Node types that check this file do not declare.)
      expect(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText())).toBe(secret);
      const kept = await page.evaluate(() => {
        const { sessionStorage: session, localStorage: local, location: where } = globalThis as any;
        return `${JSON.stringify({ ...session })} ${JSON.stringify({ ...local })} ${where.href}`;
      });
      expect(kept).not.toContain(secret.slice('whsec_'.length));

      // The test send: the receiver's status on the page, the event signed with that secret.
      await page.getByRole('button', { name: 'Send test' }).click();
      await page.getByText('Test event delivered: the webhook answered HTTP 204 in').waitFor();
      expect(hook.requests).toHaveLength(1);
      expect(hook.requests[0]?.json).toMatchObject({ type: 'test', appId: creds.appId });
      expect(verifies(hook.requests[0] as ReceivedRequest, secret)).toBe(true);
      hook.answer(() => ({ status: 503 }));
      await page.getByRole('button', { name: 'Send test' }).click();
      const failed = page.getByRole('alert');
      await failed.waitFor();
      expect(await failed.textContent()).toMatch(
        /^Test event failed: the webhook answered HTTP 503 in [\d,]+ ms\b/,
      );
      hook.answer(() => ({ status: 204 }));

      // After a reload the secret is gone for good: only its hint.
      await page.reload();
      await page.getByRole('heading', { name: 'Destination' }).waitFor();
      await page.locator('.facts', { hasText: `whsec_…${secret.slice(-4)}` }).waitFor();
      expect(await page.locator('.secret-box').count()).toBe(0);
      expect(await page.content()).not.toContain(secret.slice('whsec_'.length));
      expect(await page.getByLabel('Webhook URL').inputValue()).toBe(hook.url);

      // A URL the API refuses: its message, as the other pages show them.
      const refused = await api.put('/api/destination', { kind: 'webhook', url: 'ftp://127.0.0.1/hook' });
      expect(refused.status).toBe(400);
      await page.getByLabel('Webhook URL').fill('ftp://127.0.0.1/hook');
      await page.getByRole('button', { name: 'Save webhook' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toBe(`Could not save the webhook: ${refused.body.error.message}`);

      // Rotation: a new secret, shown once; the hint follows it.
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      const rotatedBox = page.getByRole('region', { name: 'New signing secret' });
      await rotatedBox.waitFor();
      const rotated = await rotatedBox.getByRole('textbox', { name: 'Signing secret' }).inputValue();
      expect(rotated).toMatch(/^whsec_/);
      expect(rotated).not.toBe(secret);
      expect(await rotatedBox.textContent()).toContain(
        'The previous secret keeps signing deliveries for 24 hours.',
      );
      await page.locator('.facts', { hasText: `whsec_…${rotated.slice(-4)}` }).waitFor();
      await rotatedBox.getByRole('button', { name: 'I have stored it' }).click();
      expect(await page.locator('.secret-box').count()).toBe(0);

      // Back to the deployment's default.
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Use the default instead' }).click();
      await page.getByText("Saved: messages now go to the deployment's default channel.").waitFor();
      await page.getByText("Messages go to the deployment's own channel.").waitFor();
      expect(await page.getByRole('button', { name: 'Send test' }).count()).toBe(0);
      expect((await api.get('/api/destination')).body.data.kind).toBe('default');
      await page.context().close();
    } finally {
      await hook.close();
    }
  });

  it('builds the very page the runtime serves as static files for any host (npm run dashboard:build)', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'dashboard-dist-'));
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/dashboard-build.ts', outdir]);
    expect(stdout).toMatch(/index\.html[\s\S]*app\.js[\s\S]*app\.css/);

    const index = readFileSync(join(outdir, 'index.html'), 'utf8');
    expect(index).toContain('<script type="module" src="app.js"></script>');
    expect(index).toContain('<link rel="stylesheet" href="app.css" />');
    for (const [name, type] of [
      ['index.html', 'text/html'],
      ['app.js', 'text/javascript'],
      ['app.css', 'text/css'],
    ] as const) {
      const served = await fetch(`${runtime.current.url}/${name}`);
      expect(served.headers.get('content-type')).toContain(type);
      expect(Buffer.from(await served.arrayBuffer()).equals(readFileSync(join(outdir, name)))).toBe(true);
    }
  });
});
