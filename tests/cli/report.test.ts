/**
 * The HTML reports as a person sees them: headless Chromium renders them
 * and the screenshot must show the plot (the blue spend line and the red
 * budget line). Skipped, with a message, where Chromium is not installed;
 * .ci/run installs Debian's chromium so CI always runs it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../src/cli/_budget.ts';
import { renderStatsReport } from '../../src/cli/_stats_report.ts';
import { seededRng } from '../../src/core/random.ts';
import { PrivacyLedger, collectStats, releaseStats } from '../../src/dp/index.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('report screenshot test skipped: install Debian\'s chromium (apt-get install chromium) to run it');

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) into RGBA pixels. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  let pos = 8;
  let width = 0, height = 0, colorType = 0;
  const idat: Buffer[] = [];
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('unsupported PNG (bit depth or interlace)');
      colorType = data[9];
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (!bpp) throw new Error(`unsupported PNG colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const cur = new Uint8Array(stride), prev = new Uint8Array(stride);
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      rgba.set([cur[x * bpp], cur[x * bpp + 1], cur[x * bpp + 2], bpp === 4 ? cur[x * bpp + 3] : 255], (y * width + x) * 4);
    }
    prev.set(cur);
  }
  return { width, height, rgba };
}

function countColour(img: { rgba: Uint8Array }, [r, g, b]: number[], tolerance = 40): number {
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4)
    if (Math.abs(img.rgba[i] - r) + Math.abs(img.rgba[i + 1] - g) + Math.abs(img.rgba[i + 2] - b) <= tolerance) n++;
  return n;
}

/** Renders `html` in headless Chromium at 900 px wide and returns the PNG's path. */
function screenshot(dir: string, html: string, height = 800): string {
  const png = join(dir, 'shot.png');
  const r = spawnSync(
    CHROMIUM!,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${join(dir, 'profile')}`, `--window-size=900,${height}`, `--screenshot=${png}`, `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(existsSync(png), `chromium failed: ${r.stderr}`).toBe(true);
  return png;
}

describe('confide budget report', () => {
  it.skipIf(!CHROMIUM)('renders in headless Chromium with the spend plot drawn', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-report-'));
    const ledger = PrivacyLedger.open(join(dir, 'l.db'));
    ledger.setBudget('mail', { epsilon: 2, delta: 1e-6 }, { principal: 'officer' });
    for (let i = 0; i < 6; i++)
      ledger.spend({ dataset: 'mail', event: { type: 'gaussian', sigma: 8 }, principal: 'alice', purpose: 'stats', query: `q${i}` });
    const html = join(dir, 'report.html');
    writeFileSync(html, renderReport(ledger, 'l.db'));
    ledger.close();
    const png = screenshot(dir, html);
    const img = decodePng(readFileSync(png));
    expect(img.width).toBe(900);
    // The spend line and its points (#1f6feb) and the dashed budget line (#c0392b) are drawn.
    expect(countColour(img, [0x1f, 0x6f, 0xeb])).toBeGreaterThan(300);
    expect(countColour(img, [0xc0, 0x39, 0x2b], 60)).toBeGreaterThan(100);
  }, 90_000);
});

describe('confide stats report', () => {
  it.skipIf(!CHROMIUM)('renders the bar chart of released groups with their intervals', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-stats-report-'));
    const rows = [];
    for (let i = 0; i < 600; i++) rows.push(JSON.stringify({ user: `u${i}`, site: ['alpha', 'beta', 'gamma'][i % 3] }));
    writeFileSync(join(dir, 'rows.jsonl'), rows.join('\n'));
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('d', { epsilon: 10, delta: 1e-5 }, { method: 'basic', principal: 'test' });
    const partial = await collectStats([join(dir, 'rows.jsonl')], { unit: 'user', groupBy: 'site', aggregations: ['count'], publicGroups: ['alpha', 'beta', 'gamma'] }, { rng: seededRng(1) });
    const release = await releaseStats(partial, { epsilon: 1, ledger, dataset: 'd', rng: seededRng(2) });
    const html = join(dir, 'report.html');
    writeFileSync(html, renderStatsReport({ title: 'test', sections: [{ title: 'sites', release }] }));
    const img = decodePng(readFileSync(screenshot(dir, html)));
    // Three bars of about 200 (#1f6feb, 14 px tall) and their black whiskers.
    expect(countColour(img, [0x1f, 0x6f, 0xeb])).toBeGreaterThan(3 * 14 * 100);
    expect(countColour(img, [0x11, 0x11, 0x11], 30)).toBeGreaterThan(3 * 20);
  }, 90_000);
});
