/**
 * A webhook receiver in a process of its own, for measuring arrival times: the system
 * under test runs in the test's process, so a receiver there would note a request only
 * when that process's event loop gets to it, and a stall would bunch arrivals that were
 * sent apart. This one notes `Date.now()` as each request arrives, answers `429` (with
 * `Retry-After: 1`) to the first `throttleFirst` requests and `204` to the rest, and
 * hands back what it saw on `GET /requests`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { ReceivedRequest } from './webhook-receiver.ts';

const SCRIPT = `
const { createServer } = require('node:http');
const throttleFirst = Number(process.argv[1] ?? 0);
const requests = [];
const server = createServer((req, res) => {
  const at = Date.now();
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(requests));
      return;
    }
    const n = requests.length + 1;
    const status = n <= throttleFirst ? 429 : 204;
    requests.push({ n, at, status, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(status, status === 429 ? { 'retry-after': '1' } : {});
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

/** One request as the recorder saw it: its arrival, its answer and its parsed body. */
export interface RecordedRequest extends Pick<ReceivedRequest, 'n' | 'at' | 'json'> {
  status: number;
}

export interface ArrivalRecorder {
  readonly url: string;
  /** Every request so far, in arrival order. */
  requests(): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

export async function startArrivalRecorder(
  options: { throttleFirst?: number } = {},
): Promise<ArrivalRecorder> {
  const child: ChildProcess = spawn(process.execPath, ['-e', SCRIPT, String(options.throttleFirst ?? 0)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const url = `http://127.0.0.1:${Number(String(line).trim())}`;
  return {
    url: `${url}/hook`,
    async requests() {
      const seen = (await (await fetch(`${url}/requests`)).json()) as {
        n: number;
        at: number;
        status: number;
        body: string;
      }[];
      return seen.map(({ body, ...r }) => ({ ...r, json: JSON.parse(body) }));
    },
    async close() {
      child.kill();
      await once(child, 'exit');
    },
  };
}
