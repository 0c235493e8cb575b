/**
 * The repository owns its documentation: no file refers to briefing documents a clone
 * does not have, and every relative link of the Markdown docs leads somewhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Folders a walk skips when git cannot list the files (installed, built or runtime data). */
const SKIPPED_DIRS = new Set(['node_modules', '.git', 'dist', '.data', 'cdk.out', 'coverage']);

/** The repository's files, relative to its root: tracked and new ones, as git lists them. */
function repositoryFiles(): string[] {
  let listed: string[];
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
      .split('\0')
      .filter(Boolean);
  } catch {
    listed = walk(root);
  }
  // A file deleted from the work tree but not yet from the index is not there to read.
  return listed.filter((file) => existsSync(join(root, file)) && statSync(join(root, file)).isFile());
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : walk(join(dir, entry.name));
    return entry.isFile() ? [relative(root, join(dir, entry.name)).split(sep).join('/')] : [];
  });
}

/** The file's text, or undefined for binary content (a NUL byte in its first 8 KiB). */
function text(file: string): string | undefined {
  const bytes = readFileSync(join(root, file));
  return bytes.subarray(0, 8192).includes(0) ? undefined : bytes.toString('utf8');
}

/** True when `path` (absolute) lies inside the repository. */
function insideRepository(path: string): boolean {
  const fromRoot = relative(root, path);
  return fromRoot !== '' && !fromRoot.startsWith('..') && !fromRoot.startsWith(sep);
}

// Built from pieces, so that this file does not mention them itself.
const BRIEFING_FILES = [['API', 'md'].join('.'), ['DESIGN', 'md'].join('.')];
/** A relative path into a `shared` folder, whole: every leading `../` and what follows `shared`. */
const SHARED_PATH = /(?<![\w./-])((?:\.\.\/)+)shared((?:\/[\w.-]+)*)/g;

/**
 * The briefing references on one line of `file`. A relative path up into a `shared`
 * folder is one when, read from `file`'s folder, it leaves the repository or names
 * nothing in it (the briefing folder sits beside the repository); a docs page linking
 * this repository's own `shared/domain/…` that way is not.
 */
function briefingReferences(file: string, line: string): string[] {
  const found = BRIEFING_FILES.filter((name) => line.includes(name));
  for (const match of line.matchAll(SHARED_PATH)) {
    const target = resolve(root, dirname(file), `${match[1]}shared${match[2] ?? ''}`);
    if (!insideRepository(target) || !existsSync(target)) found.push(match[0]);
  }
  return found;
}

/** `file:line: the line`, for every line of every text file that refers to a briefing. */
function briefingMentions(files: readonly string[]): string[] {
  return files.flatMap((file) => {
    const content = text(file);
    if (content === undefined) return [];
    return content.split('\n').flatMap((line, i) => {
      const found = briefingReferences(file, line);
      return found.length > 0 ? [`${file}:${i + 1}: ${found.join(', ')} in: ${line.trim()}`] : [];
    });
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`. */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Markdown without fenced code blocks and inline code, where nothing is a link. */
function withoutCode(markdown: string): string {
  return markdown
    .replace(/^ {0,3}(```|~~~)[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/`+[^`\n]*`+/g, (span) => ' '.repeat(span.length));
}

/** The anchors of a Markdown file's headings, with GitHub's `-1`, `-2` for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const prose = markdown.replace(/^ {0,3}(```|~~~)[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '');
  for (const [, heading] of prose.matchAll(/^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(heading as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Link targets of a Markdown text, with their line: `[text](target)`, `![alt](target)`, `[ref]: target`. */
function links(markdown: string): { line: number; target: string }[] {
  const prose = withoutCode(markdown);
  const found: { line: number; target: string }[] = [];
  const lineOf = (index: number) => prose.slice(0, index).split('\n').length;
  for (const m of prose.matchAll(/\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) {
    found.push({ line: lineOf(m.index), target: (m[1] as string).replace(/^<|>$/g, '') });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/gm)) {
    found.push({ line: lineOf(m.index), target: (m[1] as string).replace(/^<|>$/g, '') });
  }
  return found;
}

/** `file:line: target (why)` for every relative link of `files` that leads nowhere. */
function brokenLinks(files: readonly string[]): string[] {
  return files.flatMap((file) => {
    const markdown = readFileSync(join(root, file), 'utf8');
    return links(markdown).flatMap(({ line, target }) => {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return []; // https:, mailto: …
      const [path = '', fragment] = target.split('#', 2);
      const absolute = path === '' ? join(root, file) : resolve(root, dirname(file), decodeURI(path));
      const where = `${file}:${line}: ${target}`;
      if (!insideRepository(absolute)) return [`${where} (outside the repository)`];
      if (!existsSync(absolute)) return [`${where} (no such file)`];
      if (fragment && absolute.endsWith('.md') && !anchors(readFileSync(absolute, 'utf8')).has(fragment)) {
        return [`${where} (no heading #${fragment})`];
      }
      return [];
    });
  });
}

const files = repositoryFiles();
const linkedDocs = files.filter((file) => file === 'README.md' || /^docs\/[^/]+\.md$/.test(file));

describe('the repository owns its docs', () => {
  it('lists the repository files it checks', () => {
    expect(files).toEqual(
      expect.arrayContaining(['README.md', 'openapi.yaml', 'docs/api.md', 'docs/design.md']),
    );
    expect(files.some((file) => file.startsWith('node_modules/'))).toBe(false);
  });

  it('finds every one of those files by walking the tree too, for a copy without git', () => {
    expect(walk(root)).toEqual(expect.arrayContaining(files));
  });

  it('mentions no briefing document that a clone of the repository does not have', () => {
    expect(briefingMentions(files)).toEqual([]);
  });

  it('tells briefing references from paths into this repository', () => {
    const probe = 'test/unit/own-docs.test.ts';
    const up = '..';
    expect(briefingReferences(probe, `see ${BRIEFING_FILES[0]}, Templates`)).toEqual([BRIEFING_FILES[0]]);
    expect(briefingReferences('openapi.yaml', `The HTTP contract of \`${up}/shared/x.md\``)).toEqual([
      `${up}/shared/x.md`,
    ]);
    // From test/unit, two levels up is the repository root: its own shared/ folder.
    expect(briefingReferences(probe, `import '${up}/${up}/shared/config.ts'`)).toEqual([]);
    expect(briefingReferences(probe, `see '${up}/${up}/shared/nothing-here.md'`)).toEqual([
      `${up}/${up}/shared/nothing-here.md`,
    ]);
  });

  it('links from README.md and docs/*.md only to files and headings that exist', () => {
    expect(linkedDocs).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/design.md']));
    expect(brokenLinks(linkedDocs)).toEqual([]);
  });

  it('reads headings as GitHub anchors them', () => {
    expect(slug('CSV rules, in short')).toBe('csv-rules-in-short');
    expect(slug("A consumer that dies between the claim and the channel's answer")).toBe(
      'a-consumer-that-dies-between-the-claim-and-the-channels-answer',
    );
    expect(slug('The outbox channel (local default)')).toBe('the-outbox-channel-local-default');
    expect([...anchors('# A\n```\n# not a heading\n```\n## A\n')]).toEqual(['a', 'a-1']);
  });
});
