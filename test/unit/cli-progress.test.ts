import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../cli/progress.ts';

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
