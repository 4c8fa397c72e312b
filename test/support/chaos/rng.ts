/** A small seeded PRNG (mulberry32): the same seed gives the same load and the same kill points. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (choices.at(-1) as readonly [number, T])[1];
  }
}

/** The seed of a run: LOCUS_CHAOS_SEED when set (to replay a failure), else `fallback`. */
export function chaosSeed(fallback: number): number {
  const text = process.env.LOCUS_CHAOS_SEED;
  return text ? Number.parseInt(text, 10) >>> 0 : fallback;
}

/** Bigger counts in the nightly run (LOCUS_NIGHTLY=1). */
export const nightly = /^(1|true|yes|on)$/i.test(process.env.LOCUS_NIGHTLY ?? '');
