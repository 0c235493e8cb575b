/**
 * `npm run test:unit` runs pure tests (README, Tests): no unit test starts a server or an
 * emulator, writes a file or starts a process. Reading the repository's own files (docs,
 * fixtures, git's list of them) is allowed. A test that needs more lives in
 * test/integration, whose project gives it the time I/O takes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const unitDir = new URL('./', import.meta.url);

/** What a test doing I/O calls, and the words for it. */
const IO_CALLS: readonly [RegExp, string][] = [
  [/\bcreateServer\(|\.listen\(|\blistenOnLoopback\(|\bcreateSocket\(/, 'starts a server'],
  [
    /\bstart\w*(Emulator|Receiver|EmbeddedAws|LocalRuntime|DynamoDbLocal)\(|\buseRuntime\(/,
    'starts an emulator',
  ],
  [
    /\b(writeFile|writeFileSync|appendFile|appendFileSync|mkdtemp|mkdtempSync|mkdir|mkdirSync|createWriteStream)\(/,
    'writes files',
  ],
  [/\b(spawn|spawnSync|fork)\(|\bfrom 'node:worker_threads'/, 'starts a process'],
];

/** The I/O `source` does, in words; none for a pure test. */
function ioOf(source: string): string[] {
  return IO_CALLS.filter(([pattern]) => pattern.test(source)).map(([, words]) => words);
}

describe('unit tests', () => {
  it('do no I/O beyond reading the repository', () => {
    // This file names the calls in its examples, as strings.
    const files = readdirSync(unitDir).filter(
      (name) => name.endsWith('.test.ts') && name !== 'test-levels.test.ts',
    );
    expect(files.length).toBeGreaterThan(40);
    const impure = files.flatMap((name) => {
      const io = ioOf(readFileSync(new URL(name, unitDir), 'utf8'));
      return io.length > 0 ? [`${name}: ${io.join(', ')}`] : [];
    });
    expect(impure).toEqual([]);
  });

  it.each([
    ['const server = createServer((req, res) => res.end());', 'starts a server'],
    ['await new Promise((r) => server.listen(0, "127.0.0.1", r));', 'starts a server'],
    ['receiver = await startWebhookReceiver();', 'starts an emulator'],
    ['const aws = await startEmbeddedAws();', 'starts an emulator'],
    ['const runtime = useRuntime({ env });', 'starts an emulator'],
    ['dir = await mkdtemp(join(tmpdir(), "x-"));', 'writes files'],
    ['await writeFile(path, "a");', 'writes files'],
    ['const child = spawn(process.execPath, [script]);', 'starts a process'],
  ])('tell I/O from pure code: %s', (source, words) => {
    expect(ioOf(source)).toEqual([words]);
    expect(
      ioOf("const text = readFileSync(new URL('../../docs/delivery.md', import.meta.url), 'utf8');"),
    ).toEqual([]);
  });
});
