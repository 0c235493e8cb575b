/** Load tests only ever target this machine: a URL whose host is not loopback is refused. */

/** True when `url` is plain http to 127.0.0.0/8, `localhost` or `[::1]`. */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = parsed.hostname;
  return (
    parsed.protocol === 'http:' &&
    (host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
  );
}

/** Throws unless `url` is a loopback URL (see `isLoopbackUrl`). */
export function assertLoopback(url: string): void {
  if (!isLoopbackUrl(url)) {
    throw new Error(
      `load tests only target loopback addresses (http://127.0.0.1, localhost or [::1]), not ${url}`,
    );
  }
}

/** How a failed `fetch` failed: `timeout`, or `network` with the cause's code (`network ECONNRESET`). */
export function fetchFailure(error: unknown): { kind: string; message: string } {
  const e = error as Error & { cause?: { code?: string; name?: string; message?: string } };
  if (e.name === 'TimeoutError') return { kind: 'timeout', message: e.message };
  const code = e.cause?.code ?? e.cause?.name;
  return {
    kind: code ? `network ${code}` : 'network',
    message: `${e.message}${e.cause ? `: ${e.cause.message ?? ''} (${code ?? 'no code'})` : ''}`,
  };
}
