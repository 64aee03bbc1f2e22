/** The part of jstat (no bundled types, no @types package) that stats.ts uses. */
declare module 'jstat' {
  interface StudentT {
    /** P(T <= t) for Student's t with `df` degrees of freedom. */
    cdf(t: number, df: number): number;
    /** The p-quantile of Student's t with `df` degrees of freedom. */
    inv(p: number, df: number): number;
  }
  const jStat: { studentt: StudentT };
  export default jStat;
}
