//! The elementwise losses: a loss `l(x, t)` per element of input and target (same shape),
//! then the reduction. Here the regression losses [`Tensor::mse_loss`], [`Tensor::l1_loss`],
//! [`Tensor::smooth_l1_loss`] and [`Tensor::huber_loss`], each with its backward giving the
//! gradients of input and target (PyTorch differentiates both), and the drivers they share
//! with the probabilistic ones in [`probability`](super::probability).
//!
//! Unlike PyTorch, which warns and broadcasts when input and target shapes differ (almost
//! always a bug, e.g. `[N, 1]` against `[N]`), these refuse them.
//!
//! ```
//! use ferrite_tensor::{huber_loss_backward, Reduction, Tensor};
//! let x = Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?;
//! let t = Tensor::<f64>::zeros(&[2]);
//! assert_eq!(x.huber_loss(&t, Reduction::Sum, 1.0)?.item()?, 0.125 + 2.5);
//! let g = huber_loss_backward(&Tensor::scalar(1.0), &x, &t, Reduction::Sum, 1.0)?;
//! assert_eq!(g.input.to_vec(), vec![0.5, 1.0]);
//! assert_eq!(g.target.to_vec(), vec![-0.5, -1.0]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use super::{Reduced, Reduction, Scales};
use crate::{Float, Result, Tensor, TensorError, buffer, lanes, parallel};

const MSE_LOSS: &str = "mse_loss";
const L1_LOSS: &str = "l1_loss";
const SMOOTH_L1_LOSS: &str = "smooth_l1_loss";
const HUBER_LOSS: &str = "huber_loss";

/// The gradients of an elementwise loss with respect to its input and its target.
///
/// ```
/// use ferrite_tensor::{l1_loss_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, -1.0], &[2])?;
/// let g = l1_loss_backward(&Tensor::scalar(1.0), &x, &Tensor::zeros(&[2]), Reduction::Sum)?;
/// assert_eq!(g.input.to_vec(), vec![1.0, -1.0]);
/// assert_eq!(g.target.to_vec(), vec![-1.0, 1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LossGrads<T: Float> {
    /// d(loss)/d(input), the input's shape.
    pub input: Tensor<T>,
    /// d(loss)/d(target), the target's shape.
    pub target: Tensor<T>,
}

/// Refuses input and target of different shapes.
pub(super) fn same_shape<T: Float>(
    op: &'static str,
    input: &Tensor<T>,
    target: &Tensor<T>,
) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(TensorError::shape(
            op,
            format!(
                "input has shape {:?} but target has shape {:?}; the shapes must be equal (no broadcasting)",
                input.shape(),
                target.shape()
            ),
        ));
    }
    Ok(())
}

/// The values of `x` as `f64`, row-major.
pub(super) fn values<T: Float>(x: &Tensor<T>) -> Vec<f64> {
    x.row_major().iter().map(|v| v.as_f64()).collect()
}

/// An optional weight broadcast to `shape`, as `f64` row-major values.
pub(super) fn broadcast_weight<T: Float>(
    op: &'static str,
    name: &str,
    weight: Option<&Tensor<T>>,
    shape: &[usize],
) -> Result<Option<Vec<f64>>> {
    let Some(w) = weight else { return Ok(None) };
    let expanded = w.broadcast_to(shape).map_err(|_| {
        TensorError::shape(
            op,
            format!(
                "{name} of shape {:?} cannot be broadcast to the input's shape {shape:?}",
                w.shape()
            ),
        )
    })?;
    Ok(Some(values(&expanded)))
}

/// `reduction` for an elementwise loss over `numel` elements.
pub(super) fn elementwise(reduction: Reduction, numel: usize) -> Reduced {
    Reduced::new(reduction, numel as f64)
}

/// The forward of an elementwise loss: `f(i, x_i, t_i)` per element (computed in `f64`),
/// then `reduced`.
pub(super) fn forward<T: Float>(
    op: &'static str,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, f64, f64) -> f64 + Sync + Send,
) -> Result<Tensor<T>> {
    forward_in(op, input, target, reduced, move |i, x: T, t: T| {
        f(i, x.as_f64(), t.as_f64())
    })
}

