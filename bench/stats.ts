// The statistics every benchmark reports: quantiles with linear interpolation, and the median,
// p10 and p90 of a sample.

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function stats(xs: number[]): { median: number; p10: number; p90: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9), n: s.length };
}

export const median = (xs: number[]): number => stats(xs).median;
