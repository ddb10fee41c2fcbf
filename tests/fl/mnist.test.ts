/**
 * The federated MNIST example at a small size: the package's real digits, the
 * same non-IID split, clients and coordinator as examples/fl_mnist.ts, but 3
 * in-process clients over the memory transport, 2 rounds, 600 training digits.
 */
import { describe, expect, it } from 'vitest';
import { memoryTransport, generateIdentity, serve } from '../../src/net/index.ts';
import { DIGITS, PIXELS, coordinateMnist, labelCounts, loadMnist, mnistModel, renderMnistReport, runMnistClient, splitMnist, testPart } from '../../examples/_mnist.ts';

/**
 * Well-formed markup: every tag's attributes are quoted, every element is
 * closed in order (void `meta` and self-closed SVG elements aside), and no
 * raw `<` or `>` is left in text. Returns the problems found.
 */
function markupProblems(html: string): string[] {
  const problems: string[] = [];
  const body = html.replace(/^<!doctype html>\n/, '');
  const stack: string[] = [];
  let last = 0;
  for (const m of body.matchAll(/<[^<>]*>/g)) {
    const text = body.slice(last, m.index);
    if (/[<>]/.test(text)) problems.push(`raw < or > in text near ${JSON.stringify(text.slice(0, 40))}`);
    last = m.index + m[0].length;
    const tag = m[0];
    if (!/^<\/?[a-zA-Z][\w-]*(\s+[\w:-]+="[^"<>]*")*\s*\/?>$/.test(tag)) {
      problems.push(`malformed tag ${tag.slice(0, 60)}`);
      continue;
    }
    const name = /^<\/?([a-zA-Z][\w-]*)/.exec(tag)![1];
    if (tag.startsWith('</')) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!tag.endsWith('/>') && name !== 'meta') stack.push(name);
  }
  if (/[<>]/.test(body.slice(last))) problems.push('raw < or > after the last tag');
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

describe('federated MNIST (examples/fl_mnist.ts, small)', () => {
  it('loads the package digits and splits them non-IID by label', () => {
    const data = loadMnist();
    expect(data.images.length).toBe(10_000);
    expect(data.images.every((x) => x.length === PIXELS && x.every((v) => v >= 0 && v <= 1))).toBe(true);
    const { shards, test } = splitMnist(data, { clients: 10, test: 2000, seed: 2026 });
    expect(test.length).toBe(2000);
    expect(shards.map((s) => s.length)).toEqual(new Array(10).fill(800));
    // Two label-sorted shards of 400 per client. Every label has more than 400 training digits, so a shard
    // spans at most 2 labels: a client holds at most 4, and its two commonest hold at least half its digits.
    // Most shards lie within one label: with this seed the two commonest labels hold 94% of all training digits.
    let top2 = 0;
    for (const s of shards) {
      const counts = labelCounts(s).sort((a, b) => b - a);
      expect(counts.filter((n) => n > 0).length).toBeLessThanOrEqual(4);
      expect(counts[0] + counts[1]).toBeGreaterThanOrEqual(400);
      top2 += counts[0] + counts[1];
    }
    expect(top2 / 8000).toBeGreaterThan(0.9);
    // Test digits are not training digits.
    const train = new Set(shards.flat().map((e) => e.x));
    expect(test.some((e) => train.has(e.x))).toBe(false);
  });

  it('trains with 3 clients in 2 rounds well above chance, and the report has one point per round', { timeout: 120_000 }, async () => {
    const hidden = 32, clients = 3, seed = 7;
    const data = loadMnist();
    const { shards, test } = splitMnist(data, { clients, test: 300, trainPerClient: 200, seed });
    const transport = memoryTransport();
    const token = new Uint8Array(32).fill(9);
    const server = await serve({ transport, identity: generateIdentity(), token });
    const running = shards.map((train, index) => runMnistClient({ transport, address: server.address, token, index, hidden, seed, train, test: testPart(test, clients, index) }));
    const { weights, rounds } = await coordinateMnist({ server, clients, rounds: 2, hidden, seed, local: { epochs: 5, learningRate: 0.1, batchSize: 10 } });
    expect((await Promise.all(running)).map((s) => s.fitted)).toEqual([2, 2, 2]);
    await server.close();

    expect(rounds.map((r) => r.round)).toEqual([1, 2]);
    // The clients' test parts partition the test set, so the federated accuracy is the accuracy on all of it.
    expect(rounds[1].accuracy).toBeCloseTo(mnistModel(hidden).evaluate(weights, test).accuracy, 12);
    // Chance is 1/10. A predictor that ignores the image is right at most as often as the commonest
    // label, under 15% of these 300 digits; even a guesser right with probability 0.15 per digit scores
    // >= 40% with probability < 1e-20 (Chernoff bound on the binomial tail, n = 300; this run reaches 66%). The run is seeded (data split, initial
    // weights, shuffling; the memory transport keeps the order), so this is deterministic, not a flake risk.
    const commonest = Math.max(...labelCounts(test)) / test.length;
    expect(commonest).toBeLessThan(0.15);
    expect(rounds[1].accuracy).toBeGreaterThan(0.4);
    expect(rounds[1].accuracy).toBeGreaterThan(1 / DIGITS + 0.25);

    const html = renderMnistReport({ title: 'MNIST <test> & "quotes"', setup: ['3 clients, 2 rounds: a < b'], clients: shards.map(labelCounts), rounds, centralised: { accuracy: 0.5, epochs: 10 } });
    expect(markupProblems(html)).toEqual([]);
    expect(html).toContain('<title>MNIST &#60;test&#62; &#38; &#34;quotes&#34;</title>');
    // No external asset: no scripts, links, images or URLs.
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(/);
    // One point per round, carrying the round's accuracy, and a line through them.
    const points = [...html.matchAll(/<circle class="point" data-round="(\d+)" data-accuracy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(points).toEqual(rounds.map((r) => [r.round, Number(r.accuracy.toFixed(4))]));
    expect(/<polyline class="accuracy" points="([^"]*)"/.exec(html)![1].split(' ').length).toBe(2);
    expect(markupProblems('<p><b>x</p></b>')).not.toEqual([]); // the checker itself catches misnesting
  });
});
