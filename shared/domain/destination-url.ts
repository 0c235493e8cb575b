/**
 * The rules a webhook destination's URL must follow, and the guard that keeps deliveries
 * off addresses inside the deployment's own network.
 *
 * An app chooses its URL, so without these rules anyone holding an API key could make the
 * deliver Lambda POST to the instance metadata service, a VPC-internal host or the Lambda's
 * own loopback (server-side request forgery). Three checks, from cheapest to last-moment:
 * - `checkDestinationUrl`: the URL's text (length, scheme, credentials, fragment, an IP
 *   literal host), when the destination is written;
 * - `checkResolvedUrl`: every address the host resolves to, also when it is written, so the
 *   app hears at once that its host points inside;
 * - `guardedDispatcher`: every address a delivery is about to connect to, because DNS can
 *   answer differently between the check and the connection (DNS rebinding).
 *
 * `allowLoopback` is for local runs and tests, where the receiver is on 127.0.0.1: loopback
 * becomes allowed (and `http:` to it), everything else stays refused.
 */
import { promises as dns } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
// undici 6, the major line Node 22 bundles for its own fetch: loading the package installs
// its Agent as the process's global dispatcher when none is set yet, which Node's fetch then
// uses too; a later major (8) changes what that fetch accepts (it refuses a Content-Length
// header), so the versions are kept together.
import { Agent, buildConnector } from 'undici';
import { MAX_DESTINATION_URL_LENGTH } from '#shared/domain/destinations.ts';

export interface AddressPolicy {
  /** True only off AWS: loopback hosts (and plain `http:` to them) are allowed. */
  allowLoopback: boolean;
}

export type UrlRefusal = { ok: false; rule: string; message: string };

/** The code of the Error a guarded connection fails with. */
export const DESTINATION_ADDRESS_ERROR_CODE = 'ERR_DESTINATION_ADDRESS';

/** The rule an address in a forbidden range breaks, wherever it is found. */
export const FORBIDDEN_ADDRESS_RULE = 'forbidden-address';

type Range = readonly [address: string, prefix: number, family: 'ipv4' | 'ipv6'];

/**
 * The forbidden classes of addresses, the most specific first: the metadata addresses lie
 * inside link-local and fc00::/7 and must be named as what they are.
 */