/// [`forward`] with `f` given the elements as they are (for kernels that compute in the
/// element type); the losses are still summed in `f64`.
pub(super) fn forward_in<T: Float>(
    op: &'static str,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, T, T) -> f64 + Sync + Send,
) -> Result<Tensor<T>> {
    same_shape(op, input, target)?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let (xs, ts) = (&xs[..], &ts[..]);
    let mut losses = vec![0.0; xs.len()];
    parallel::zip_indexed_into(xs, ts, &mut losses, f);
    reduced.apply::<T>(&losses, input.shape())
}

/// [`forward`] with each loss computed by `f` in the element type, for kernels whose loops
/// vectorise only so (an `f64` result halves the vector width). A total is summed chunk by
/// chunk (`parallel::CHUNK` elements, fixed), each chunk over lanes in `f64`, then the chunks in
/// order: the bits depend on the input's length only.
pub(super) fn forward_elementwise<T: Float>(
    op: &'static str,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Result<Tensor<T>> {
    same_shape(op, input, target)?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let (xs, ts) = (&xs[..], &ts[..]);
    let Reduced::Total { divisor } = reduced else {
        let mut losses = buffer::for_overwrite(xs.len());
        parallel::zip_indexed_into(xs, ts, &mut losses, |_, x, t| f(x, t));
        return Tensor::from_vec(losses, input.shape());
    };
    let chunk_sum = |(xs, ts): (&[T], &[T])| {
        let mut losses = vec![T::zero(); xs.len()];
        lanes::map2_into(xs, ts, &mut losses, &f);
        lanes::sum_as_f64(&losses)
    };
    let partials: Vec<f64> = if xs.len() <= parallel::CHUNK {
        vec![chunk_sum((xs, ts))]
    } else {
        let chunks = xs
            .par_chunks(parallel::CHUNK)
            .zip(ts.par_chunks(parallel::CHUNK));
        chunks.map(chunk_sum).collect()
    };
    let sum: f64 = partials.iter().sum();
    Ok(Tensor::scalar(T::of(sum / divisor)))
}

/// The backward of an elementwise loss: `f(i, x_i, t_i)` gives `(dl/dx, dl/dt)` per
/// element (computed in `f64`), scaled by `grad_output` spread by the reduction.
pub(super) fn backward<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, f64, f64) -> (f64, f64) + Sync + Send,
) -> Result<LossGrads<T>> {
    backward_in(
        op,
        grad_output,
        input,
        target,
        reduced,
        move |i, x: T, t: T| f(i, x.as_f64(), t.as_f64()),
    )
}

/// [`backward`] with `f` given the elements as they are.
pub(super) fn backward_in<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, T, T) -> (f64, f64) + Sync + Send,
) -> Result<LossGrads<T>> {
    same_shape(op, input, target)?;
    let scales = reduced.scales(grad_output, input.numel())?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let (xs, ts) = (&xs[..], &ts[..]);
    let (mut gx, mut gt) = (vec![T::zero(); xs.len()], vec![T::zero(); xs.len()]);
    match scales {
        // Apart, so the loop over a uniform scale has no per-element branch.
        Scales::Uniform(s) => parallel::zip_indexed_into2(xs, ts, (&mut gx, &mut gt), |i, x, t| {
            let (dx, dt) = f(i, x, t);
            (T::of(dx * s), T::of(dt * s))
        }),
        Scales::Each(_) => parallel::zip_indexed_into2(xs, ts, (&mut gx, &mut gt), |i, x, t| {
            let (dx, dt) = f(i, x, t);
            let s = scales.at(i);
            (T::of(dx * s), T::of(dt * s))
        }),
    }
    Ok(LossGrads {
        input: Tensor::from_vec(gx, input.shape())?,
        target: Tensor::from_vec(gt, input.shape())?,
    })
}

/// [`backward`] with `f` giving `(dl/dx, dl/dt)` in the element type (scaled there too when
/// the scale is uniform), for kernels whose loops vectorise only so.
pub(super) fn backward_elementwise<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(T, T) -> (T, T) + Sync + Send,
) -> Result<LossGrads<T>> {
    same_shape(op, input, target)?;
    let scales = reduced.scales(grad_output, input.numel())?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let (xs, ts) = (&xs[..], &ts[..]);
    let mut gx = buffer::for_overwrite(xs.len());
    let mut gt = buffer::for_overwrite(xs.len());
    match &scales {
        Scales::Uniform(s) => {
            let s = T::of(*s);
            parallel::zip_indexed_into2(xs, ts, (&mut gx, &mut gt), |_, x, t| {
                let (dx, dt) = f(x, t);
                (dx * s, dt * s)
            })
        }
        Scales::Each(v) => parallel::zip_indexed_into2(xs, ts, (&mut gx, &mut gt), |i, x, t| {
            let (dx, dt) = f(x, t);
            (T::of(dx.as_f64() * v[i]), T::of(dt.as_f64() * v[i]))
        }),
    }
    Ok(LossGrads {
        input: Tensor::from_vec(gx, input.shape())?,
        target: Tensor::from_vec(gt, input.shape())?,
    })
}

