/**
 * EventBridge Scheduler, locally: the REST-JSON operations the system uses
 * (CreateSchedule, GetSchedule, DeleteSchedule) for one-time `at(...)` schedules, which
 * fire by invoking their target asynchronously at their time. The SDK reaches it through
 * `AWS_ENDPOINT_URL_SCHEDULER`, so the code that schedules is the code that runs in AWS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback.ts';

export interface ScheduleTarget {
  Arn: string;
  RoleArn: string;
  Input?: string;
}

interface Schedule {
  Name: string;
  GroupName: string;
  ScheduleExpression: string;
  ScheduleExpressionTimezone?: string;
  Target: ScheduleTarget;
  ActionAfterCompletion?: 'DELETE' | 'NONE';
  State: 'ENABLED' | 'DISABLED';
  CreationDate: number;
  timer?: NodeJS.Timeout;
}

export interface SchedulerEmulator {
  readonly endpoint: string;
  /** Names of the schedules that exist, as `group/name`. */
  scheduleNames(): string[];
  stop(): Promise<void>;
}

/** `at(yyyy-mm-ddThh:mm:ss)` in UTC, as epoch ms; undefined when it is not that form. */
export function parseAtExpression(expression: string): number | undefined {
  const match = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/.exec(expression);
  if (!match) return undefined;
  const time = Date.parse(`${match[1]}Z`);
  return Number.isNaN(time) ? undefined : time;
}

export async function startSchedulerEmulator(options: {
  region: string;
  /** Fires a schedule's target (asynchronously, like the service). */
  invoke: (target: ScheduleTarget) => void;
}): Promise<SchedulerEmulator> {
  const schedules = new Map<string, Schedule>();
  const arn = (s: Schedule) =>
    `arn:aws:scheduler:${options.region}:000000000000:schedule/${s.GroupName}/${s.Name}`;

  const arm = (schedule: Schedule, at: number) => {
    const fire = () => {
      const remaining = at - Date.now();
      // Timers cap at about 24.8 days; re-arm until the time comes.
      if (remaining > 0) {
        schedule.timer = setTimeout(fire, Math.min(remaining, 2 ** 31 - 1));
        schedule.timer.unref();
        return;
      }
      if (schedule.State === 'ENABLED') options.invoke(schedule.Target);
      if (schedule.ActionAfterCompletion === 'DELETE')
        schedules.delete(`${schedule.GroupName}/${schedule.Name}`);
    };
    fire();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { Message: 'internal error' }, 'InternalServerException'));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const match = /^\/schedules\/([^/]+)$/.exec(url.pathname);
    if (!match)
      return send(
        res,
        404,
        { Message: `unsupported operation ${req.method} ${url.pathname}` },
        'ValidationException',
      );
    const name = decodeURIComponent(match[1] as string);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    const group = (req.method === 'POST' ? body.GroupName : url.searchParams.get('groupName')) || 'default';
    const key = `${group}/${name}`;
    const existing = schedules.get(key);

    if (req.method === 'POST') {
      if (existing)
        return send(res, 409, { Message: `Schedule ${name} already exists.` }, 'ConflictException');
      const at = parseAtExpression(body.ScheduleExpression ?? '');
      if (
        at === undefined ||
        (body.ScheduleExpressionTimezone && body.ScheduleExpressionTimezone !== 'UTC')
      ) {
        return send(
          res,
          400,
          { Message: 'The local scheduler supports one-time at(yyyy-mm-ddThh:mm:ss) schedules in UTC.' },
          'ValidationException',
        );
      }
      const schedule: Schedule = {
        Name: name,
        GroupName: group,
        ScheduleExpression: body.ScheduleExpression,
        ScheduleExpressionTimezone: body.ScheduleExpressionTimezone,
        Target: body.Target,
        ActionAfterCompletion: body.ActionAfterCompletion,
        State: body.State ?? 'ENABLED',
        CreationDate: Date.now() / 1000,
      };
      schedules.set(key, schedule);
      arm(schedule, at);
      return send(res, 200, { ScheduleArn: arn(schedule) });
    }
    if (!existing)
      return send(res, 404, { Message: `Schedule ${name} does not exist.` }, 'ResourceNotFoundException');
    if (req.method === 'GET') {
      const { timer: _timer, ...visible } = existing;
      return send(res, 200, { ...visible, Arn: arn(existing) });
    }
    if (req.method === 'DELETE') {
      clearTimeout(existing.timer);
      schedules.delete(key);
      return send(res, 200, {});
    }
    return send(res, 405, { Message: `unsupported method ${req.method}` }, 'ValidationException');
  }

  const { endpoint, close } = await listenOnLoopback(server);
  return {
    endpoint,
    scheduleNames: () => [...schedules.keys()],
    stop() {
      for (const s of schedules.values()) clearTimeout(s.timer);
      return close();
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (errorType) headers['x-amzn-ErrorType'] = errorType;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}
