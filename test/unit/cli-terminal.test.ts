import { describe, expect, it } from 'vitest';
import { visible, visibleLines } from '../../cli/terminal.ts';

describe('what the CLI prints of a file or a far side', () => {
  it('shows escape sequences, other controls and bidi overrides as escapes', () => {
    const cell = 'x\u001b]0;owned\u0007\u001b[2J\r\u009b31m\u202eevil';
    expect(visible(cell)).toBe('x\\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u009b31m\\u202eevil');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may be printed
    expect(visible(cell)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(visible('a\nb')).toBe('a\\u000ab');
  });

  it('keeps the lines of a block and plain text as they are', () => {
    expect(visibleLines('row 1  ada\nrow 2  b\u001b[1mob')).toBe('row 1  ada\nrow 2  b\\u001b[1mob');
    expect(visible('Zoë, 日本, emoji 🎉, tab-less')).toBe('Zoë, 日本, emoji 🎉, tab-less');
  });
});
