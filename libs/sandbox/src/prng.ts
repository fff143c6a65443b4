/**
 * Small seeded PRNG (mulberry32). The sandbox must be reproducible: the same seed gives the
 * same sub-account tokens and the same probabilistic fault decisions, run after run.
 * Its whole state is one uint32, so it can be persisted with the sandbox state.
 */
export class SeededRandom {
  private s: number;

  constructor(seed: number | string) {
    this.s = typeof seed === 'number' ? seed >>> 0 : hashSeed(seed);
  }

  /** Float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Random string over `alphabet`. */
  string(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }

  get state(): number { return this.s; }
  set state(value: number) { this.s = value >>> 0; }
}

/** FNV-1a, so string seeds ("demo") work as well as numbers. */
export function hashSeed(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
