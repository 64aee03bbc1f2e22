import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Utf8Check } from '../../../src/data/sources/files.js';

/** Index of the first invalid byte of `bytes` fed in chunks of `size`, or -1; and the line it is on. */
function firstInvalid(bytes: number[], size = bytes.length): { at: number; line: number; complete: boolean } {
  const c = new Utf8Check();
  for (let s = 0; s < bytes.length; s += size) {
    const k = c.push(Uint8Array.from(bytes.slice(s, s + size)));
    if (k >= 0) return { at: s + k, line: c.line, complete: c.complete };
  }
  return { at: -1, line: c.line, complete: c.complete };
}

test('Utf8Check accepts well-formed UTF-8, also when a character is split across chunks', () => {
  // "a\né€😀": 61 0a c3a9 e282ac f09f9880
  const text = [0x61, 0x0a, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80];
  assert.deepEqual(Array.from(Buffer.from('a\né€😀')), text);
  for (const size of [1, 2, 3, text.length]) assert.deepEqual(firstInvalid(text, size), { at: -1, line: 2, complete: true });
});

test('Utf8Check finds the first invalid byte and its line (Unicode Table 3-7)', () => {
  assert.equal(firstInvalid([0x61, 0x0a, 0x62, 0xff]).at, 3); // never valid
  assert.equal(firstInvalid([0x61, 0x0a, 0x62, 0xff]).line, 2);
  assert.equal(firstInvalid([0xc0, 0x80]).at, 0); // overlong NUL
  assert.equal(firstInvalid([0xe0, 0x80, 0x80]).at, 1); // overlong 3-byte form
  assert.equal(firstInvalid([0xed, 0xa0, 0x80]).at, 1); // surrogate U+D800
  assert.equal(firstInvalid([0xf4, 0x90, 0x80, 0x80]).at, 1); // above U+10FFFF
  assert.equal(firstInvalid([0xc3, 0x41]).at, 1); // a lead byte without its continuation
  assert.equal(firstInvalid([0x80]).at, 0); // a continuation byte alone
  assert.deepEqual(firstInvalid([0x61, 0xe2, 0x82], 1), { at: -1, line: 1, complete: false }); // cut at the end
});
