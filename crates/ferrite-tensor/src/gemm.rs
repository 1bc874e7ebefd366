//! The one place where matrix products are computed. `matmul`, `linear` and the convolution
//! kernels all call [`gemm`], so a faster GEMM speeds up every one of them.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::Float;

/// `c = a @ b` (or `c += a @ b` when `accumulate`), for 2-D views of any strides.
///
/// # Panics
/// When the inner dimensions or the output shape disagree (an internal invariant: callers
/// check user shapes first).
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[1.0f32, 0.0], [0.0, 1.0]];
/// let mut c = ndarray::Array2::<f32>::zeros((2, 2));
/// ferrite_tensor::gemm::gemm(a.view(), b.view(), c.view_mut(), false);
/// assert_eq!(c, a);
/// ```
pub fn gemm<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    let beta = if accumulate { T::one() } else { T::zero() };
    ndarray::linalg::general_mat_mul(T::one(), &a, &b, beta, &mut c);
}
