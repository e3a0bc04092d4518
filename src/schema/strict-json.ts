// A strict JSON reader for bytes that cross a trust boundary: UTF-8 must be valid, object keys
// must be unique (JSON.parse silently keeps the last duplicate), NUL is refused in strings,
// nesting is bounded. Anything else is plain JSON.parse.

export class StrictJsonError extends Error {}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseStrictJson(bytes: Uint8Array, maxDepth = 32): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new StrictJsonError('frame is not valid UTF-8');
  }
  checkStructure(text, maxDepth);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StrictJsonError(`frame is not valid JSON: ${(e as Error).message}`);
  }
}

/** Walks the text once: tracks depth and, per object, the set of keys seen. */
function checkStructure(text: string, maxDepth: number): void {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let raw = '';
      for (;;) {
        if (j >= text.length) throw new StrictJsonError('frame is not valid JSON: unterminated string');
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          raw += text.slice(j, j + 2);
          j += 2;
          continue;
        }
        if (d === 0x22) break;
        raw += text[j];
        j++;
      }
      let value: string;
      try {
        value = JSON.parse(`"${raw}"`) as string;
      } catch {
        throw new StrictJsonError('frame is not valid JSON: bad string');
      }
      if (value.includes('\u0000')) throw new StrictJsonError('frame contains a NUL character in a string');
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        if (top.has(value)) throw new StrictJsonError(`frame has a duplicate field "${value.slice(0, 64)}"`);
        top.add(value);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
      if (stack.length > maxDepth) throw new StrictJsonError(`frame nests deeper than ${maxDepth}`);
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
      if (stack.length > maxDepth) throw new StrictJsonError(`frame nests deeper than ${maxDepth}`);
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
}
