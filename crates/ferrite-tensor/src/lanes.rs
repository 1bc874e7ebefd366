//! Reductions over a contiguous slice written over a fixed number of lanes, so that the
//! compiler turns them into vector instructions: lane `l` takes the elements `l`, `l + LANES`,
//! ..., and the lanes are added pairwise at the end. The order of the additions depends on
//! the slice's length only, never on threads or on where the slice lies in a larger buffer
//! (a row gives the same sum alone or inside a batch).

use crate::Float;

/// Independent accumulators: four vector registers of `f32` on baseline x86-64, enough to
/// hide the latency of the additions.
const LANES: usize = 16;

/// The sum of the lanes, pairwise.
#[inline]
fn fold<T: Float>(mut acc: [T; LANES]) -> T {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            let other = acc[l + width];
            acc[l] += other;
        }
        width /= 2;
    }
    acc[0]
}

/// `Σ f(x)` over `xs`.
#[inline]
pub(crate) fn sum_map<T: Float>(xs: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += f(x);
    }
    fold(acc)
}

/// `Σ f(x, y)` over the pairs of `xs` and `ys` (of equal lengths).
#[inline]
pub(crate) fn sum_zip<T: Float>(xs: &[T], ys: &[T], f: impl Fn(T, T) -> T) -> T {
    debug_assert_eq!(xs.len(), ys.len());
    let mut acc = [T::zero(); LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    for ((a, &x), &y) in acc.iter_mut().zip(xr).zip(yr) {
        *a += f(x, y);
    }
    fold(acc)
}

/// `(Σ a, Σ b)` over `(a, b) = f(x, y, z)` for the triples of `xs`, `ys` and `zs` (of equal
/// lengths). Two passes, one sum each: with both accumulators in one loop the compiler
/// leaves the lanes scalar.
#[inline]
pub(crate) fn sum2_zip3<T: Float>(
    xs: &[T],
    ys: &[T],
    zs: &[T],
    f: impl Fn(T, T, T) -> (T, T),
) -> (T, T) {
    let a = sum_zip3(xs, ys, zs, |x, y, z| f(x, y, z).0);
    let b = sum_zip3(xs, ys, zs, |x, y, z| f(x, y, z).1);
    (a, b)
}

/// `out[i] = f(xs[i], ys[i])` (slices of equal lengths), written over lanes so that the
/// compiler vectorises `f` where a plain loop may stay scalar.
#[inline]
pub(crate) fn map2_into<T: Float>(xs: &[T], ys: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    debug_assert!(xs.len() == ys.len() && xs.len() == out.len());
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut oc = out.chunks_exact_mut(LANES);
    for ((x, y), o) in xc.zip(yc).zip(&mut oc) {
        for l in 0..LANES {
            o[l] = f(x[l], y[l]);
        }
    }
    for ((o, &x), &y) in oc.into_remainder().iter_mut().zip(xr).zip(yr) {
        *o = f(x, y);
    }
}

/// `Σ x` over `xs`, each converted to and added in `f64`.
#[inline]
pub(crate) fn sum_as_f64<T: Float>(xs: &[T]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += c[l].as_f64();
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += x.as_f64();
    }
    fold(acc)
}

/// `Σ f(x, y, z)` over the triples of `xs`, `ys` and `zs` (of equal lengths).
#[inline]
pub(crate) fn sum_zip3<T: Float>(xs: &[T], ys: &[T], zs: &[T], f: impl Fn(T, T, T) -> T) -> T {
    debug_assert!(xs.len() == ys.len() && xs.len() == zs.len());
    let mut acc = [T::zero(); LANES];
    let (xc, yc, zc) = (
        xs.chunks_exact(LANES),
        ys.chunks_exact(LANES),
        zs.chunks_exact(LANES),
    );
    let (xr, yr, zr) = (xc.remainder(), yc.remainder(), zc.remainder());
    for ((x, y), z) in xc.zip(yc).zip(zc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l], z[l]);
        }
    }
    for (a, ((&x, &y), &z)) in acc.iter_mut().zip(xr.iter().zip(yr).zip(zr)) {
        *a += f(x, y, z);
    }
    fold(acc)
}

