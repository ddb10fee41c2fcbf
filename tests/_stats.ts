/**
 * Critical values for statistical tests. Tests use seeded generators, so a
 * pass is reproducible; the tolerance still comes from a stated confidence
 * level so that a real defect, not bad luck, is what fails them.
 */

/** Upper quantile z of the standard normal for the tail probabilities the suites use. */
const Z: Record<string, number> = { '1e-3': 3.090, '1e-4': 3.719, '1e-6': 4.753, '1e-9': 5.998 };

export function zQuantile(alpha: '1e-3' | '1e-4' | '1e-6' | '1e-9'): number {
  return Z[alpha];
}

/**
 * Upper critical value of chi-square with `df` degrees of freedom at tail
 * probability alpha, by the Wilson–Hilferty approximation (accurate to a few
 * tenths of a percent for df >= 3).
 */
export function chiSquareCritical(df: number, alpha: '1e-3' | '1e-4' | '1e-6' | '1e-9'): number {
  const z = Z[alpha];
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Pearson's chi-square statistic of observed counts against expected counts. */
export function chiSquare(observed: ArrayLike<number>, expected: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < observed.length; i++) s += (observed[i] - expected[i]) ** 2 / expected[i];
  return s;
}
