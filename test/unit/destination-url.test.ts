import { describe, expect, it } from 'vitest';
import {
  checkDestinationUrl,
  checkResolvedUrl,
  forbiddenAddressReason,
  isLoopbackHost,
  type Lookup,
} from '#shared/domain/destination-url.ts';
import { MAX_DESTINATION_URL_LENGTH } from '#shared/domain/destinations.ts';

const onAws = { allowLoopback: false };
const local = { allowLoopback: true };

/** The refusal of `raw`, failing the test when the URL is accepted. */
function refusal(raw: string, policy = onAws) {
  const checked = checkDestinationUrl(raw, policy);
  if (checked.ok) throw new Error(`expected ${raw} to be refused`);
  return checked;
}

describe('checkDestinationUrl', () => {
  it('accepts a public https URL, and hands back the parsed URL', () => {
    const checked = checkDestinationUrl('https://hooks.example.com/campaigns?app=1', onAws);
    expect(checked.ok).toBe(true);
    if (checked.ok) expect(checked.url.hostname).toBe('hooks.example.com');
    expect(checkDestinationUrl('https://93.184.215.14:8443/x', onAws).ok).toBe(true);
  });

  it(`accepts ${MAX_DESTINATION_URL_LENGTH} characters and refuses one more, naming the limit`, () => {
    const base = 'https://hooks.example.com/';
    const fits = `${base}${'a'.repeat(MAX_DESTINATION_URL_LENGTH - base.length)}`;
    expect(fits).toHaveLength(MAX_DESTINATION_URL_LENGTH);
    expect(checkDestinationUrl(fits, onAws).ok).toBe(true);
    const tooLong = refusal(`${fits}a`);
    expect(tooLong.rule).toBe('max-length');
    expect(tooLong.message).toBe(
      `url: ${MAX_DESTINATION_URL_LENGTH + 1} characters, more than the limit of ${MAX_DESTINATION_URL_LENGTH} (rule "max-length"); use a shorter URL`,
    );
  });

  it('refuses text that is not an absolute URL', () => {
    for (const raw of ['', 'hooks.example.com/x', '/relative', 'https://']) {
      const refused = refusal(raw);
      expect(refused.rule, raw).toBe('url-syntax');
      expect(refused.message).toMatch(
        /^url: not an absolute URL \(rule "url-syntax"\); give one like https:/,
      );
    }
  });

  it('refuses every scheme but https on AWS, http to loopback included', () => {
    for (const raw of [
      'http://hooks.example.com/x',
      'http://127.0.0.1:8080/x',
      'http://localhost/x',
      'ftp://hooks.example.com/x',
      'file:///etc/passwd',
    ]) {
      const refused = refusal(raw);
      expect(refused.rule, raw).toBe('https-only');
      expect(refused.message).toMatch(
        /^url: the scheme \w+: is not allowed \(rule "https-only"\); use https:\/\/$/,
      );
    }
  });

  it('allows http to a loopback host when local, and nothing else over http', () => {
    for (const raw of [
      'http://127.0.0.1:8080/x',
      'http://127.1.2.3/x',
      'http://localhost:3000/x',
      'http://api.localhost/x',
      'http://[::1]:3000/x',
      'https://localhost/x',
    ]) {
      expect(checkDestinationUrl(raw, local).ok, raw).toBe(true);
    }
    const refused = refusal('http://hooks.example.com/x', local);
    expect(refused.rule).toBe('https-only');
    expect(refused.message).toContain('http:// is allowed for a loopback host only');
  });

  it('refuses a user name or password without repeating them', () => {
    for (const raw of ['https://ann:hunter2@hooks.example.com/x', 'https://ann@hooks.example.com/x']) {
      const refused = refusal(raw);
      expect(refused.rule).toBe('no-credentials');
      expect(refused.message).not.toContain('hunter2');
      expect(refused.message).not.toContain('ann');
    }
  });

  it('refuses a fragment, an empty one too', () => {
    for (const raw of ['https://hooks.example.com/x#part', 'https://hooks.example.com/x#']) {
      const refused = refusal(raw);
      expect(refused.rule, raw).toBe('no-fragment');
      expect(refused.message).toBe(
        'url: has a fragment (#…), which is never sent (rule "no-fragment"); remove it',
      );
    }
  });

  it.each([
    ['https://127.0.0.1/x', '127.0.0.1', 'a loopback'],
    ['https://localhost/x', 'localhost', 'a loopback'],
    ['https://[::1]/x', '::1', 'a loopback'],
    ['https://10.1.2.3/x', '10.1.2.3', 'a private'],
    ['https://169.254.169.254/latest/meta-data/', '169.254.169.254', 'an instance metadata'],
    ['https://[fd00:ec2::254]/', 'fd00:ec2::254', 'an instance metadata'],
    // The URL parser reads other spellings of an address: they are judged as the address.
    ['https://0x7f.1/x', '127.0.0.1', 'a loopback'],
    ['https://2852039166/x', '169.254.169.254', 'an instance metadata'],
    ['https://[::ffff:10.0.0.1]/x', '::ffff:a00:1', 'a private'],
  ])('refuses %s: the host is %s, %s address', (raw, host, kind) => {
    const refused = refusal(raw);
    expect(refused.rule).toBe('forbidden-address');
    expect(refused.message).toBe(
      `url: the host ${host} is ${kind} address, inside the deployment's network (rule "forbidden-address"); use a public host name`,
    );
  });

  it('keeps every forbidden range but loopback refused when local', () => {
    expect(checkDestinationUrl('https://127.0.0.1/x', local).ok).toBe(true);
    for (const raw of [
      'https://10.0.0.1/x',
      'https://169.254.169.254/',
      'https://[fe80::1]/',
      'https://0.0.0.0/',
    ]) {
      expect(refusal(raw, local).rule, raw).toBe('forbidden-address');
    }
  });
});