/// `sign(d)`, 0 at 0 (PyTorch's gradient of `|d|` at the kink).
fn sign(d: f64) -> f64 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn check_beta(beta: f64) -> Result<()> {
    if beta.is_nan() || beta < 0.0 {
        return Err(TensorError::invalid(
            SMOOTH_L1_LOSS,
            format!("beta must be >= 0, found {beta}"),
        ));
    }
    Ok(())
}

fn check_delta(delta: f64) -> Result<()> {
    if delta.is_nan() || delta <= 0.0 {
        return Err(TensorError::invalid(
            HUBER_LOSS,
            format!("delta must be > 0, found {delta}"),
        ));
    }
    Ok(())
}

impl<T: Float> Tensor<T> {
    /// Mean squared error, like `F.mse_loss(input, target, reduction=...)` without
    /// autograd: `(input - target)²` elementwise, reduced as `reduction` says.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When `self` and `target` have different shapes (PyTorch broadcasts with a warning).
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?;
    /// let t = Tensor::<f64>::from_vec(vec![0.0, 4.0], &[2])?;
    /// assert_eq!(y.mse_loss(&t, Reduction::Mean)?.item()?, 2.5);
    /// assert!(y.mse_loss(&Tensor::zeros(&[2, 1]), Reduction::Mean).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mse_loss(&self, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
        same_shape(MSE_LOSS, self, target)?;
        let diff = self.sub(target)?;
        match reduction {
            Reduction::None => diff.mul(&diff),
            _ => {
                let squares: Vec<f64> = diff
                    .as_array()
                    .iter()
                    .map(|d| d.as_f64() * d.as_f64())
                    .collect();
                elementwise(reduction, squares.len()).apply::<T>(&squares, &[])
            }
        }
    }

    /// Mean absolute error, like `F.l1_loss(input, target, reduction=...)` without autograd:
    /// `|input - target|` elementwise, reduced.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When `self` and `target` have different shapes.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2])?;
    /// assert_eq!(y.l1_loss(&Tensor::zeros(&[2]), Reduction::Mean)?.item()?, 1.5);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn l1_loss(&self, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
        let reduced = elementwise(reduction, self.numel());
        forward(L1_LOSS, self, target, reduced, |_, x, t| (x - t).abs())
    }

    /// Smooth L1 loss, like `F.smooth_l1_loss(input, target, reduction=..., beta=...)`
    /// without autograd: with `d = input - target`, `0.5 d² / β` where `|d| < β`, else
    /// `|d| - 0.5 β`; `β = 0` is the L1 loss.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or `beta` is negative or NaN.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?;
    /// let loss = y.smooth_l1_loss(&Tensor::zeros(&[2]), Reduction::Sum, 1.0)?;
    /// assert_eq!(loss.item()?, 0.125 + 2.5);
    /// assert!(y.smooth_l1_loss(&Tensor::zeros(&[2]), Reduction::Sum, -1.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn smooth_l1_loss(
        &self,
        target: &Tensor<T>,
        reduction: Reduction,
        beta: f64,
    ) -> Result<Tensor<T>> {
        check_beta(beta)?;
        let reduced = elementwise(reduction, self.numel());
        forward(SMOOTH_L1_LOSS, self, target, reduced, |_, x, t| {
            let d = (x - t).abs();
            if d < beta {
                0.5 * d * d / beta
            } else {
                d - 0.5 * beta
            }
        })
    }

    /// Huber loss, like `F.huber_loss(input, target, reduction=..., delta=...)` without
    /// autograd: with `d = input - target`, `0.5 d²` where `|d| < δ`, else
    /// `δ (|d| - 0.5 δ)` (the smooth L1 loss times δ, with β = δ).
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or `delta` is not positive.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?;
    /// let loss = y.huber_loss(&Tensor::zeros(&[2]), Reduction::None, 2.0)?;
    /// assert_eq!(loss.to_vec(), vec![0.125, 4.0]);
    /// assert!(y.huber_loss(&Tensor::zeros(&[2]), Reduction::Sum, 0.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn huber_loss(
        &self,
        target: &Tensor<T>,
        reduction: Reduction,
        delta: f64,
    ) -> Result<Tensor<T>> {
        check_delta(delta)?;
        let reduced = elementwise(reduction, self.numel());
        forward(HUBER_LOSS, self, target, reduced, |_, x, t| {
            let d = (x - t).abs();
            if d < delta {
                0.5 * d * d
            } else {
                delta * (d - 0.5 * delta)
            }
        })
    }
}

