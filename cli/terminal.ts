/**
 * What the CLI prints for a person comes partly from files and far sides (CSV cells quoted
 * in rejection reasons, a receiver's error text): a control character in it could move the
 * cursor, rewrite earlier lines or retitle the terminal. `visible` shows every such
 * character as an escape instead.
 */

/**
 * C0 controls and DEL, C1 controls, and the bidirectional overrides and isolates (which
 * reorder what a terminal shows).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every control character shown as `\u001b` and the like; newlines too. */
export function visible(text: string): string {
  return text.replace(CONTROL, escaped);
}

/** The same for a whole block of lines: its own newlines stay, every other control is escaped. */
export function visibleLines(text: string): string {
  return text.replace(CONTROL_BUT_NEWLINE, escaped);
}
