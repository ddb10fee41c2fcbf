/**
 * One BFV key set for a test file: planned, created before its tests and
 * disposed after them (every SEAL object is deleted; node-seal has no
 * finalizer).
 */
import { afterAll, beforeAll } from 'vitest';
import * as he from '../../src/he/index.ts';

export interface HeKeys {
  plan: he.AggregationPlan;
  ctx: he.HeContext;
  keys: he.HeKeyPair;
  enc: he.VectorEncryptor;
  dec: he.VectorDecryptor;
}

/** Registers the hooks; the returned object is filled in before the file's own beforeAll hooks run. */
export function useHeKeys(options: { contributors: number; bound: number; fracBits: number }): HeKeys {
  const k = {} as HeKeys;
  beforeAll(async () => {
    k.plan = await he.planAggregation(options);
    k.ctx = await he.createContext(k.plan.params);
    k.keys = he.generateKeys(k.ctx, k.plan);
    k.enc = he.createEncryptor(k.ctx, k.plan, k.keys.publicKey);
    k.dec = await he.VectorDecryptor.open(k.keys.secretKey);
  });
  afterAll(() => {
    k.enc?.dispose();
    k.dec?.dispose();
    k.ctx?.dispose();
  });
  return k;
}
