/**
 * Progress bars on stderr. On a terminal: one line, redrawn in place (at most 10 times a
 * second). Elsewhere (a pipe, a CI log): a plain line at most every `plainEveryMs` and
 * one at the end, so logs stay readable. Silent when disabled (`--json`).
 */

export interface ProgressOptions {
  /** Off: draws nothing. */
  enabled: boolean;
  /** Where to draw; stderr by default. */
  stream?: NodeJS.WriteStream;
  /** How often a non-terminal gets a line. */
  plainEveryMs?: number;
  /** How the amounts are shown (bytes or rows). */
  unit?: 'bytes' | 'rows';
}

const WIDTH = 28;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A duration for people: `45 s`, `3 min 05 s`, `2 h 07 min` (under a second is `0 s`). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${String(total % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/**
 * A sending campaign's ETA and rate as of `now`, ETA first (a terminal cuts a long line):
 * `eta in 1 min 20 s (52.3/s)`, or `eta unknown (rate not measured yet)`.
 */
export function etaAndRate(
  progress: { ratePerSecond: number | null; eta: string | null },
  now: number,
): string {
  const eta =
    progress.eta === null ? 'eta unknown' : `eta in ${formatDuration(Date.parse(progress.eta) - now)}`;
  const rate = progress.ratePerSecond === null ? 'rate not measured yet' : `${progress.ratePerSecond}/s`;
  return `${eta} (${rate})`;
}

export class ProgressBar {
  private readonly label: string;
  private total: number;
  private readonly options: ProgressOptions;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly started = performance.now();
  private lastDraw = -Infinity;
  private value = 0;
  private note = '';
  private done = false;

  constructor(label: string, total: number, options: ProgressOptions) {
    this.label = label;
    this.total = total;
    this.options = options;
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
  }

  /** Sets the amount done (and optionally a new total and a note after the numbers). */
  update(value: number, extra: { total?: number; note?: string } = {}): void {
    if (extra.total !== undefined) this.total = extra.total;
    if (extra.note !== undefined) this.note = extra.note;
    this.value = value;
    if (!this.options.enabled || this.done) return;
    const now = performance.now();
    const every = this.tty ? 100 : (this.options.plainEveryMs ?? 2000);
    if (now - this.lastDraw < every) return;
    this.lastDraw = now;
    this.draw();
  }

  /** Draws the final state and ends the line. */
  finish(note?: string, value?: number): void {
    if (note !== undefined) this.note = note;
    if (value !== undefined) this.value = value;
    if (!this.options.enabled || this.done) return;
    this.done = true;
    this.draw();
    if (this.tty) this.stream.write('\n');
  }

  private amount(n: number): string {
    return this.options.unit === 'bytes' ? formatBytes(n) : formatCount(n);
  }

  private draw(): void {
    const ratio = this.total > 0 ? Math.min(1, this.value / this.total) : 0;
    const filled = Math.round(ratio * WIDTH);
    const seconds = (performance.now() - this.started) / 1000;
    const text = `${this.label.padEnd(9)} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(
      Math.floor(ratio * 100),
    ).padStart(3)}%  ${this.amount(this.value)} / ${this.amount(this.total)}  ${seconds.toFixed(1)}s${
      this.note ? `  ${this.note}` : ''
    }`;
    // Cut to the terminal's width: a wrapped line could not be redrawn in place.
    const columns = this.stream.columns;
    if (this.tty) this.stream.write(`\r${columns ? text.slice(0, columns - 1) : text}\x1b[K`);
    else this.stream.write(`${text}\n`);
  }
}
