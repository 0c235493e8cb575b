import { describe, expect, it } from 'vitest';
import type { CampaignView } from '../../cli/api.ts';
import { campaignText } from '../../cli/campaigns.ts';
import { deliveryNote } from '../../cli/demo.ts';
import { etaAndRate, formatDuration, ProgressBar } from '../../cli/progress.ts';

/** A stream that records what is written, as a terminal (`columns` wide) or as a pipe. */
function stream(tty: boolean, columns?: number) {
  const writes: string[] = [];
  const fake = {
    isTTY: tty,
    columns,
    write(chunk: string) {
      writes.push(chunk);
      return true;
    },
  };
  return { writes, stream: fake as unknown as NodeJS.WriteStream };
}

describe('progress bars', () => {
  it('redraw one line in place on a terminal, cut to its width, and end it when finished', () => {
    const out = stream(true, 80);
    const bar = new ProgressBar('upload', 200, { enabled: true, stream: out.stream, unit: 'bytes' });
    bar.update(50);
    bar.finish('sent', 200);
    expect(out.writes).toHaveLength(3);
    const CLEAR = '\x1b[K';
    const redraws = out.writes.slice(0, 2);
    for (const w of redraws) {
      expect(w.startsWith('\r') && w.endsWith(CLEAR), JSON.stringify(w)).toBe(true);
      expect(w.length - 1 - CLEAR.length).toBeLessThanOrEqual(79);
    }
    const lines = redraws.map((w) => w.slice(1, -CLEAR.length));
    expect(lines[0]).toMatch(/^upload +\[#{7}-{21}\] +25% {2}50 B \/ 200 B/);
    expect(lines[1]).toMatch(/^upload +\[#{28}\] 100% {2}200 B \/ 200 B/);
    expect(out.writes[2]).toBe('\n');
    expect(out.writes.join('')).not.toContain('\n\r');

    // A narrow terminal: the line is cut (a wrapped line could not be redrawn in place).
    const narrow = stream(true, 20);
    new ProgressBar('upload', 200, { enabled: true, stream: narrow.stream }).update(10);
    expect(narrow.writes).toEqual([`\rupload    [#-------${CLEAR}`]);
  });

  it('print whole lines, not redraws, in a pipe, and nothing at all when disabled', () => {
    const out = stream(false);
    const bar = new ProgressBar('import', 1000, { enabled: true, stream: out.stream, unit: 'rows' });
    bar.update(10);
    bar.update(20); // within the interval: not printed
    bar.finish('completed', 1000);
    expect(out.writes).toEqual([
      expect.stringMatching(/^import +\[-+\] +1% {2}10 \/ 1,000 .*\n$/),
      expect.stringMatching(/^import +\[#+\] 100% {2}1,000 \/ 1,000 .*completed\n$/),
    ]);
    expect(out.writes.join('')).not.toContain('\r');

    const off = stream(true);
    const silent = new ProgressBar('import', 10, { enabled: false, stream: off.stream });
    silent.update(5);
    silent.finish('done', 10);
    expect(off.writes).toEqual([]);
  });
});

describe("a sending campaign's rate and ETA", () => {
  const now = Date.parse('2026-12-01T09:00:00.000Z');
  const sending: CampaignView = {
    id: 'cmp_1',
    appId: 'app_1',
    status: 'sending',
    name: 'Spring',
    templateId: 'tpl_1',
    tag: null,
    recipientCount: 10_000,
    scheduledAt: null,
    counts: { pending: 0, queued: 5_800, sent: 4_200, failed: 0, skipped: 0 },
    updatedAt: '2026-12-01T08:58:00.000Z',
    createdAt: '2026-12-01T08:50:00.000Z',
    progress: { ratePerSecond: 52.3, eta: '2026-12-01T09:01:20.000Z', startedAt: '2026-12-01T08:58:40.000Z' },
  };

  it('reads durations in seconds, minutes or hours', () => {
    expect([400, 45_000, 185_000, 7_620_000, -3_000].map(formatDuration)).toEqual([
      '0 s',
      '45 s',
      '3 min 05 s',
      '2 h 07 min',
      '0 s',
    ]);
  });

  it('campaign get prints when it started, the rate and the ETA while sending', () => {
    const lines = campaignText(sending, now).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '  started     2026-12-01T08:58:40.000Z',
        '  rate        52.3 recipients/s over the last minute',
        '  eta         2026-12-01T09:01:20.000Z (in 1 min 20 s)',
      ]),
    );
    const measuring = campaignText(
      { ...sending, progress: { ratePerSecond: null, eta: null, startedAt: '2026-12-01T08:59:59.000Z' } },
      now,
    );
    expect(measuring).toContain('  rate        not measured yet (nothing settled in the last minute)');
    expect(measuring).toContain('  eta         unknown until a rate is measured');
    // No progress (any other status): none of these lines.
    const { progress: _progress, ...sent } = sending;
    expect(campaignText({ ...sent, status: 'sent' }, now)).not.toMatch(/^ {2}(started|rate|eta) /m);
  });

  it('the demo puts the ETA and the rate first on its delivery line, then the counts', () => {
    expect(deliveryNote(sending, now)).toBe(
      'eta in 1 min 20 s (52.3/s); pending 0, queued 5800, sent 4200, failed 0',
    );
    expect(etaAndRate({ ratePerSecond: null, eta: null }, now)).toBe('eta unknown (rate not measured yet)');
    const { progress: _progress, ...scheduled } = sending;
    expect(deliveryNote(scheduled, now)).toBe('pending 0, queued 5800, sent 4200, failed 0');
  });
});
