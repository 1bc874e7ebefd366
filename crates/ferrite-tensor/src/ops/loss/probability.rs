//! The probabilistic elementwise losses: [`Tensor::binary_cross_entropy`],
//! [`Tensor::binary_cross_entropy_with_logits`] and [`Tensor::kl_div`], each with its
//! backward giving the gradients of input and target. They share the elementwise drivers of
//! [`pointwise`](super::pointwise).
//!
//! ```
//! use ferrite_tensor::{Reduction, Tensor};
//! let logits = Tensor::<f64>::from_vec(vec![-1000.0, 1000.0], &[2])?;
//! let target = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2])?;
//! let loss = logits.binary_cross_entropy_with_logits(&target, None, None, Reduction::Sum)?;
//! assert_eq!(loss.item()?, 0.0); // no overflow
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use super::pointwise::{
    LossGrads, backward, backward_elementwise, backward_in, broadcast_weight, elementwise, forward,
    forward_elementwise, forward_in, same_shape,
};
use super::{KlDivReduction, Reduced, Reduction};
use crate::ops::activation::sigmoid_scalar;
use crate::{Float, Result, Tensor, TensorError};

const BCE: &str = "binary_cross_entropy";
const BCE_LOGITS: &str = "binary_cross_entropy_with_logits";
const KL_DIV: &str = "kl_div";

/// log σ(x) = -softplus(-x), stable for large |x|, in the element type (`f64`'s `exp` and
/// `ln_1p`; vectorisable kernels in `f32`).
#[inline]
fn log_sigmoid<T: Float>(x: T) -> T {
    x.min(T::zero()) - (-x.abs()).exp_kernel().ln_1p_unit_kernel()
}

/// Refuses a BCE input outside `[0, 1]` (NaN included), naming the first one.
fn check_probabilities<T: Float>(input: &Tensor<T>) -> Result<()> {
    let bad = input
        .row_major()
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(&v.as_f64()))
        .map(|(i, v)| (i, v.as_f64()));
    if let Some((i, v)) = bad {
        return Err(TensorError::invalid(
            BCE,
            format!("every input must lie in [0, 1] (probabilities), found {v} at position {i}"),
        ));
    }
    Ok(())
}

/// The reduction of `kl_div` for an input of `shape`.
fn kl_reduced(reduction: KlDivReduction, shape: &[usize]) -> Reduced {
    let numel: usize = shape.iter().product();
    match reduction {
        KlDivReduction::Mean => Reduced::new(Reduction::Mean, numel as f64),
        KlDivReduction::BatchMean => {
            Reduced::new(Reduction::Mean, shape.first().map_or(1.0, |&n| n as f64))
        }
        KlDivReduction::Sum => Reduced::new(Reduction::Sum, 1.0),
        KlDivReduction::None => Reduced::new(Reduction::None, 1.0),
    }
}

/// `x · log y` with PyTorch's `xlogy` convention: 0 where `x = 0` (unless `y` is NaN).
fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 && !y.is_nan() {
        0.0
    } else {
        x * y.ln()
    }
}

impl<T: Float> Tensor<T> {
    /// Binary cross-entropy between probabilities and targets, like
    /// `F.binary_cross_entropy(input, target, weight=..., reduction=...)` without autograd:
    /// `-w · (t · log x + (1 - t) · log(1 - x))`, each log clamped to `>= -100` (so an input
    /// of exactly 0 or 1 gives a finite loss, as in PyTorch).
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; weight: broadcastable to it
    /// - result: `[]`, or the input's shape for [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, the weight does not broadcast to the input's shape, or an
    /// input lies outside `[0, 1]`.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let p = Tensor::<f64>::from_vec(vec![0.5, 1.0], &[2])?;
    /// let t = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2])?;
    /// let loss = p.binary_cross_entropy(&t, None, Reduction::None)?;
    /// assert_eq!(loss.to_vec(), vec![2f64.ln(), 100.0]);
    /// assert!(Tensor::<f64>::full(&[2], 1.5).binary_cross_entropy(&t, None, Reduction::Sum).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn binary_cross_entropy(
        &self,
        target: &Tensor<T>,
        weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Tensor<T>> {
        same_shape(BCE, self, target)?;
        let w = broadcast_weight(BCE, "weight", weight, self.shape())?;
        check_probabilities(self)?;
        let reduced = elementwise(reduction, self.numel());
        forward(BCE, self, target, reduced, |i, x, t| {
            let log_x = x.ln().max(-100.0);
            let log_1mx = (-x).ln_1p().max(-100.0);
            let l = (t - 1.0) * log_1mx - t * log_x;
            w.as_ref().map_or(l, |w| w[i] * l)
        })
    }

