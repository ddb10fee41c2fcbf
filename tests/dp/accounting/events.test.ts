import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../../src/core/index.ts';
import { aevent, describeEvent, parseEvent } from '../../../src/dp/accounting/events.ts';
import { confusionFailures } from '../../_battery.ts';

const DPSGD = '{"type":"self-composed","count":2249,"event":{"type":"poisson-sampled","q":0.04,"event":{"type":"gaussian","sigma":1.5}}}';

describe('event model', () => {
  it('parses every example of the grammar', () => {
    expect(parseEvent(DPSGD)).toEqual({
      type: 'self-composed',
      count: 2249,
      event: { type: 'poisson-sampled', q: 0.04, event: { type: 'gaussian', sigma: 1.5 } },
    });
    for (const json of [
      '{"type":"composed","events":[{"type":"laplace","b":1},{"type":"discrete-laplace","a":0.5,"sensitivity":1}]}',
      '{"type":"randomized-response","p":0.25,"k":2}',
      '{"type":"discrete-gaussian","sigma":3,"sensitivity":2}',
      '{"type":"epsilon-delta","epsilon":1,"delta":1e-6,"name":"exponential"}',
      '{"type":"zcdp","rho":0.5}',
      '{"type":"sampled-without-replacement","n":1000,"m":10,"event":{"type":"gaussian","sigma":2,"sensitivity":1}}',
    ])
      expect(() => parseEvent(json)).not.toThrow();
    expect(describeEvent(parseEvent(DPSGD))).toBe('2249 × PoissonSampled(q=0.04, Gaussian(σ=1.5))');
  });

  it('names the path of every malformed part', () => {
    const cases: [string, string][] = [
      ['{"type":"gausian","sigma":1}', 'event.type'],
      ['{"type":"gaussian"}', 'event.sigma'],
      ['{"type":"gaussian","sigma":-1}', 'event.sigma'],
      ['{"type":"gaussian","sigma":1,"noise":2}', 'event.noise'],
      ['{"type":"poisson-sampled","q":1.5,"event":{"type":"gaussian","sigma":1}}', 'event.q'],
      ['{"type":"self-composed","count":2.5,"event":{"type":"laplace","b":1}}', 'event.count'],
      ['{"type":"composed","events":[{"type":"laplace","b":1},{"type":"laplace"}]}', 'event.events[1].b'],
      ['{"type":"discrete-laplace","a":1,"sensitivity":0.5}', 'event.sensitivity'],
      ['{"type":"randomized-response","p":0.5,"k":1}', 'event.k'],
      ['{"type":"sampled-without-replacement","n":5,"m":6,"event":{"type":"laplace","b":1}}', 'event.m'],
      ['[1,2]', 'event'],
      ['not json', 'event'],
    ];
    for (const [json, field] of cases) {
      let err: unknown;
      try {
        parseEvent(json);
      } catch (e) {
        err = e;
      }
      expect(err, json).toBeInstanceOf(ConfideError);
      expect((err as ConfideError).field, json).toBe(field);
    }
  });

  it('refuses nesting deeper than 64 levels without a stack overflow', () => {
    let json = '{"type":"laplace","b":1}';
    for (let i = 0; i < 10_000; i++) json = `{"type":"self-composed","count":1,"event":${json}}`;
    expect(() => parseEvent(json)).toThrow(ConfideError);
  });

  it('passes the type-confusion battery', async () => {
    expect(await confusionFailures('aevent', (e) => aevent(e), () => [{ type: 'gaussian', sigma: 1 }])).toEqual([]);
    expect(await confusionFailures('parseEvent', parseEvent, () => ['{"type":"zcdp","rho":1}'])).toEqual([]);
  });
});
