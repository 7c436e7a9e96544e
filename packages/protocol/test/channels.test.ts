import { describe, expect, it } from 'vitest';
import { isChannelName, isChannelPattern, isEpoch, patternOf } from '../src/channels.js';
import { decodeEnvelope } from '../src/envelope-json.js';
import { EnvelopeError } from '../src/envelope-error.js';

describe('channel names (PROTOCOL.md §3.1)', () => {
  it.each(['a', 'prices:btc', 'user@example.org/inbox', 'a=b+c.d_e-f', 'x'.repeat(255), 'prices:*', 'a:b:*'])('accepts %j', (name) => {
    expect(isChannelName(name)).toBe(true);
  });
  it.each(['', ' ', 'a b', '$system', 'x'.repeat(256), 'prices*', ':*', 'a:*:b', '*', 'prices:**', 'naïve', 'a"b', 'a\\b', 42, null])('refuses %j', (name) => {
    expect(isChannelName(name)).toBe(false);
  });
  it('patterns match one segment below their prefix, found with one lookup', () => {
    expect(isChannelPattern('prices:*')).toBe(true);
    expect(isChannelPattern('prices')).toBe(false);
    expect(patternOf('prices:btc')).toBe('prices:*');
    expect(patternOf('prices:btc:usd')).toBe('prices:btc:*');
    expect(patternOf('prices')).toBeUndefined();
  });
  it('epochs are 1-64 base64url characters', () => {
    expect(isEpoch('k3J-_9')).toBe(true);
    expect(isEpoch('')).toBe(false);
    expect(isEpoch('a'.repeat(65))).toBe(false);
    expect(isEpoch('a+b')).toBe(false);
  });
});

describe('p and pr envelopes: malformed ones close with 1002 and name the field', () => {
  const reason = (text: string) => {
    try {
      decodeEnvelope(text);
    } catch (error) {
      expect(error).toBeInstanceOf(EnvelopeError);
      expect((error as EnvelopeError).closeCode).toBe(1002);
      return (error as EnvelopeError).reason;
    }
    throw new Error('decoded');
  };
  it.each([
    ['{"t":"p","o":1,"ep":"e","d":1}', 'p.ch: missing'],
    ['{"t":"p","ch":"a b","o":1,"ep":"e","d":1}', 'p.ch: must be a channel name (PROTOCOL.md §3.1)'],
    ['{"t":"p","ch":"a:*","o":1,"ep":"e","d":1}', 'p.ch: must be a channel, not a pattern'],
    ['{"t":"p","ch":"a","o":0,"ep":"e","d":1}', 'p.o: must be an integer from 1 to 2^53-1'],
    ['{"t":"p","ch":"a","o":1,"d":1}', 'p.ep: missing'],
    ['{"t":"p","ch":"a","o":1,"ep":"e e","d":1}', 'p.ep: must be 1 to 64 base64url characters'],
    ['{"t":"p","ch":"a","o":1,"ep":"e"}', 'p: needs d or b'],
    ['{"t":"p","ch":"a","o":1,"ep":"e","d":1,"b":"AA=="}', 'p: has both d and b'],
    ['{"t":"pr","ch":"a","join":[],"leave":[]}', 'pr.count: missing'],
    ['{"t":"pr","ch":"a","count":1,"join":{},"leave":[]}', 'pr.join: must be an array of members'],
    ['{"t":"pr","ch":"a","count":1,"join":[{"id":1}],"leave":[]}', 'pr.join: each member must be an object with a string id'],
    ['{"t":"pr","ch":"a","count":1,"join":[],"leave":[1]}', 'pr.leave: must be an array of member ids'],
  ])('%s', (text, expected) => {
    expect(reason(text)).toBe(expected);
  });
});