    /// Binary cross-entropy on logits, like `F.binary_cross_entropy_with_logits(input,
    /// target, weight=..., pos_weight=..., reduction=...)` without autograd:
    /// `-w · (pw · t · log σ(x) + (1 - t) · log σ(-x))`, computed stably as
    /// `w · ((1 - t) x - (1 + (pw - 1) t) log σ(x))` with `log σ(x) = min(x, 0) -
    /// log(1 + e^-|x|)`.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; weight and pos_weight: broadcastable to it
    ///   (pos_weight `[C]` weighs the positives of each class of the last dim)
    /// - result: `[]`, or the input's shape for [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or the weight or pos_weight does not broadcast to the
    /// input's shape.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![0.0, 1000.0], &[2])?;
    /// let t = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2])?;
    /// let loss = x.binary_cross_entropy_with_logits(&t, None, None, Reduction::None)?;
    /// assert_eq!(loss.to_vec(), vec![2f64.ln(), 1000.0]);
    /// let pw = Tensor::<f64>::full(&[1], 3.0);
    /// let loss = x.binary_cross_entropy_with_logits(&t, None, Some(&pw), Reduction::None)?;
    /// assert!((loss.to_vec()[0] - 3.0 * 2f64.ln()).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor<T>,
        weight: Option<&Tensor<T>>,
        pos_weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Tensor<T>> {
        same_shape(BCE_LOGITS, self, target)?;
        let w = broadcast_weight(BCE_LOGITS, "weight", weight, self.shape())?;
        let pw = broadcast_weight(BCE_LOGITS, "pos_weight", pos_weight, self.shape())?;
        let reduced = elementwise(reduction, self.numel());
        let one = T::one();
        if w.is_none() && pw.is_none() {
            // Apart, so the common case's loop has no per-element branch and vectorises.
            return forward_elementwise(BCE_LOGITS, self, target, reduced, |x, t| {
                (one - t) * x - log_sigmoid(x)
            });
        }
        forward_in(BCE_LOGITS, self, target, reduced, |i, x, t| {
            let log_weight = pw.as_ref().map_or(one, |pw| one + (T::of(pw[i]) - one) * t);
            let l = ((one - t) * x - log_weight * log_sigmoid(x)).as_f64();
            w.as_ref().map_or(l, |w| w[i] * l)
        })
    }

    /// Kullback-Leibler divergence, like `F.kl_div(input, target, reduction=...,
    /// log_target=...)` without autograd, with `input` log-probabilities:
    /// `t · (log t - x)` (0 where `t = 0`), or with `log_target` `e^t · (t - x)`.
    /// [`KlDivReduction::BatchMean`] divides the sum by the batch size, the true KL
    /// divergence per sample.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any; result: `[]`, or the input's shape for
    ///   [`KlDivReduction::None`]
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_tensor::{KlDivReduction, Tensor};
    /// let logq = Tensor::<f64>::from_vec(vec![0.5f64.ln(), 0.5f64.ln()], &[1, 2])?;
    /// let p = Tensor::<f64>::from_vec(vec![0.5, 0.5], &[1, 2])?;
    /// assert_eq!(logq.kl_div(&p, KlDivReduction::BatchMean, false)?.item()?, 0.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn kl_div(
        &self,
        target: &Tensor<T>,
        reduction: KlDivReduction,
        log_target: bool,
    ) -> Result<Tensor<T>> {
        let reduced = kl_reduced(reduction, self.shape());
        forward(KL_DIV, self, target, reduced, |_, x, t| {
            if log_target {
                t.exp() * (t - x)
            } else {
                xlogy(t, t) - t * x
            }
        })
    }
}

/// The gradients of [`Tensor::binary_cross_entropy`], as PyTorch computes them: for the
/// input `w · (x - t) / max(x (1 - x), 1e-12)`, for the target `-w · logit(x)` (unclamped:
/// infinite at 0 and 1), each times the scale.
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape;
///   weight: broadcastable to it
///
/// # Errors
/// As the forward, or when `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{binary_cross_entropy_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::full(&[1], 0.5);
/// let t = Tensor::<f64>::ones(&[1]);
/// let g = binary_cross_entropy_backward(&Tensor::scalar(1.0), &x, &t, None, Reduction::Sum)?;
/// assert_eq!(g.input.to_vec(), vec![-2.0]);
/// assert_eq!(g.target.to_vec(), vec![0.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn binary_cross_entropy_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<LossGrads<T>> {
    same_shape(BCE, input, target)?;
    let w = broadcast_weight(BCE, "weight", weight, input.shape())?;
    let reduced = elementwise(reduction, input.numel());
    backward(BCE, grad_output, input, target, reduced, |i, x, t| {
        let wi = w.as_ref().map_or(1.0, |w| w[i]);
        let dx = (x - t) / ((1.0 - x) * x).max(1e-12);
        let dt = -(x / (1.0 - x)).ln();
        (wi * dx, wi * dt)
    })
}