/// The gradient of [`Tensor::mse_loss`] with respect to its input,
/// `2 · (input - target) · scale`; the target's is its negation.
///
/// # Shapes
/// - `grad_output`: the loss's shape
/// - `input`, `target`, result: the same shape
///
/// # Errors
/// When `input` and `target` have different shapes, or `grad_output` does not fit the
/// reduction.
///
/// ```
/// use ferrite_tensor::{mse_loss_backward, Reduction, Tensor};
/// let y = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?;
/// let t = Tensor::<f64>::from_vec(vec![0.0, 4.0], &[2])?;
/// let g = mse_loss_backward(&Tensor::scalar(1.0), &y, &t, Reduction::Mean)?;
/// assert_eq!(g.to_vec(), vec![1.0, -2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn mse_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
) -> Result<Tensor<T>> {
    same_shape(MSE_LOSS, input, target)?;
    let diff = input.sub(target)?;
    match reduction {
        Reduction::None => Ok(diff.mul(grad_output)?.mul_scalar(T::of(2.0))),
        _ => {
            let g = grad_output.item()?.as_f64();
            let s = if reduction == Reduction::Mean {
                g / diff.numel() as f64
            } else {
                g
            };
            Ok(diff.mul_scalar(T::of(2.0 * s)))
        }
    }
}

/// The gradients of [`Tensor::l1_loss`]: `sign(input - target) · scale` for the input
/// (0 where they are equal), its negation for the target.
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape
///
/// # Errors
/// When the shapes differ, or `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{l1_loss_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![2.0, 0.0], &[2])?;
/// let g = l1_loss_backward(&Tensor::scalar(1.0), &x, &Tensor::zeros(&[2]), Reduction::Mean)?;
/// assert_eq!(g.input.to_vec(), vec![0.5, 0.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn l1_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
) -> Result<LossGrads<T>> {
    let reduced = elementwise(reduction, input.numel());
    backward(L1_LOSS, grad_output, input, target, reduced, |_, x, t| {
        let s = sign(x - t);
        (s, -s)
    })
}

/// The gradients of [`Tensor::smooth_l1_loss`]: with `d = input - target`, `d / β` where
/// `|d| < β`, else `sign(d)`, times the scale; the target's is its negation.
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape
///
/// # Errors
/// As the forward, or when `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{smooth_l1_loss_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?;
/// let g = smooth_l1_loss_backward(&Tensor::scalar(1.0), &x, &Tensor::zeros(&[2]), Reduction::Sum, 1.0)?;
/// assert_eq!(g.input.to_vec(), vec![0.5, 1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn smooth_l1_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
    beta: f64,
) -> Result<LossGrads<T>> {
    check_beta(beta)?;
    let reduced = elementwise(reduction, input.numel());
    backward(
        SMOOTH_L1_LOSS,
        grad_output,
        input,
        target,
        reduced,
        |_, x, t| {
            let d = x - t;
            let g = if d.abs() < beta { d / beta } else { sign(d) };
            (g, -g)
        },
    )
}

/// The gradients of [`Tensor::huber_loss`]: with `d = input - target`, `d` clamped to
/// `[-δ, δ]`, times the scale; the target's is its negation.
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape
///
/// # Errors
/// As the forward, or when `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{huber_loss_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.5, -3.0], &[2])?;
/// let g = huber_loss_backward(&Tensor::scalar(1.0), &x, &Tensor::zeros(&[2]), Reduction::Sum, 2.0)?;
/// assert_eq!(g.input.to_vec(), vec![0.5, -2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn huber_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
    delta: f64,
) -> Result<LossGrads<T>> {
    check_delta(delta)?;
    let reduced = elementwise(reduction, input.numel());
    backward(
        HUBER_LOSS,
        grad_output,
        input,
        target,
        reduced,
        |_, x, t| {
            let g = (x - t).clamp(-delta, delta);
            (g, -g)
        },
    )
}
