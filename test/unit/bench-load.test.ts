import { describe, expect, it } from 'vitest';
import { isLoopbackUrl } from '#bench/lib/loopback.ts';
import { parseLoadArgs } from '#bench/load.ts';

describe('load test targets', () => {
  it('accepts loopback addresses only', () => {
    for (const url of [
      'http://127.0.0.1:3000',
      'http://localhost:3000/api',
      'http://[::1]:8080',
      'http://127.1.2.3',
    ]) {
      expect(isLoopbackUrl(url), url).toBe(true);
    }
    for (const url of [
      'http://192.0.2.1:3000',
      'https://127.0.0.1:3000',
      'http://127.0.0.1.example.com',
      'http://localhost.example.com',
      'http://127.0.0.1@example.com',
      'not a url',
    ]) {
      expect(isLoopbackUrl(url), url).toBe(false);
    }
  });
});

describe('bench:load flags', () => {
  it('defaults to 50 clients for 30 s, then 20 uploads of 10,000 rows', () => {
    expect(parseLoadArgs([])).toEqual({
      options: { clients: 50, seconds: 30, uploads: 20, rows: 10_000 },
      json: false,
    });
  });

  it('names the flag and its bounds when a value is wrong', () => {
    expect(() => parseLoadArgs(['--rows', '100001'])).toThrow(
      "--rows must be a whole number from 1 to 100000, not '100001'",
    );
    expect(() => parseLoadArgs(['--clients', 'many'])).toThrow('--clients must be a whole number');
    expect(() => parseLoadArgs(['--url', 'http://192.0.2.1'])).toThrow('--url must be a loopback address');
  });
});
