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
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn of(value: f64) -> Self {
        value as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    fn of(value: f64) -> Self {
        value
    }
    fn as_f64(self) -> f64 {
        self
    }
}
