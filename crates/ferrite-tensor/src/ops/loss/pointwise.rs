//! The elementwise losses: a loss `l(x, t)` per element of input and target (same shape),
//! then the reduction. [`Tensor::mse_loss`], [`Tensor::l1_loss`],
//! [`Tensor::smooth_l1_loss`], [`Tensor::huber_loss`], [`Tensor::binary_cross_entropy`],
//! [`Tensor::binary_cross_entropy_with_logits`] and [`Tensor::kl_div`], each with its
//! backward giving the gradients of input and target (PyTorch differentiates both).
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

use super::{KlDivReduction, Reduced, Reduction};
use crate::{Float, Result, Tensor, TensorError};

const MSE_LOSS: &str = "mse_loss";
const L1_LOSS: &str = "l1_loss";
const SMOOTH_L1_LOSS: &str = "smooth_l1_loss";
const HUBER_LOSS: &str = "huber_loss";
const BCE: &str = "binary_cross_entropy";
const BCE_LOGITS: &str = "binary_cross_entropy_with_logits";
const KL_DIV: &str = "kl_div";

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
fn same_shape<T: Float>(op: &'static str, input: &Tensor<T>, target: &Tensor<T>) -> Result<()> {
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
fn values<T: Float>(x: &Tensor<T>) -> Vec<f64> {
    x.row_major().iter().map(|v| v.as_f64()).collect()
}

/// An optional weight broadcast to `shape`, as `f64` row-major values.
fn broadcast_weight<T: Float>(
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
fn elementwise(reduction: Reduction, numel: usize) -> Reduced {
    Reduced::new(reduction, numel as f64)
}

/// The forward of an elementwise loss: `f(i, x_i, t_i)` per element, then `reduced`.
fn forward<T: Float>(
    op: &'static str,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, f64, f64) -> f64,
) -> Result<Tensor<T>> {
    same_shape(op, input, target)?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let losses: Vec<f64> = xs
        .iter()
        .zip(ts.iter())
        .enumerate()
        .map(|(i, (x, t))| f(i, x.as_f64(), t.as_f64()))
        .collect();
    reduced.apply::<T>(&losses, input.shape())
}

/// The backward of an elementwise loss: `f(i, x_i, t_i)` gives `(dl/dx, dl/dt)` per
/// element, scaled by `grad_output` spread by the reduction.
fn backward<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    target: &Tensor<T>,
    reduced: Reduced,
    f: impl Fn(usize, f64, f64) -> (f64, f64),
) -> Result<LossGrads<T>> {
    same_shape(op, input, target)?;
    let scales = reduced.scales(grad_output, input.numel())?;
    let (xs, ts) = (input.row_major(), target.row_major());
    let mut gx = Vec::with_capacity(xs.len());
    let mut gt = Vec::with_capacity(xs.len());
    for (i, (x, t)) in xs.iter().zip(ts.iter()).enumerate() {
        let (dx, dt) = f(i, x.as_f64(), t.as_f64());
        let s = scales.at(i);
        gx.push(T::of(dx * s));
        gt.push(T::of(dt * s));
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
    if !(beta >= 0.0) {
        return Err(TensorError::invalid(
            SMOOTH_L1_LOSS,
            format!("beta must be >= 0, found {beta}"),
        ));
    }
    Ok(())
}

fn check_delta(delta: f64) -> Result<()> {
    if !(delta > 0.0) {
        return Err(TensorError::invalid(
            HUBER_LOSS,
            format!("delta must be > 0, found {delta}"),
        ));
    }
    Ok(())
}

/// log σ(x) = -softplus(-x), stable for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// σ(x) without overflow.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
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
        forward(BCE_LOGITS, self, target, reduced, |i, x, t| {
            let log_weight = pw.as_ref().map_or(1.0, |pw| 1.0 + (pw[i] - 1.0) * t);
            let l = (1.0 - t) * x - log_weight * log_sigmoid(x);
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
    backward(
        BCE_LOGITS,
        grad_output,
        input,
        target,
        reduced,
        |i, x, t| {
            let wi = w.as_ref().map_or(1.0, |w| w[i]);
            let (dx, dt) = match &pw {
                None => (sigmoid(x) - t, -x),
                Some(pw) => {
                    let pt = pw[i] * t;
                    (
                        (pt + 1.0 - t) * sigmoid(x) - pt,
                        log_sigmoid(-x) - pw[i] * log_sigmoid(x),
                    )
                }
            };
            (wi * dx, wi * dt)
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
            (-t, log_t + t / t - x)
        }
    })
}
