/**
 * Log-space arithmetic shared by the RDP accountant and its subsampling
 * bounds: sums of positive terms kept as logarithms so that neither tiny nor
 * huge moments overflow, underflow or cancel.
 */

const LN2 = Math.LN2;

/** log(e^a + e^b), exact for −∞ and +∞ operands. */
export function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  if (a === Infinity || b === Infinity) return Infinity;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** log(1 + e^x): softplus(−∞) = 0, softplus(∞) = ∞. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** log(e^z − 1) for z >= 0 (−∞ at 0, ∞ at ∞). */
export function logExpm1(z: number): number {
  return z > 36 ? z + Math.log1p(-Math.exp(-z)) : Math.log(Math.expm1(z));
}

/** log(1 − e^{−z}) for z >= 0 (−∞ at 0, 0 at ∞). */
export function log1mExp(z: number): number {
  return z > LN2 ? Math.log1p(-Math.exp(-z)) : Math.log(-Math.expm1(-z));
}

const LOG_FACTORIAL: number[] = [0, 0];

/** log(n!) for an integer n >= 0: a running product up to 170!, then Stirling's series (error about one ulp). */
export function logFactorial(n: number): number {
  if (n < LOG_FACTORIAL.length) return LOG_FACTORIAL[n];
  if (n <= 170) {
    let p = 1;
    for (let i = 2; i <= 170; i++) {
      p *= i;
      LOG_FACTORIAL[i] = Math.log(p);
    }
    return LOG_FACTORIAL[n];
  }
  const m = n + 1; // log Γ(m)
  const z = 1 / (m * m);
  return (m - 0.5) * Math.log(m) - m + 0.9189385332046728 + (1 / m) * (1 / 12 - z * (1 / 360 - z * (1 / 1260 - z / 1680)));
}

/** log C(n, k) for integers 0 <= k <= n. */
export function logComb(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}
