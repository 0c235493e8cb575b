/** S3 and SQS from fauxqs, in a child Node process of its own (the second core). */
import { fileURLToPath } from 'node:url';
import { spawnManaged } from './child-process.ts';

export interface Fauxqs {
  readonly endpoint: string;
  /** Process group of the fauxqs child. */
  readonly processGroup: number;
  stop(): Promise<void>;
}

export async function startFauxqsProcess(): Promise<Fauxqs> {
  const entry = fileURLToPath(new URL('./fauxqs-server.ts', import.meta.url));
  const child = spawnManaged(process.execPath, [entry]);
  let output = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.process.stdout?.on('data', (d) => {
      output += String(d);
      const match = /\{"port":(\d+)\}/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.process.stderr?.on('data', (d) => {
      output += String(d);
    });
    child.process.once('exit', (code) =>
      reject(new Error(`fauxqs exited during start-up (${code}): ${output}`)),
    );
  });
  const timeout = setTimeout(() => child.stop(), 30_000);
  try {
    const port = await ready;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      processGroup: child.process.pid as number,
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop();
    throw error;
  } finally {
    clearTimeout(timeout);
  }
}
