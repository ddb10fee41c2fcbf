/**
 * Amplification of Rényi DP by Poisson subsampling for any mechanism, from
 * nothing but its RDP curve at integer orders: the general upper bound of
 * Zhu and Wang, "Poisson Subsampled Rényi Differential Privacy", ICML 2019
 * (PMLR 97), Theorem 6. The authors' library autodp computes the same
 * expression (rdp_acct.py `general_upperbound`, written there as a
 * difference of log-sum-exps over ε(α) for ℓ above a cut-off, which expands
 * to the sum below); the paper's abstract states its slack, log(3)/(α − 1).
 *
 * Statement. Let M be (ℓ, ε(ℓ))-RDP for every integer ℓ in [2, α] under
 * adding or removing one record, and let PoissonSample keep each record
 * independently with probability γ. Then for every integer α >= 2,
 * M ∘ PoissonSample is (α, ε'(α))-RDP with
 *
 *   (α − 1) ε'(α) <= log{ (1 − γ)^{α−1} (αγ − γ + 1)
 *                        + C(α, 2) γ² (1 − γ)^{α−2} e^{ε(2)}
 *                        + 3 Σ_{ℓ=3}^{α} C(α, ℓ) γ^ℓ (1 − γ)^{α−ℓ} e^{(ℓ−1) ε(ℓ)} }.
 *
 * Without the factor 3 the bracket is the exact moment
 * E_p[((1 − γ) + γ q/p)^α] of the direction D_α(mixture ‖ p) for a
 * mechanism whose curve is attained (Zhu and Wang's lower bound, the
 * Gaussian formula of Mironov, Talwar and Zhang 2019); the 3 pays for the
 * other direction D_α(p ‖ mixture) of a mechanism about which nothing else
 * is known, which is why the paper calls the bound optimal up to
 * log(3)/(α − 1). The ℓ = 2 term carries no 3. (The term
 * min(4(e^{ε(2)} − 1), 2e^{ε(2)}) belongs to sampling without replacement,
 * Wang, Balle and Kasiviswanathan 2019, Thm 9, not to this theorem.)
 *
 * tests/dp/accounting/rdp_subsampled.test.ts checks this reading against
 * exact divergences of random two-point mechanisms (both directions), the
 * exact sampled Gaussian, and a direct evaluation of the sum.
 */
import { logAdd, logComb, logExpm1, softplus } from './_logspace.ts';

const LN2 = Math.LN2;
const LN3 = Math.log(3);

/**
 * log of the bracket of Zhu and Wang's general bound at integer order
 * `alpha` >= 2, i.e. an upper bound on (α − 1)·ε'(α), for 0 < q < 1 and
 * `epsilon[ℓ]` = ε(ℓ) of the inner mechanism at ℓ = 2..α (entries may be
 * Infinity; the result is then Infinity).
 *
 * The bracket is Σ_ℓ Bin(ℓ; α, q)·w_ℓ with w_0 = w_1 = 1, w_2 = e^{ε(2)} and
 * w_ℓ = 3e^{(ℓ−1)ε(ℓ)}, all >= 1, so it is 1 + Σ_{ℓ>=2} Bin(ℓ; α, q)(w_ℓ − 1)
 * with w_2 − 1 = e^{ε(2)} − 1 and w_ℓ − 1 = 2 + 3(e^{(ℓ−1)ε(ℓ)} − 1). That
 * sum of non-negative terms is taken in log space and the logarithm is
 * log1p of it: never negative, and a tiny bound keeps its relative digits
 * (summing (1 − γ)^{α−1}(αγ − γ + 1) + ... as written would cancel to the
 * rounding of 1).
 */
export function logPoissonGeneralBracket(q: number, alpha: number, epsilon: ArrayLike<number>): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let sum = logComb(alpha, 2) + 2 * logQ + (alpha - 2) * log1mQ + logExpm1(epsilon[2]);
  for (let l = 3; l <= alpha; l++) {
    const excess = logAdd(LN2, LN3 + logExpm1((l - 1) * epsilon[l]));
    sum = logAdd(sum, logComb(alpha, l) + l * logQ + (alpha - l) * log1mQ + excess);
  }
  return softplus(sum);
}
