/**
 * Exact source text of every number literal in a JSON document, keyed by its path
 * ("credit", "credits.balance", "data.3.credits.balance").
 *
 * The provider answers add/remove with JSON numbers (`"credit":2869.2`). JSON.parse would turn
 * them into floats, and Node 20 has no reviver with source access, so money is read from the
 * literal text instead. Call this only on text JSON.parse accepted: it assumes valid JSON.
 * With duplicate keys the last one wins, as with JSON.parse.
 */
export function numberLiterals(text: string): Map<string, string> {
  return scanJson(text).literals;
}

/**
 * One walk over a JSON text JSON.parse accepted: the number literals (as `numberLiterals`) and
 * the path of the first key that appears twice in one object (JSON.parse silently keeps the
 * last one, so `{"amount":"-1","amount":"5"}` would read as 5), or null. Request bodies with a
 * duplicate key are refused. Throws a RangeError when nesting is too deep for the stack.
 */
export function scanJson(text: string): { literals: Map<string, string>; duplicateKey: string | null } {
  const out = new Map<string, string>();
  let duplicateKey: string | null = null;
  let i = 0;
  const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  const skipWs = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (c: string) => {
    skipWs();
    if (text[i] !== c) throw new SyntaxError(`expected ${c} at ${i}`);
    i++;
  };
  const readString = (): string => {
    skipWs();
    const start = i;
    if (text[i] !== '"') throw new SyntaxError(`expected string at ${i}`);
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw new SyntaxError('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const readValue = (path: string[]): void => {
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      skipWs();
      if (text[i] === '}') { i++; return; }
      const seen = new Set<string>();
      for (;;) {
        const key = readString();
        if (seen.has(key)) duplicateKey ??= [...path, key].join('.');
        seen.add(key);
        expect(':');
        readValue([...path, key]);
        skipWs();
        if (text[i] === ',') { i++; continue; }
        expect('}');
        return;
      }
    }
    if (c === '[') {
      i++;
      skipWs();
      if (text[i] === ']') { i++; return; }
      for (let index = 0; ; index++) {
        readValue([...path, String(index)]);
        skipWs();
        if (text[i] === ',') { i++; continue; }
        expect(']');
        return;
      }
    }
    if (c === '"') { readString(); return; }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) { i += word.length; return; }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) throw new SyntaxError(`unexpected character at ${i}`);
    out.set(path.join('.'), m[0]);
    i += m[0].length;
  };

  readValue([]);
  return { literals: out, duplicateKey };
}
