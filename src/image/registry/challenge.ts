// WWW-Authenticate (RFC 7235): one or more challenges, each a scheme and comma-separated
// key=value or key="quoted" parameters, e.g.
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"
// A small hand-written reader: the header is bounded by the HTTP parser's header limit.

export interface Challenge {
  /** Lower-cased: "bearer", "basic"… */
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: string) => {
    while (i < text.length && chars.includes(text[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < text.length && TOKEN.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  while (i < text.length) {
    skip(' \t,');
    const word = token();
    if (!word) {
      i++; // a character no grammar allows here: step over it
      continue;
    }
    skip(' \t');
    if (text[i] === '=' && out.length > 0) {
      i++;
      skip(' \t');
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        // RFC 7235 wants a token here; some servers send an unquoted URL, so read to the next comma.
        const start = i;
        while (i < text.length && !', \t'.includes(text[i]!)) i++;
        value = text.slice(start, i);
      }
      // Parameter names are case-insensitive; the first of a repeated name wins.
      const params = out[out.length - 1]!.params;
      const k = word.toLowerCase();
      if (!(k in params)) params[k] = value;
    } else {
      out.push({ scheme: word.toLowerCase(), params: Object.create(null) as Record<string, string> });
    }
  }
  return out;
}