describe('forbiddenAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.0.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'shared-address-space'],
    ['100.127.255.255', 'shared-address-space'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['ff02::1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    // IPv4-mapped IPv6, in both spellings: judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['not an address', 'not-an-ip-address'],
  ])('refuses %s on AWS as %s', (address, reason) => {
    expect(forbiddenAddressReason(address, onAws)).toBe(reason);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '223.255.255.255',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
  ])('allows the public address %s', (address) => {
    expect(forbiddenAddressReason(address, onAws)).toBeUndefined();
    expect(forbiddenAddressReason(address, local)).toBeUndefined();
  });

  it('allows loopback, and only loopback, when local', () => {
    for (const address of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) {
      expect(forbiddenAddressReason(address, local), address).toBeUndefined();
    }
    expect(forbiddenAddressReason('10.0.0.1', local)).toBe('private');
    expect(forbiddenAddressReason('169.254.169.254', local)).toBe('metadata');
    expect(forbiddenAddressReason('0.0.0.0', local)).toBe('unspecified');
  });

  it('tells loopback hosts from others', () => {
    for (const host of ['localhost', 'LOCALHOST.', 'a.localhost', '127.0.0.5', '[::1]', '[::ffff:7f00:1]']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['localhost.example.com', 'mylocalhost', '10.0.0.1', 'example.com']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe('checkResolvedUrl', () => {
  /** A resolver answering from a table, recording what it was asked. */
  function table(answers: Record<string, string[]>) {
    const asked: string[] = [];
    const lookup: Lookup = async (hostname) => {
      asked.push(hostname);
      const addresses = answers[hostname];
      if (addresses === undefined)
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    return { lookup, asked };
  }

  it('accepts a host whose every address is public', async () => {
    const { lookup, asked } = table({ 'hooks.example.com': ['93.184.215.14', '2606:2800:21f:cb07::1'] });
    expect(await checkResolvedUrl(new URL('https://hooks.example.com/x'), onAws, lookup)).toEqual({
      ok: true,
    });
    expect(asked).toEqual(['hooks.example.com']);
  });

  it('refuses a host when any one of its addresses is forbidden, naming host, address and class', async () => {
    const { lookup } = table({ 'sneaky.example.com': ['93.184.215.14', '169.254.169.254'] });
    expect(await checkResolvedUrl(new URL('https://sneaky.example.com/x'), onAws, lookup)).toEqual({
      ok: false,
      rule: 'forbidden-address',
      message:
        'url: the host sneaky.example.com resolves to 169.254.169.254, an instance metadata address inside the deployment\'s network (rule "forbidden-address"); point it at public addresses only',
    });
  });

  it('judges loopback by the policy', async () => {
    const { lookup } = table({ 'dev.example.com': ['127.0.0.1'] });
    const url = new URL('https://dev.example.com/x');
    const refused = await checkResolvedUrl(url, onAws, lookup);
    expect(refused).toMatchObject({ ok: false, rule: 'forbidden-address' });
    if (!refused.ok) expect(refused.message).toContain('127.0.0.1, a loopback address');
    expect(await checkResolvedUrl(url, local, lookup)).toEqual({ ok: true });
  });

  it('checks an IP literal host without a lookup', async () => {
    const { lookup, asked } = table({});
    expect(await checkResolvedUrl(new URL('https://[fd00:ec2::254]/'), onAws, lookup)).toMatchObject({
      ok: false,
      rule: 'forbidden-address',
    });
    expect(await checkResolvedUrl(new URL('https://93.184.215.14/'), onAws, lookup)).toEqual({ ok: true });
    expect(asked).toEqual([]);
  });

  it('refuses a host that does not resolve, naming the code', async () => {
    const { lookup } = table({ 'empty.example.com': [] });
    expect(await checkResolvedUrl(new URL('https://nowhere.example.com/'), onAws, lookup)).toEqual({
      ok: false,
      rule: 'resolvable-host',
      message:
        'url: the host nowhere.example.com does not resolve (ENOTFOUND) (rule "resolvable-host"); check the host name and its DNS records',
    });
    expect(await checkResolvedUrl(new URL('https://empty.example.com/'), onAws, lookup)).toMatchObject({
      ok: false,
      rule: 'resolvable-host',
    });
  });
});
