/**
 * The one seeded random generator. Every random choice (data generation, init, dropout masks,
 * sampling, batching) takes an Rng explicitly, so a run is a function of its seed. Its state is
 * four 32-bit words and is saved in checkpoints so that `--resume` continues the same stream.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): passes PractRand, 128-bit state.
 */
export type RngState = [number, number, number, number];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number | RngState) {
    if (Array.isArray(seed)) {
      [this.a, this.b, this.c, this.d] = seed.map((x) => x >>> 0) as RngState;
    } else {
      // Spread the seed with splitmix32 so that nearby seeds give unrelated streams.
      let s = seed >>> 0;
      const next = () => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        return (z ^ (z >>> 16)) >>> 0;
      };
      this.a = next();
      this.b = next();
      this.c = next();
      this.d = next();
      for (let i = 0; i < 12; i++) this.nextU32();
    }
  }

  state(): RngState {
    return [this.a, this.b, this.c, this.d];
  }

  static restore(state: RngState): Rng {
    return new Rng(state);
  }

  /** An independent child stream (e.g. one per stage), derived deterministically. */
  fork(label: string): Rng {
    let h = 2166136261;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
    return new Rng([this.nextU32() ^ h, this.nextU32(), this.nextU32(), this.nextU32() ^ 0x5bd1e995]);
  }

  nextU32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller; both values drawn each call so no state hides outside state()). */
  normal(): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }

  /** Index drawn from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>, total?: number): number {
    let sum = total ?? 0;
    if (total === undefined) for (let i = 0; i < weights.length; i++) sum += weights[i];
    let r = this.next() * sum;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

/**
 * Sampling many draws from one fixed distribution: cumulative sums + binary search, O(log n) a
 * draw (exposure and negative sampling over a whole catalog).
 */
export class AliasFreeSampler {
  private readonly cdf: Float64Array;
  constructor(weights: ArrayLike<number>) {
    this.cdf = new Float64Array(weights.length);
    let s = 0;
    for (let i = 0; i < weights.length; i++) {
      s += weights[i];
      this.cdf[i] = s;
    }
  }
  sample(rng: Rng): number {
    const total = this.cdf[this.cdf.length - 1];
    const r = rng.next() * total;
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** A deterministic seed from a few integers (splitmix-style mixing), for per-epoch and per-step streams. */
export function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}
