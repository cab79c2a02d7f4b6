import { describe, expect, it } from 'vitest';
import { LruMap } from '../../lib/pki/index.js';

describe('LruMap', () => {
  it('keeps at most its capacity, dropping the entry read or written longest ago', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1); // a is now newer than b
    map.set('c', 3);
    expect([map.get('a'), map.get('b'), map.get('c'), map.size]).toEqual([1, undefined, 3, 2]);
    map.set('a', 4); // rewriting an entry keeps the size
    expect([map.get('a'), map.size]).toEqual([4, 2]);
  });

  it('makes a missing value once and keeps it; a make that throws keeps nothing', () => {
    const map = new LruMap<string, number>(2);
    let made = 0;
    const make = () => ++made;
    expect([map.getOrSet('a', make), map.getOrSet('a', make), made]).toEqual([1, 1, 1]);
    expect(() => map.getOrSet('b', () => { throw new Error('unreadable'); })).toThrow('unreadable');
    expect([map.get('b'), map.size]).toEqual([undefined, 1]);
  });
});