/// The gradients of [`Tensor::binary_cross_entropy_with_logits`]: for the input
/// `w · ((1 + (pw - 1) t) σ(x) - pw · t)` (`w · (σ(x) - t)` without pos_weight), for the
/// target `w · (log σ(-x) - pw · log σ(x))` (`-w · x` without), each times the scale.
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape;
///   weight and pos_weight: broadcastable to it
///
/// # Errors
/// As the forward, or when `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{binary_cross_entropy_with_logits_backward, Reduction, Tensor};
/// let x = Tensor::<f64>::zeros(&[1]);
/// let t = Tensor::<f64>::ones(&[1]);
/// let g = binary_cross_entropy_with_logits_backward(&Tensor::scalar(1.0), &x, &t, None, None, Reduction::Sum)?;
/// assert_eq!(g.input.to_vec(), vec![-0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn binary_cross_entropy_with_logits_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    weight: Option<&Tensor<T>>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<LossGrads<T>> {
    same_shape(BCE_LOGITS, input, target)?;
    let w = broadcast_weight(BCE_LOGITS, "weight", weight, input.shape())?;
    let pw = broadcast_weight(BCE_LOGITS, "pos_weight", pos_weight, input.shape())?;
    let reduced = elementwise(reduction, input.numel());
    let one = T::one();
    if w.is_none() && pw.is_none() {
        // Apart, so the common case's loop has no per-element branch and vectorises.
        return backward_elementwise(BCE_LOGITS, grad_output, input, target, reduced, |x, t| {
            (sigmoid_scalar(x) - t, -x)
        });
    }
    backward_in(
        BCE_LOGITS,
        grad_output,
        input,
        target,
        reduced,
        |i, x, t| {
            let wi = w.as_ref().map_or(1.0, |w| w[i]);
            let (dx, dt) = match &pw {
                None => (sigmoid_scalar(x) - t, -x),
                Some(pw) => {
                    let pwi = T::of(pw[i]);
                    let pt = pwi * t;
                    (
                        (pt + one - t) * sigmoid_scalar(x) - pt,
                        log_sigmoid(-x) - pwi * log_sigmoid(x),
                    )
                }
            };
            (wi * dx.as_f64(), wi * dt.as_f64())
        },
    )
}

/// The gradients of [`Tensor::kl_div`]: for the input `-t` (`-e^t` with `log_target`); for
/// the target `log t + 1 - x` (`e^t (t - x + 1)` with `log_target`), each times the scale.
/// At `t = 0` without `log_target` the target's gradient is NaN, as PyTorch's (`xlogy`'s
/// derivative `t / t`).
///
/// # Shapes
/// - `grad_output`: the loss's shape; `input`, `target` and both gradients: the same shape
///
/// # Errors
/// When the shapes differ, or `grad_output` does not fit the reduction.
///
/// ```
/// use ferrite_tensor::{kl_div_backward, KlDivReduction, Tensor};
/// let x = Tensor::<f64>::zeros(&[1, 2]);
/// let t = Tensor::<f64>::full(&[1, 2], 0.5);
/// let g = kl_div_backward(&Tensor::scalar(1.0), &x, &t, KlDivReduction::Sum, false)?;
/// assert_eq!(g.input.to_vec(), vec![-0.5, -0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn kl_div_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Result<LossGrads<T>> {
    let reduced = kl_reduced(reduction, input.shape());
    backward(KL_DIV, grad_output, input, target, reduced, |_, x, t| {
        if log_target {
            let e = t.exp();
            (-e, e * (t - x + 1.0))
        } else {
            // PyTorch differentiates xlogy(t, t) - t·x: xlogy(t ≠ 0, t) + t / t - x.
            let log_t = if t != 0.0 { t.ln() } else { 0.0 };
            // t / t: 1, but NaN at 0 (and for inf and NaN).
            let t_over_t = if t != 0.0 && t.is_finite() {
                1.0
            } else {
                f64::NAN
            };
            (-t, log_t + t_over_t - x)
        }
    })
}
