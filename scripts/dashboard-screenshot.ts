/**
 * `npm run dashboard:screenshot`: docs/dashboard.png, the dashboard at 1280×800 showing
 * a campaign while it is delivered, with its chart two thirds of the way up, driven as an
 * operator would (sign in, drop a CSV with a few bad rows, Send now) against a local
 * runtime of its own. Its messages go to a webhook on loopback paced at 50 messages a
 * second that turns a few users away, so the send lasts long enough to draw a line,
 * measure its rate and show an ETA, and shows some failures.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime } from '#infra/local/runtime.ts';
import { launchChromium } from '#test/support/browser.ts';
import { startWebhookReceiver } from '#test/support/webhook-receiver.ts';

const output = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const outbox = join(mkdtempSync(join(tmpdir(), 'dashboard-shot-')), 'outbox.jsonl');
const runtime = await startLocalRuntime({ port: 0, env: { OUTBOX_PATH: outbox } });
const browser = await launchChromium();
const receiver = await startWebhookReceiver();
receiver.answer(async (request) => {
  return {
    status: 200,
    body: {
      results: request.json.messages.map((m) =>
        m.userId.endsWith('7')
          ? { idempotencyKey: m.idempotencyKey, status: 'rejected', reason: 'mailbox full' }
          : { idempotencyKey: m.idempotencyKey, status: 'accepted' },
      ),
    },
  };
});

async function api(method: string, path: string, body?: unknown): Promise<{ id: string }> {
  const res = await fetch(`${runtime.url}/api${path}`, {
    method,
    headers: { appId: runtime.appId, apiKey: runtime.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: { id: string } }).data;
}

function audience(): string {
  const names = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Radia', 'Linus'];
  const lines = ['user_id,name,discount'];
  for (let i = 1; i <= 1200; i += 1) lines.push(`user-${i},${names[i % names.length]},${5 + (i % 4) * 5}`);
  lines.splice(318, 0, 'user-x1,Frances,ten');
  lines.splice(741, 0, ',Niklaus,15');
  lines.splice(902, 0, 'user 77,John,20');
  return `${lines.join('\n')}\n`;
}

try {
  await api('PUT', '/destination', { kind: 'webhook', url: receiver.url, ratePerSecond: 50 });
  const template = await api('POST', '/templates', {
    name: 'Spring offer',
    body: 'Hi {{name}}, {{discount}}% off everything this week.',
    variableSchema: { name: { type: 'string', required: true }, discount: { type: 'number', default: 10 } },
  });
  await api('PUT', `/templates/${template.id}`, { status: 'approved' });
  await api('POST', '/campaigns', { name: 'Newsletter (March)', templateId: template.id, tag: 'newsletter' });
  const campaign = await api('POST', '/campaigns', {
    name: 'Spring sale',
    templateId: template.id,
    tag: 'spring-2026',
  });

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${runtime.url}/`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Spring sale' }).click();
  await page.getByLabel('Drop a CSV file here, or choose one').setInputFiles({
    name: 'spring-sale.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(audience()),
  });
  // The page checks the file first (the dry run); the import is the second click.
  await page.getByRole('button', { name: 'Import 1,200 recipients' }).click({ timeout: 120_000 });
  await page.locator('.success', { hasText: 'Import complete' }).waitFor({ timeout: 120_000 });
  await page.getByRole('button', { name: 'Send now' }).click();
  // Caught mid-send, once 800 to 1,199 of the 1,200 are processed, as the chart's text alternative says.
  await page
    .getByRole('img', { name: /^Recipients processed over time: (?:[89]\d\d|1,[01]\d\d) of 1,200 / })
    .waitFor({ timeout: 120_000 });
  await page.screenshot({ path: output });
  console.log(`wrote ${output} (campaign ${campaign.id})`);
} finally {
  await browser.close();
  // The runtime first: its consumers are still delivering to the receiver.
  await runtime.stop();
  await receiver.close();
}
