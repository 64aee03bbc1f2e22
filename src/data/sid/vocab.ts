/**
 * The policy's token vocabulary (docs/METHOD.md 2.1): PAD=0, BOS=1, SEP=2, then one token per
 * (level, code), level by level: token(l, c) = offsets[l] + c. Level l code c is its own token,
 * so the same code number at two levels never shares an embedding.
 */
export const PAD = 0;
export const BOS = 1;
export const SEP = 2;
export const SPECIAL_COUNT = 3;

export class Vocab {
  static readonly PAD = PAD;
  static readonly BOS = BOS;
  static readonly SEP = SEP;
  readonly specialCount = SPECIAL_COUNT;
  readonly levels: number;
  readonly codebookSizes: readonly number[];
  /** [levels + 1]: first token of each level; offsets[levels] = size. */
  readonly offsets: Int32Array;
  readonly size: number;
  /** [size] level of each token, -1 for the special tokens. */
  private readonly tokenLevel: Int32Array;

  constructor(codebookSizes: readonly number[]) {
    if (codebookSizes.length === 0) throw new Error('Vocab: no levels');
    for (const k of codebookSizes) if (!Number.isInteger(k) || k < 1) throw new Error(`Vocab: bad codebook size ${k}`);
    this.levels = codebookSizes.length;
    this.codebookSizes = Object.freeze([...codebookSizes]);
    this.offsets = new Int32Array(this.levels + 1);
    this.offsets[0] = SPECIAL_COUNT;
    for (let l = 0; l < this.levels; l++) this.offsets[l + 1] = this.offsets[l] + codebookSizes[l];
    this.size = this.offsets[this.levels];
    this.tokenLevel = new Int32Array(this.size).fill(-1);
    for (let l = 0; l < this.levels; l++) this.tokenLevel.fill(l, this.offsets[l], this.offsets[l + 1]);
  }

  token(level: number, code: number): number {
    if (level < 0 || level >= this.levels || code < 0 || code >= this.codebookSizes[level])
      throw new RangeError(`Vocab.token: (level ${level}, code ${code}) out of range`);
    return this.offsets[level] + code;
  }

  /** Level of an item token; -1 for PAD/BOS/SEP or a token outside the vocabulary. */
  level(token: number): number {
    return token >= 0 && token < this.size ? this.tokenLevel[token] : -1;
  }

  /** Code of an item token; -1 for PAD/BOS/SEP or a token outside the vocabulary. */
  code(token: number): number {
    const l = this.level(token);
    return l < 0 ? -1 : token - this.offsets[l];
  }

  isSpecial(token: number): boolean {
    return token >= 0 && token < SPECIAL_COUNT;
  }

  /** An item's tokens from its tuple of codes, [levels]. */
  encode(codes: ArrayLike<number>, out = new Int32Array(this.levels)): Int32Array {
    for (let l = 0; l < this.levels; l++) out[l] = this.token(l, codes[l]);
    return out;
  }
}
