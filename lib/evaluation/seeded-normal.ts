/**
 * Seeded standard normals for re-initialising checkpoint tensors (randomize.ts): xoshiro128** (period 2^128 - 1)
 * seeded by splitmix32 from a hash of (seed, key), Box-Muller for the normals. The same (seed, key) gives the
 * same stream on every machine.
 */

/** 32-bit FNV-1a of a string, mixed (murmur3 finaliser). */
function hash32(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Standard normals from xoshiro128** (period 2^128 - 1) by Box-Muller, seeded by (seed, key). */
export class SeededNormal {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  constructor(seed: number, key: string) {
    const base = hash32(`${seed}\u0000${key}`);
    let x = base;
    for (let i = 0; i < 4; i++) { // splitmix32 fills the state (never all zero)
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  #next(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** Uniform in (0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.#next() >>> 5, lo = this.#next() >>> 6; // 27 + 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
