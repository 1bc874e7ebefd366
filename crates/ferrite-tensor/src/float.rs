//! The element types a tensor can hold: `f32` and `f64`.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element type: implemented for `f32` and `f64` only.
///
/// Kernels are written once, generic over `Float`; user code names the type only when it
/// creates a tensor (`Tensor::<f64>::zeros(..)`).
///
/// ```
/// use ferrite_tensor::Float;
/// assert_eq!(<f32 as Float>::of(0.5), 0.5f32);
/// assert_eq!(2.0f64.as_f64(), 2.0);
/// assert_eq!(<f64 as Float>::NAME, "f64");
/// ```
pub trait Float:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + serde::Serialize
    + for<'de> serde::Deserialize<'de>
    + 'static
{
    /// `"f32"` or `"f64"`, as in messages and file headers.
    const NAME: &'static str;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn of(value: f64) -> Self;

    /// Converts to `f64` (exact for both types).
    fn as_f64(self) -> f64;

    /// `e^self` as the kernels compute it. For `f64` this is `f64::exp`. For `f32` it is
    /// [`exp_f32`], a polynomial the compiler can vectorise (within 2 ulp of the exact
    /// value; `f32::exp` calls the C library once per element, about 8x slower).
    ///
    /// ```
    /// use ferrite_tensor::Float;
    /// assert_eq!(1.0f64.exp_kernel(), 1.0f64.exp());
    /// assert!((1.0f32.exp_kernel() - std::f32::consts::E).abs() <= f32::EPSILON * 3.0);
    /// ```
    fn exp_kernel(self) -> Self;

    /// `1 + erf(self)` as GELU's kernels compute it (`2Φ(x√2)`). For `f64` this is
    /// `1 + libm::erf`. For `f32` it is [`one_plus_erf_f32`], a vectorisable approximation
    /// (within `1e-5` relative of the exact value everywhere, also where the result is tiny;
    /// `libm::erf` per element in `f64` is several times slower).
    ///
    /// ```
    /// use ferrite_tensor::Float;
    /// assert_eq!(0.5f64.one_plus_erf_kernel(), 1.0 + libm::erf(0.5));
    /// assert!((0.5f32.one_plus_erf_kernel() - (1.0 + libm::erf(0.5)) as f32).abs() < 1e-6);
    /// ```
    fn one_plus_erf_kernel(self) -> Self;

    /// `ln(1 + self)` for `self` in `[0, 1]` (what `log σ(x) = min(x, 0) - ln(1 + e^-|x|)`
    /// needs), as the loss kernels compute it. For `f64` this is `f64::ln_1p`; for `f32`
    /// the series `2·atanh(s)`, `s = self/(2 + self)`, to `s^15` (truncation below `2e-9`
    /// relative, no cancellation for tiny `self`), which vectorises.
    ///
    /// ```
    /// use ferrite_tensor::Float;
    /// assert_eq!(0.25f64.ln_1p_unit_kernel(), 0.25f64.ln_1p());
    /// assert!((1.0f32.ln_1p_unit_kernel() - std::f32::consts::LN_2).abs() <= 2e-7);
    /// assert_eq!(1e-30f32.ln_1p_unit_kernel(), 1e-30);
    /// ```
    fn ln_1p_unit_kernel(self) -> Self;
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    #[inline]
    fn of(value: f64) -> Self {
        value as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn exp_kernel(self) -> Self {
        exp_f32(self)
    }
    #[inline]
    fn one_plus_erf_kernel(self) -> Self {
        one_plus_erf_f32(self)
    }
    #[inline]
    fn ln_1p_unit_kernel(self) -> Self {
        let s = self / (2.0 + self);
        let s2 = s * s;
        let mut q = 1.0 / 15.0;
        for k in [13.0f32, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
            q = q * s2 + 1.0 / k;
        }
        2.0 * s * q
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    #[inline]
    fn of(value: f64) -> Self {
        value
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline]
    fn exp_kernel(self) -> Self {
        self.exp()
    }
    #[inline]
    fn one_plus_erf_kernel(self) -> Self {
        1.0 + libm::erf(self)
    }
    #[inline]
    fn ln_1p_unit_kernel(self) -> Self {
        self.ln_1p()
    }
}

/// `e^x` for `f32` without a library call, so loops over it vectorise: `x = n·ln 2 + r`
/// with `|r| <= ln 2 / 2`, `e^r` by Cephes' degree-6 polynomial, and `2^n` applied as two
/// factors `2^(n/2) · 2^(n - n/2)`, each a normal float, so results past `f32::MAX` round to
/// infinity and tiny ones to subnormals or zero as `f32::exp` does. NaN stays NaN,
/// `-inf` gives 0, `inf` gives `inf`. Within 2 ulp of the exact value everywhere (checked
/// against `f64::exp` in the tests).
///
/// ```
/// use ferrite_tensor::exp_f32;
/// assert_eq!(exp_f32(0.0), 1.0);
/// assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
/// assert_eq!(exp_f32(100.0), f32::INFINITY);
/// assert!(exp_f32(f32::NAN).is_nan());
/// ```
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts: `n * LN2_HI` is exact for the |n| <= 150 used here.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer without `round`,
    // which has no vector instruction on baseline x86-64.
    const ROUNDER: f32 = 12_582_912.0;
    // Past these, e^x is infinite or zero in f32 anyway; clamping keeps `n` small.
    // (`clamp` keeps a NaN.)
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // `n` as an integer, read from the low bits of `shifted` (an `as i32` conversion would
    // not vectorise); for a NaN input it is garbage, and the NaN stays in `er`.
    let n = shifted.to_bits() as i32 - ROUNDER.to_bits() as i32;
    let half = n >> 1;
    let scale = |k: i32| f32::from_bits(((k + 127) << 23) as u32);
    er * scale(half) * scale(n - half)
}

/// `1 + erf(x)` for `f32` without a library call, so loops over it vectorise. With
/// `a = |x|`, `erfc(a) = t·e^(-a² + P(t))`, `t = 1/(1 + a/2)` and `P` the degree-9
/// Chebyshev fit of Numerical Recipes' `erfcc` (fractional error below `1.2e-7` for every
/// `a >= 0`); the result is `erfc(a)` for negative `x` (no cancellation where it is tiny)
/// and `2 - erfc(a)` otherwise. In `f32` arithmetic it stays within `1e-5` relative of the
/// exact value (checked against `libm::erfc` in the tests; the worst is far out, where the
/// rounding of `a²` in `f32` shows in the exponent). NaN stays NaN, `-inf`
/// gives 0 and `inf` gives 2.
///
/// ```
/// use ferrite_tensor::one_plus_erf_f32;
/// assert_eq!(one_plus_erf_f32(f32::NEG_INFINITY), 0.0);
/// assert_eq!(one_plus_erf_f32(f32::INFINITY), 2.0);
/// assert!((one_plus_erf_f32(0.0) - 1.0).abs() < 1e-6);
/// assert!(one_plus_erf_f32(f32::NAN).is_nan());
/// ```
#[inline]
pub fn one_plus_erf_f32(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let mut p = 0.170_872_77_f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_9;
    p = p * t - 1.135_204;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_7;
    p = p * t - 1.265_512_2;
    let erfc = t * exp_f32(p - a * a);
    if x >= 0.0 { 2.0 - erfc } else { erfc }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two non-negative floats.
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_f32_is_within_two_ulp_of_the_exact_value() {
        let mut worst = (0, 0.0f32);
        let mut x = -110.0f32;
        while x < 95.0 {
            let exact = (x as f64).exp() as f32;
            let d = ulps(exp_f32(x), exact);
            if d > worst.0 {
                worst = (d, x);
            }
            x += 0.000_37;
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
        for x in [
            0.0f32, -0.0, 1e-30, -1e-30, 88.72, -87.33, -103.9, -103.2, 88.7228,
        ] {
            let exact = (x as f64).exp() as f32;
            assert!(ulps(exp_f32(x), exact) <= 2, "x = {x}");
        }
    }

    #[test]
    fn one_plus_erf_f32_is_close_to_libm_everywhere() {
        let mut worst = (0.0f64, 0.0f32);
        let mut x = -11.0f32;
        while x < 11.0 {
            let exact = libm::erfc(-x as f64);
            let got = one_plus_erf_f32(x) as f64;
            // Relative to the exact value where it is tiny (x < 0), else absolute (≤ 2).
            let err = (got - exact).abs() / exact.min(1.0);
            if exact > 1e-37 && err > worst.0 {
                worst = (err, x);
            }
            x += 0.000_71;
        }
        assert!(worst.0 < 1e-5, "{} at x = {}", worst.0, worst.1);
        assert_eq!(one_plus_erf_f32(-20.0), 0.0);
        assert_eq!(one_plus_erf_f32(20.0), 2.0);
        assert_eq!(one_plus_erf_f32(-0.0), one_plus_erf_f32(0.0));
    }

    #[test]
    fn ln_1p_unit_kernel_f32_is_within_three_ulp_on_the_unit_interval() {
        let mut worst = (0, 0.0f32);
        let mut e = 0.0f32;
        while e <= 1.0 {
            let exact = (e as f64).ln_1p() as f32;
            let d = ulps(e.ln_1p_unit_kernel(), exact);
            if d > worst.0 {
                worst = (d, e);
            }
            e += 0.000_013;
        }
        assert!(worst.0 <= 3, "{} ulp at {}", worst.0, worst.1);
        for e in [0.0f32, 1e-30, 1e-8, 1.0] {
            assert!(
                ulps(e.ln_1p_unit_kernel(), (e as f64).ln_1p() as f32) <= 2,
                "{e}"
            );
        }
        assert!(f32::NAN.ln_1p_unit_kernel().is_nan());
    }

    #[test]
    fn exp_f32_edges_are_those_of_f32_exp() {
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::MAX), f32::INFINITY);
        assert_eq!(exp_f32(f32::MIN), 0.0);
    }
}
