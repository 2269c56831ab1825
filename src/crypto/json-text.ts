/** From this length on, a string is checked and copied rather than run through JSON.stringify. */
const LONG_STRING = 256;

/** The characters JSON escapes inside a string, besides those that are not ASCII. */
const ESCAPED = ['"', '\\', ...Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code))];

type Entries = Record<string, unknown>;

/**
 * Exactly JSON.stringify's text for `value`, faster for the objects tokens are sealed as when
 * they hold a long string (an id_token, a JWT access token): one that is ASCII without a quote,
 * a backslash or a control character needs no escaping and goes in as it is. JSON.stringify
 * scans it a character at a time; `includes` and `Buffer.byteLength` are native scans, about
 * five times faster on a 4 kB token. The members around it are left to JSON.stringify, each run
 * of them in one call, so every other value (and its toJSON) is written as JSON.stringify would.
 */
export function jsonText(value: unknown): string | undefined {
  if (!isPlainRecord(value)) return JSON.stringify(value);
  const keys = Object.keys(value);
  if (!keys.some((key) => isLong(value[key]))) return JSON.stringify(value);
  const parts: string[] = [];
  let run: Entries | undefined;
  for (const key of keys) {
    const item = value[key];
    if (isLong(item) && needsNoEscaping(item)) {
      if (run) parts.push(membersOf(run));
      run = undefined;
      parts.push(`${JSON.stringify(key)}:"${item}"`);
    } else {
      // An object literal keeps JSON.stringify on its fast path; there __proto__ would not be a member.
      if (key === '__proto__') return JSON.stringify(value);
      run ??= {};
      run[key] = item;
    }
  }
  if (run) parts.push(membersOf(run));
  return `{${parts.filter((part) => part.length > 0).join(',')}}`;
}

/** `"a":1,"b":2` for {a: 1, b: 2}; empty when every member is left out (undefined, functions). */
function membersOf(run: Entries): string {
  return JSON.stringify(run).slice(1, -1);
}

function isPlainRecord(value: unknown): value is Entries {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isLong(value: unknown): value is string {
  return typeof value === 'string' && value.length >= LONG_STRING;
}

function needsNoEscaping(text: string): boolean {
  // As many UTF-8 bytes as characters: every character is ASCII (no surrogate to escape either).
  return Buffer.byteLength(text, 'utf8') === text.length && !ESCAPED.some((char) => text.includes(char));
}
