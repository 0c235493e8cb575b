/**
 * The API functions' cache of apps' key hashes: an entry per app id for `ttlMs`, at most
 * `maxApps` entries (the least recently read is dropped first), so that a stream of made-up
 * app ids cannot grow a warm function's memory without bound.
 */
export interface AuthCache {
  /** The cached hashes of `appId`, or undefined when absent or expired. */
  get(appId: string, now: number): string[] | undefined;
  set(appId: string, hashes: string[], now: number): void;
  readonly size: number;
}

export function createAuthCache(options: { ttlMs: number; maxApps: number }): AuthCache {
  const entries = new Map<string, { hashes: string[]; until: number }>();
  return {
    get(appId, now) {
      const entry = entries.get(appId);
      if (!entry) return undefined;
      entries.delete(appId);
      if (entry.until < now) return undefined;
      // Read again: the most recently used goes last, so it is dropped last.
      entries.set(appId, entry);
      return entry.hashes;
    },
    set(appId, hashes, now) {
      entries.delete(appId);
      while (entries.size >= options.maxApps) entries.delete(entries.keys().next().value as string);
      entries.set(appId, { hashes, until: now + options.ttlMs });
    },
    get size() {
      return entries.size;
    },
  };
}
