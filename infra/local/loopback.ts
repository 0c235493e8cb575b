import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on a free 127.0.0.1 port; `close` drops open connections and waits for the server. */
export async function listenOnLoopback(
  server: Server,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
