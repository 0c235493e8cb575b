/** The campaign view's live chart of recipients processed over time, with the measured pace and the ETA. */
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { Campaign } from './api.ts';
import { nextSamples, type Sample } from './delivery-samples.ts';
import { formatClock, formatNumber } from './format.tsx';

const HEIGHT = 200;
// uPlot draws on a canvas, which cannot read app.css's custom properties: --accent, --bad, --muted, --line.
const COLORS = { processed: '#2456d6', fill: 'rgba(36, 86, 214, 0.08)', failed: '#b3261e' };
const AXIS = { stroke: '#5d6677', grid: { stroke: '#eceef2', width: 1 }, ticks: { stroke: '#dde1e8' } };
// Whole recipients on the y axis however small the campaign, whole seconds on the x axis however short the send.
const COUNT_STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1_000, 10_000, 100_000].map((p) => m * p));
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200];

/** A tick of the time axis (seconds since the epoch) as the time of day, to the second below a minute's step. */
const tickTime = (seconds: number, step: number) =>
  new Date(seconds * 1000).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    ...(step < 60 ? { second: '2-digit' } : {}),
    hourCycle: 'h23',
  });

/**
 * The samples the view has seen of the campaign, drawn while it is `sending` and kept
 * after the end; nothing for a campaign the page never saw sending.
 */
export function DeliveryChart(props: { campaign: Campaign }) {
  const { campaign } = props;
  // One step per answer of the API (a new campaign object), taken in the render that shows
  // it, so the chart, its text alternative and the pace always describe the same answer.
  const history = useRef<{ seen?: Campaign; samples: readonly Sample[] }>({ samples: [] });
  if (history.current.seen !== campaign) {
    history.current = { seen: campaign, samples: nextSamples(history.current.samples, campaign, Date.now()) };
  }
  const { samples } = history.current;
  if (samples.length === 0) return null;

  const last = samples.at(-1) as Sample;
  const first = samples[0] as Sample;
  const { recipientCount } = campaign;
  const pace = paceOf(campaign);
  const label =
    `Recipients processed over time: ${formatNumber(last.processed)} of ${formatNumber(recipientCount)}` +
    `${last.failed > 0 ? ` (${formatNumber(last.failed)} failed)` : ''} since ${formatClock(new Date(first.at))}` +
    `${pace.alt ? `; ${pace.alt}` : ''}.`;
  return (
    <figure class="chart stack-sm">
      <figcaption class="row spread small">
        <span class="muted">Processed over time (sent, failed or skipped)</span>
        <span data-testid="pace">{pace.text}</span>
      </figcaption>
      <UPlotChart samples={samples} total={recipientCount} label={label} />
    </figure>
  );
}

/** The pace beside the chart, and how the chart's text alternative ends (the ETA, or the end). */
function paceOf(campaign: Campaign): { text: string; alt?: string } {
  if (campaign.status === 'sending') {
    const progress = campaign.progress;
    if (!progress || progress.ratePerSecond === null)
      return { text: 'measuring…', alt: 'ETA not measured yet' };
    const rate = progress.ratePerSecond.toLocaleString('en-US', {
      maximumFractionDigits: progress.ratePerSecond < 100 ? 1 : 0,
    });
    const eta = progress.eta ? `ETA ${formatClock(progress.eta)}` : undefined;
    return { text: `≈ ${rate}/s${eta ? ` · ${eta}` : ''}`, alt: eta };
  }
  if (campaign.completedAt) {
    const finished = `finished at ${formatClock(campaign.completedAt)}`;
    return { text: finished, alt: finished };
  }
  return { text: '' };
}

/**
 * uPlot in a div: made once on mount, fed with `setData` on every new sample, resized with
 * its container, destroyed on unmount. The div carries the text alternative (`role="img"`).
 */
function UPlotChart(props: { samples: readonly Sample[]; total: number; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height: HEIGHT,
        scales: {
          // A first sample alone: a minute from it (uPlot would stretch the axis to 1,000 days).
          x: { time: true, range: (u, min, max) => (u.data[0].length === 1 ? [min, min + 60] : [min, max]) },
          // From none to every recipient, so the line climbs toward the top as the send goes.
          y: { range: () => [0, Math.max(latest.current.total, 1)] },
        },
        series: [
          {},
          { label: 'Processed', stroke: COLORS.processed, fill: COLORS.fill, width: 2 },
          { label: 'Failed', stroke: COLORS.failed, width: 1.5 },
        ],
        axes: [
          {
            ...AXIS,
            // Room for an HH:MM:SS label between two ticks.
            space: 90,
            incrs: TIME_STEPS,
            values: (_u, splits, _axis, _space, step) => splits.map((t) => tickTime(t, step)),
          },
          {
            ...AXIS,
            size: 64,
            incrs: COUNT_STEPS,
            values: (_u, splits) => splits.map((n) => formatNumber(n)),
          },
        ],
        // A live chart: no drag-to-zoom that the next sample would undo.
        cursor: { drag: { x: false, y: false } },
        // The series' names only: the counts are in the stats above.
        legend: { live: false },
      },
      toData(latest.current.samples),
      el,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = undefined;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(toData(props.samples));
  }, [props.samples, props.total]);

  return <div ref={host} class="chart-plot" role="img" aria-label={props.label} />;
}

/** uPlot's columns: times in seconds, then one array per series. */
function toData(samples: readonly Sample[]): uPlot.AlignedData {
  return [samples.map((s) => s.at / 1000), samples.map((s) => s.processed), samples.map((s) => s.failed)];
}