const FORBIDDEN_CLASSES: readonly { name: string; ranges: readonly Range[] }[] = [
  {
    name: 'metadata',
    ranges: [
      ['169.254.169.254', 32, 'ipv4'],
      ['fd00:ec2::254', 128, 'ipv6'],
    ],
  },
  {
    name: 'loopback',
    ranges: [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  },
  {
    name: 'private',
    ranges: [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
    ],
  },
  {
    name: 'link-local',
    ranges: [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  },
  // A connection to 0.0.0.0 or :: reaches the local host on Linux.
  {
    name: 'unspecified',
    ranges: [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  },
  { name: 'shared-address-space', ranges: [['100.64.0.0', 10, 'ipv4']] },
  {
    name: 'multicast',
    ranges: [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  },
  { name: 'reserved', ranges: [['240.0.0.0', 4, 'ipv4']] },
];

/**
 * One BlockList per class. Node's BlockList matches an IPv4-mapped IPv6 address
 * (`::ffff:10.0.0.1`, also written `::ffff:a00:1`) against the IPv4 rules, so such an
 * address is judged by its IPv4 address.
 */
const CLASS_LISTS = FORBIDDEN_CLASSES.map(({ name, ranges }) => {
  const list = new BlockList();
  for (const [address, prefix, family] of ranges) list.addSubnet(address, prefix, family);
  return { name, list };
});

/** `[::1]` (a URL's hostname) as `::1`; anything else unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Why a delivery must not connect to `address` (`loopback`, `private`, `link-local`,
 * `metadata`, `unspecified`, `shared-address-space`, `multicast`, `reserved`, or
 * `not-an-ip-address`), or undefined when it may. With `allowLoopback`, loopback is allowed.
 */
export function forbiddenAddressReason(address: string, policy: AddressPolicy): string | undefined {
  const ip = unbracket(address);
  const family = isIP(ip);
  if (family === 0) return 'not-an-ip-address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const hit = CLASS_LISTS.find(({ list }) => list.check(ip, type));
  if (hit === undefined) return undefined;
  if (hit.name === 'loopback' && policy.allowLoopback) return undefined;
  return hit.name;
}

/** `localhost` and its subdomains (RFC 6761), or a loopback IP literal. */
export function isLoopbackHost(hostname: string): boolean {
  const host = unbracket(hostname).toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && forbiddenAddressReason(host, { allowLoopback: false }) === 'loopback';
}

/** The words for an address of a forbidden class, in a message. */
function describeClass(reason: string): string {
  return reason === 'metadata' ? 'an instance metadata' : `a ${reason}`;
}

/**
 * A webhook destination URL checked against the rules that need no network: the parsed
 * URL, or the first rule it breaks with a message naming the rule and the fix. Run before
 * `checkResolvedUrl`.
 */
export function checkDestinationUrl(raw: string, policy: AddressPolicy): { ok: true; url: URL } | UrlRefusal {
  const refuse = (rule: string, what: string, fix: string): UrlRefusal => ({
    ok: false,
    rule,
    message: `url: ${what} (rule "${rule}"); ${fix}`,
  });
  if (raw.length > MAX_DESTINATION_URL_LENGTH) {
    return refuse(
      'max-length',
      `${raw.length} characters, more than the limit of ${MAX_DESTINATION_URL_LENGTH}`,
      'use a shorter URL',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('url-syntax', 'not an absolute URL', 'give one like https://hooks.example.com/campaigns');
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowLoopback && loopback)) {
    return refuse(
      'https-only',
      `the scheme ${url.protocol} is not allowed`,
      policy.allowLoopback ? 'use https:// (http:// is allowed for a loopback host only)' : 'use https://',
    );
  }
  if (url.username !== '' || url.password !== '') {
    // Never echoed: the point of the rule is that these are secrets.
    return refuse(
      'no-credentials',
      'holds a user name or password',
      'remove them; the signature headers authenticate each request',
    );
  }
  // `hash` is '' for a bare `#`, which `href` keeps.
  if (url.href.includes('#')) {
    return refuse('no-fragment', 'has a fragment (#…), which is never sent', 'remove it');
  }
  const host = unbracket(url.hostname);
  const reason = loopback
    ? policy.allowLoopback
      ? undefined
      : 'loopback'
    : isIP(host) !== 0
      ? forbiddenAddressReason(host, policy)
      : undefined;
  if (reason !== undefined) {
    return refuse(
      FORBIDDEN_ADDRESS_RULE,
      `the host ${host} is ${describeClass(reason)} address, inside the deployment's network`,
      'use a public host name',
    );
  }
  return { ok: true, url };
}

export type Lookup = (
  hostname: string,
  options: { all: true },
) => Promise<readonly { address: string; family: number }[]>;

const systemLookup: Lookup = (hostname, options) => dns.lookup(hostname, options);

/**
 * The host of `url` resolved (an IP literal as itself) and every address checked: a host
 * with any forbidden address is refused, as is one that does not resolve. A check when the
 * destination is written; `guardedDispatcher` checks again at every connection.
 */
export async function checkResolvedUrl(
  url: URL,
  policy: AddressPolicy,
  lookup: Lookup = systemLookup,
): Promise<{ ok: true } | UrlRefusal> {
  const host = unbracket(url.hostname);
  let addresses: readonly { address: string }[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host }];
  } else {
    try {
      addresses = await lookup(host, { all: true });
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      return {
        ok: false,
        rule: 'resolvable-host',
        message: `url: the host ${host} does not resolve${typeof code === 'string' ? ` (${code})` : ''} (rule "resolvable-host"); check the host name and its DNS records`,
      };
    }
  }
  if (addresses.length === 0) {
    return {
      ok: false,
      rule: 'resolvable-host',
      message: `url: the host ${host} resolves to no address (rule "resolvable-host"); check its DNS records`,
    };
  }
  for (const { address } of addresses) {
    const reason = forbiddenAddressReason(address, policy);
    if (reason !== undefined) {
      return {
        ok: false,
        rule: FORBIDDEN_ADDRESS_RULE,
        message: `url: the host ${host} resolves to ${address}, ${describeClass(reason)} address inside the deployment's network (rule "${FORBIDDEN_ADDRESS_RULE}"); point it at public addresses only`,
      };
    }
  }
  return { ok: true };
}

/** The Error a guarded connection fails with: will not get better by trying again. */
export class DestinationAddressError extends Error {
  readonly code = DESTINATION_ADDRESS_ERROR_CODE;
  readonly rule = FORBIDDEN_ADDRESS_RULE;
  constructor(host: string, address: string, reason: string) {
    const where = host === address ? address : `${host} (${address})`;
    super(
      `${where} is ${describeClass(reason)} address, not allowed as a destination (rule "${FORBIDDEN_ADDRESS_RULE}")`,
    );
    this.name = 'DestinationAddressError';
  }
}

/** The first address of `addresses` a connection must not use, as the Error to fail it with. */
function refusalOf(
  host: string,
  addresses: readonly { address: string }[],
  policy: AddressPolicy,
): DestinationAddressError | undefined {
  for (const { address } of addresses) {
    const reason = forbiddenAddressReason(address, policy);
    if (reason !== undefined) return new DestinationAddressError(host, address, reason);
  }
  return undefined;
}

/**
 * A `net.connect` lookup that resolves every address of the host and fails when any is
 * forbidden, then answers in the form asked for (one address, or all with `all`).
 */
function guardedLookup(policy: AddressPolicy, resolve: Lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true } as { all: true }).then(
      (addresses) => {
        const refusal = refusalOf(hostname, addresses, policy);
        const first = addresses[0];
        if (refusal) callback(refusal, '');
        else if (first === undefined) {
          const error: NodeJS.ErrnoException = new Error(`${hostname} resolves to no address`);
          error.code = 'ENOTFOUND';
          callback(error, '');
        } else if (options.all)
          callback(
            null,
            addresses.map(({ address, family }) => ({ address, family })),
          );
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/**
 * An undici Agent that checks every address it connects to: through its connector's
 * `lookup` for a host name, and before connecting for an IP literal (which `net.connect`
 * does not look up). A forbidden address fails the connection with a
 * `DestinationAddressError` (code `ERR_DESTINATION_ADDRESS`). Use it with undici's own
 * `fetch`, whose version matches.
 */
export function guardedDispatcher(policy: AddressPolicy, resolve: Lookup = systemLookup): Agent {
  const connect = buildConnector({ lookup: guardedLookup(policy, resolve) });
  return new Agent({
    connect(options, callback) {
      const host = unbracket(options.hostname);
      if (isIP(host) !== 0) {
        const refusal = refusalOf(host, [{ address: host }], policy);
        if (refusal) {
          callback(refusal, null);
          return;
        }
      }
      connect(options, callback);
    },
  });
}
