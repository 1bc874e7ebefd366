//! Convolutions: parameters, output-size arithmetic, forward and backward kernels of
//! `conv2d`, and of `conv1d` and `conv_transpose2d`, which run on the same kernels.
//!
//! The kernels follow PyTorch's `F.conv2d` exactly (stride, zero padding, dilation, groups,
//! bias) and are built as im2col + GEMM: for each image and group the receptive fields are
//! unrolled into a column matrix `[C/groups * kh * kw, oh * ow]` and multiplied by the weight
//! matrix with [`crate::gemm::gemm_serial`]. Images are processed in parallel with `rayon`;
//! every reduction across images is done in a fixed order, so the results are bit-identical
//! whatever the number of threads.
//!
//! - `params.rs`: [`Padding`], [`PaddingMode`] (the layer's), [`Conv2dParams`];
//! - `plan.rs`: the validated shapes of one convolution;
//! - `forward.rs`: [`Tensor::conv2d`](crate::Tensor::conv2d);
//! - `backward.rs`: one function per gradient ([`conv2d_input_grad`], [`conv2d_weight_grad`],
//!   [`conv2d_bias_grad`]), each dispatching to named strategies;
//! - `im2col.rs`: unrolling receptive fields into columns and back;
//! - `conv1d.rs`: [`Tensor::conv1d`](crate::Tensor::conv1d), a `[N, C, 1, L]` view of the input
//!   convolved by a `1 x k` kernel;
//! - `transpose.rs`: [`Tensor::conv_transpose2d`](crate::Tensor::conv_transpose2d), whose
//!   forward is conv2d's input gradient and whose input gradient is conv2d's forward.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::gemm::gemm_serial_per_shape;
use crate::{Float, Result, Tensor, TensorError};

mod backward;
mod conv1d;
mod forward;
mod im2col;
mod params;
mod plan;
#[cfg(test)]
mod tests;
mod transpose;

pub use backward::{
    Conv2dGrads, conv2d_backward, conv2d_bias_grad, conv2d_input_grad, conv2d_weight_grad,
};
pub use conv1d::{Conv1dParams, Padding1d, conv1d_backward};
pub use params::{Conv2dParams, Padding, PaddingMode};
pub use transpose::{ConvTranspose2dParams, conv_transpose2d_backward};

/// `t` with a leading batch dimension of one when it has `batched_rank - 1` dimensions (an
/// unbatched input, which PyTorch accepts), and whether it was added. A view: no copy.
fn batch_of_one<T: Float>(t: &Tensor<T>, batched_rank: usize) -> Result<(Tensor<T>, bool)> {
    if t.ndim() + 1 == batched_rank {
        Ok((t.unsqueeze(0)?, true))
    } else {
        Ok((t.clone(), false))
    }
}

/// Drops the batch dimension of one that [`batch_of_one`] added (`unbatched`).
fn unbatch<T: Float>(t: Tensor<T>, unbatched: bool) -> Result<Tensor<T>> {
    if unbatched { t.squeeze(0) } else { Ok(t) }
}

/// `a * b`, or an error naming `op` when the product overflows `usize`.
fn checked_mul(op: &'static str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| TensorError::invalid(op, format!("size {a} x {b} overflows")))
}

/// A row-major `[rows, cols]` view of `data` (which must hold exactly that many elements).
fn mat<T>(data: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), data).expect("buffer matches the matrix shape")
}

/// A mutable row-major `[rows, cols]` view of `data`.
fn mat_mut<T>(data: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), data).expect("buffer matches the matrix shape")
}

/// `gemm_serial_per_shape` (the products of one image, whose shapes never depend on the
/// batch size, so they keep the `gemm` crate's fast paths and stay batch-invariant), with an
/// empty inner dimension handled here (`c = 0`, or unchanged when accumulating).
fn matmul_into<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    if a.ncols() == 0 {
        if !accumulate {
            c.fill(T::zero());
        }
        return;
    }
    gemm_serial_per_shape(a, b, c, accumulate);
}
