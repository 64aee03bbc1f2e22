/**
 * Item <-> semantic-ID tuple, and the prefix trie of valid tuples used to measure hallucination
 * (a generated tuple that is no item) and to constrain beam search (docs/METHOD.md 2.6).
 *
 * The trie lives in flat typed arrays. Nodes are numbered breadth-first with the root 0; because
 * items are inserted in lexicographic tuple order, the children of one node have consecutive ids
 * and ascending codes: node v's children are ids firstChild[v] .. firstChild[v+1]-1, and
 * edgeCode[child] is the code on the edge into it. A lookup is L binary searches, no strings.
 */
import { sortByTuple } from './rqkmeans.js';
import type { SemanticIds } from './types.js';

export class Catalog {
  readonly levels: number;
  readonly codebookSizes: readonly number[];
  readonly numItems: number;
  /** [I*L] row-major tuples. */
  readonly codes: Int32Array;
  /** [internal nodes + 1] first child id of each node of depth < L. */
  private readonly firstChild: Int32Array;
  /** [nodes] code on the edge into each node (root: -1). */
  private readonly edgeCode: Int32Array;
  /** Leaves (depth L) are node ids leafStart.. ; leafItem[id - leafStart] is the item. */
  private readonly leafStart: number;
  private readonly leafItem: Int32Array;
  /** [L+1] first node id of each depth; depthStart[L+1] = node count. */
  readonly depthStart: Int32Array;

  constructor(sids: Pick<SemanticIds, 'levels' | 'codebookSizes' | 'codes'>) {
    const L = sids.levels;
    const n = sids.codes.length / L;
    if (!Number.isInteger(n)) throw new Error(`Catalog: ${sids.codes.length} codes is not a multiple of ${L} levels`);
    this.levels = L;
    this.codebookSizes = Object.freeze([...sids.codebookSizes]);
    this.numItems = n;
    this.codes = sids.codes;
    const codes = sids.codes;
    for (let i = 0; i < codes.length; i++) {
      const l = i % L;
      if (codes[i] < 0 || codes[i] >= sids.codebookSizes[l])
        throw new Error(`Catalog: item ${Math.floor(i / L)} has code ${codes[i]} at level ${l}, outside [0, ${sids.codebookSizes[l]})`);
    }

    const order = sortByTuple(codes, n, L);
    // cur[p] / nxt[p]: node id at depth l / l+1 of the p-th item in sorted order.
    let cur = new Int32Array(n);
    let nxt = new Int32Array(n);
    const depthStart = new Int32Array(L + 2);
    depthStart[1] = 1;
    // Every node below the leaves has at least one child, and the sorted scan meets parents in
    // increasing id order, so the node count bounds both arrays.
    const firstChild: number[] = [];
    const edgeCode: number[] = [-1];
    let nextId = 1;
    for (let l = 0; l < L; l++) {
      for (let p = 0; p < n; p++) {
        const item = order[p];
        const c = codes[item * L + l];
        const par = cur[p];
        const newParent = p === 0 || par !== cur[p - 1];
        if (newParent || c !== codes[order[p - 1] * L + l]) {
          if (newParent) firstChild[par] = nextId;
          edgeCode.push(c);
          nextId++;
        }
        nxt[p] = nextId - 1;
      }
      [cur, nxt] = [nxt, cur];
      depthStart[l + 2] = nextId;
    }
    if (n === 0) firstChild[0] = nextId; // an empty catalog: the root has no children
    firstChild.push(nextId);
    this.firstChild = Int32Array.from(firstChild);
    this.edgeCode = Int32Array.from(edgeCode);
    this.depthStart = depthStart;
    this.leafStart = depthStart[L];
    const leaves = nextId - this.leafStart;
    if (leaves !== n) throw new Error(`Catalog: ${n - leaves} items share a tuple with another item; run dedup first`);
    this.leafItem = new Int32Array(leaves);
    for (let p = 0; p < n; p++) this.leafItem[cur[p] - this.leafStart] = order[p];
  }

  /** An item's tuple, [L] (a view into `codes`: do not write to it). */
  tupleOf(item: number): Int32Array {
    return this.codes.subarray(item * this.levels, (item + 1) * this.levels);
  }

  /** Child of `node` along `code`, or -1. Binary search over the node's sorted child codes. */
  child(node: number, code: number): number {
    if (node < 0 || node >= this.leafStart) return -1;
    let lo = this.firstChild[node];
    let hi = this.firstChild[node + 1] - 1;
    const ec = this.edgeCode;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = ec[mid];
      if (c === code) return mid;
      if (c < code) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Trie node reached by a prefix of codes (root = 0 for the empty prefix), or -1 if no item starts so. */
  nodeOf(prefix: ArrayLike<number>, offset = 0, length = prefix.length - offset): number {
    if (length > this.levels) return -1;
    let v = 0;
    for (let l = 0; l < length && v >= 0; l++) v = this.child(v, prefix[offset + l]);
    return v;
  }

  /** Item whose tuple is `codes` ([L]), or -1 when it is no item (a hallucination). */
  lookup(codes: ArrayLike<number>, offset = 0): number {
    if (codes.length - offset < this.levels) return -1;
    const v = this.nodeOf(codes, offset, this.levels);
    return v < 0 ? -1 : this.leafItem[v - this.leafStart];
  }

  /** Codes that may follow `node`, ascending (a view: do not write to it); empty for a leaf or -1. */
  childCodes(node: number): Int32Array {
    if (node < 0 || node >= this.leafStart) return this.edgeCode.subarray(0, 0);
    return this.edgeCode.subarray(this.firstChild[node], this.firstChild[node + 1]);
  }

  /**
   * Codes that can follow a prefix of length l < L and still lead to an item, ascending (a view:
   * do not write to it); empty when the prefix is already no item's prefix.
   */
  allowedNext(prefix: ArrayLike<number>): Int32Array {
    return this.childCodes(this.nodeOf(prefix));
  }

  /**
   * Batched constraint for beam search at `level`: prefixes [N*level] row-major (the codes
   * chosen at levels < level). Returns [N*K_level], 0 where the code keeps the prefix valid and
   * -Infinity elsewhere, to add to the logits. A row whose prefix is already invalid is all
   * -Infinity (cannot happen when every step was constrained).
   */
  nextMask(prefixes: Int32Array, n: number, level: number): Float32Array {
    if (level < 0 || level >= this.levels) throw new RangeError(`Catalog.nextMask: level ${level} outside [0, ${this.levels})`);
    if (prefixes.length < n * level) throw new RangeError(`Catalog.nextMask: prefixes has ${prefixes.length} codes, need ${n}*${level}`);
    const k = this.codebookSizes[level];
    const mask = new Float32Array(n * k).fill(-Infinity);
    for (let r = 0; r < n; r++) {
      const v = this.nodeOf(prefixes, r * level, level);
      if (v < 0) continue;
      const lo = this.firstChild[v];
      const hi = this.firstChild[v + 1];
      const o = r * k;
      for (let e = lo; e < hi; e++) mask[o + this.edgeCode[e]] = 0;
    }
    return mask;
  }
}
