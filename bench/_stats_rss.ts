/**
 * One pass over a JSONL file in a fresh process, for the peak-RSS figures of
 * the stats suite: `node bench/_stats_rss.ts FILE ours|raw` prints
 * {"maxRssMB": ..., "seconds": ...}. A fresh process per figure, so one
 * pass's heap does not inflate the next.
 */
import { collectStats } from '../src/dp/index.ts';
import { rawReadJsonl } from './_raw_read.ts';
import { STATS_QUERY } from './_stats_query.ts';

const [file, mode] = process.argv.slice(2);
const t0 = performance.now();
if (mode === 'ours') await collectStats([file], STATS_QUERY);
else if (mode === 'raw') await rawReadJsonl(file);
else throw new Error(`usage: _stats_rss.ts FILE ours|raw`);
process.stdout.write(`${JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024, seconds: (performance.now() - t0) / 1000 })}\n`);