/// The largest element of `xs`, ignoring NaNs (like a fold with `f64::max`); `-inf` for an
/// empty slice or one of NaNs only.
#[inline]
pub(crate) fn max<T: Float>(xs: &[T]) -> T {
    let mut acc = [T::neg_infinity(); LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    let pick = |m: T, x: T| if x > m { x } else { m };
    for c in chunks {
        for l in 0..LANES {
            acc[l] = pick(acc[l], c[l]);
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a = pick(*a, x);
    }
    acc.into_iter().fold(T::neg_infinity(), pick)
}

/// Writes `e^(x - shift)` for every `x` of `xs` into `out` (same length) and returns their
/// sum.
#[inline]
pub(crate) fn exp_shifted_into<T: Float>(xs: &[T], shift: T, out: &mut [T]) -> T {
    debug_assert_eq!(xs.len(), out.len());
    let mut acc = [T::zero(); LANES];
    let (xc, oc) = (xs.chunks_exact(LANES), out.chunks_exact_mut(LANES));
    let xr = xc.remainder();
    for (x, o) in xc.zip(oc) {
        for l in 0..LANES {
            o[l] = (x[l] - shift).exp_kernel();
            acc[l] += o[l];
        }
    }
    let done = xs.len() - xr.len();
    for ((a, &x), o) in acc.iter_mut().zip(xr).zip(&mut out[done..]) {
        *o = (x - shift).exp_kernel();
        *a += *o;
    }
    fold(acc)
}

/// The shift that keeps `e^(x - shift)` from overflowing: the maximum, or 0 where it is
/// infinite (a row of `-inf`, or one holding `+inf`, gives NaN or infinity as in PyTorch
/// rather than a shift by infinity).
#[inline]
pub(crate) fn stable_shift<T: Float>(max: T) -> T {
    if max.is_finite() { max } else { T::zero() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_reductions_match_plain_ones() {
        for n in [0usize, 1, 5, 15, 16, 17, 100, 1000] {
            let xs: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 - 4.5).collect();
            let twice: f64 = xs.iter().map(|x| x * 2.0).sum();
            assert_eq!(sum_map(&xs, |x| x * 2.0), twice, "n = {n}");
            let narrow: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            assert_eq!(sum_as_f64(&narrow), sum_map(&xs, |x| x));
            let mut prod = vec![0.0; n];
            map2_into(&xs, &xs, &mut prod, |x, y| x * y);
            assert!(prod.iter().zip(&xs).all(|(p, x)| *p == x * x));
            let ys: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
            let dot: f64 = xs.iter().zip(&ys).map(|(x, y)| x * y).sum();
            assert_eq!(sum_zip(&xs, &ys, |x, y| x * y), dot);
            let (a, b) = sum2_zip3(&xs, &ys, &ys, |x, y, _| (x * y, y));
            assert_eq!((a, b), (dot, ys.iter().sum::<f64>()));
            let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(max(&xs), m);
            let mut out = vec![0.0; n];
            let s = exp_shifted_into(&xs, 1.0, &mut out);
            for (o, x) in out.iter().zip(&xs) {
                assert_eq!(*o, (x - 1.0).exp());
            }
            assert!((s - out.iter().sum::<f64>()).abs() <= 1e-12 * s.max(1.0));
        }
    }

    #[test]
    fn max_ignores_nan_and_handles_infinities() {
        assert_eq!(max(&[f32::NAN, 1.0, -2.0]), 1.0);
        assert_eq!(max::<f32>(&[f32::NAN]), f32::NEG_INFINITY);
        assert_eq!(max(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
        assert_eq!(max(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(stable_shift(f32::INFINITY), 0.0);
        assert_eq!(stable_shift(3.0f64), 3.0);
    }
}
