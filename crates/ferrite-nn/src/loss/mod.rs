//! Loss functions, named and computed as in `torch.nn.functional`: [`cross_entropy`],
//! [`nll_loss`], [`mse_loss`], [`l1_loss`], [`smooth_l1_loss`], [`huber_loss`],
//! [`binary_cross_entropy`], [`binary_cross_entropy_with_logits`] and [`kl_div`], and their
//! module forms as in `torch.nn` ([`CrossEntropyLoss`], [`BCEWithLogitsLoss`], ...).
//!
//! Each loss is one fused op: the forward pass computes the loss directly (in `f64`
//! internally, whatever the element type) and the backward pass writes the gradient in
//! closed form, instead of recording a chain of small ops. For cross-entropy this is also
//! what keeps it numerically stable: the gradient `softmax(x) - target` never goes through
//! `exp(log(p))`. The kernels live in `ferrite_tensor` (`Tensor::cross_entropy`,
//! `cross_entropy_backward`, ...), the ops in `ferrite_autograd` ([`Var::cross_entropy`],
//! ...); these are their functional forms.
//!
//! Class targets are [`Indices`] (`Indices::from_classes(&labels)` for a batch of labels);
//! float targets are `Var`s and get a gradient, as in PyTorch.
//!
//! ```
//! use ferrite_autograd::Var;
//! use ferrite_nn::loss::{cross_entropy, CrossEntropyOptions};
//! use ferrite_tensor::{Indices, Tensor};
//! // Two samples, three classes.
//! let logits = Var::parameter(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[2, 3])?);
//! let loss = cross_entropy(&logits, &Indices::from_classes(&[0, 2]), &CrossEntropyOptions::default())?;
//! loss.backward()?;
//! let expected = ((1.0 + 2.0 * (-2.0f64).exp()).ln() + 3f64.ln()) / 2.0;
//! assert!((loss.item()? - expected).abs() < 1e-12);
//! assert_eq!(logits.grad().unwrap().shape(), &[2, 3]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

mod class_modules;
mod modules;
#[cfg(test)]
mod tests;

pub use class_modules::{CrossEntropyLoss, NLLLoss};
use ferrite_autograd::Var;
pub use ferrite_tensor::{
    CrossEntropyOptions, CrossEntropyTarget, Indices, KlDivReduction, NllLossOptions, Reduction,
};
use ferrite_tensor::{Float, Result, Tensor};
pub use modules::{
    BCELoss, BCEWithLogitsLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, SmoothL1Loss,
};

/// Cross-entropy between logits and class indices or class probabilities, like
/// `F.cross_entropy(input, target, weight=..., ignore_index=..., reduction=...,
/// label_smoothing=...)`: the functional form of [`Var::cross_entropy`], which has the
/// formulas. `target` is a `&Indices` (classes) or a `&Tensor` (probabilities, the input's
/// shape); the options hold the reduction, label smoothing, class weights and
/// `ignore_index`.
///
/// # Shapes
/// - input: `[N, C]`, `[N, C, d1, ...]` logits, or `[C]` for a single sample
/// - target: class indices `[N]`, `[N, d1, ...]` (0-d for `[C]`), or probabilities
/// - output: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N, d1, ...]` for
///   [`Reduction::None`] (`[]` for a `[C]` input)
///
/// # Errors
/// When the input is 0-d, the target's shape does not fit, a class outside `0..C` is not
/// `ignore_index` (the message names it, its position and `C`), the weight is not `[C]`,
/// the label smoothing is outside `[0, 1]`, or `ignore_index` is non-negative with
/// probability targets.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{cross_entropy, CrossEntropyOptions, Indices, Reduction};
/// use ferrite_tensor::Tensor;
/// let logits = Var::parameter(Tensor::<f64>::zeros(&[2, 4]));
/// let opts = CrossEntropyOptions::default().with_reduction(Reduction::None);
/// let loss = cross_entropy(&logits, &Indices::from_classes(&[1, 3]), &opts)?;
/// assert_eq!(loss.shape(), vec![2]);
/// assert!((loss.value().to_vec()[0] - 4f64.ln()).abs() < 1e-12);
///
/// // Class weights and an ignored target: the mean divides by the weights of the rest.
/// let weighted = CrossEntropyOptions::new()
///     .with_weight(&Tensor::<f64>::from_vec(vec![1.0, 2.0, 1.0, 1.0], &[4])?)
///     .with_ignore_index(3);
/// let loss = cross_entropy(&logits, &Indices::from_classes(&[1, 3]), &weighted)?;
/// assert!((loss.item()? - 4f64.ln()).abs() < 1e-12);
///
/// let err = cross_entropy(&logits, &Indices::from_classes(&[1, 4]), &opts).unwrap_err();
/// assert!(err.to_string().contains("target 4"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn cross_entropy<'a, T: Float + 'a>(
    input: &Var<T>,
    target: impl Into<CrossEntropyTarget<'a, T>>,
    options: &CrossEntropyOptions,
) -> Result<Var<T>> {
    input.cross_entropy(target, options)
}

/// Negative log-likelihood of class indices given log-probabilities, like
/// `F.nll_loss(input, target, weight=..., ignore_index=..., reduction=...)`:
/// `l = -w_y · input[n, y, d...]`, 0 where `y = ignore_index`. The functional form of
/// [`Var::nll_loss`]; `options` is an [`NllLossOptions`] or a bare [`Reduction`].
///
/// Feed it the output of [`Var::log_softmax`]; [`cross_entropy`] does both in one op.
///
/// # Shapes
/// - input: `[N, C]`, `[N, C, d1, ...]` log-probabilities, or `[C]` for a single sample
/// - target: `[N]`, `[N, d1, ...]`, 0-d for a `[C]` input
/// - output: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the target's shape for
///   [`Reduction::None`]
///
/// # Errors
/// When the input is 0-d, the target's shape does not fit, a target outside `0..C` is not
/// `ignore_index`, or the weight is not `[C]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{nll_loss, Indices, Reduction};
/// use ferrite_tensor::Tensor;
/// let logp = Var::parameter(Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?);
/// let loss = nll_loss(&logp, &Indices::from_classes(&[0, 1]), Reduction::Sum)?;
/// assert!((loss.item()? - 0.6).abs() < 1e-12);
/// loss.backward()?;
/// assert_eq!(logp.grad().unwrap().to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn nll_loss<T: Float>(
    input: &Var<T>,
    target: &Indices,
    options: impl Into<NllLossOptions>,
) -> Result<Var<T>> {
    input.nll_loss(target, options)
}

/// Mean squared error, like `F.mse_loss(input, target, reduction=...)`:
/// `(input - target)²` elementwise, reduced as `reduction` says; both arguments are
/// differentiable. The functional form of [`Var::mse_loss`].
///
/// Unlike PyTorch, which warns and broadcasts when the shapes differ (almost always a bug,
/// e.g. `[N, 1]` against `[N]`), this and the other elementwise losses refuse them.
///
/// # Shapes
/// - input, target: the same shape, any
/// - output: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the input's shape for
///   [`Reduction::None`]
///
/// # Errors
/// When `input` and `target` have different shapes.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{mse_loss, Reduction};
/// use ferrite_tensor::Tensor;
/// let y = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
/// let t = Var::new(Tensor::<f64>::from_vec(vec![0.0, 4.0], &[2])?);
/// let loss = mse_loss(&y, &t, Reduction::Mean)?;
/// assert_eq!(loss.item()?, 2.5);
/// loss.backward()?;
/// assert_eq!(y.grad().unwrap().to_vec(), vec![1.0, -2.0]);
/// assert!(mse_loss(&y, &Var::new(Tensor::zeros(&[2, 1])), Reduction::Mean).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn mse_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
    input.mse_loss(target, reduction)
}

/// Mean absolute error, like `F.l1_loss(input, target, reduction=...)`: `|input - target|`
/// elementwise, reduced; both arguments are differentiable. The functional form of
/// [`Var::l1_loss`].
///
/// # Shapes
/// - input, target: the same shape; output: `[]`, or the input's shape for
///   [`Reduction::None`]
///
/// # Errors
/// When the shapes differ.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{l1_loss, Reduction};
/// use ferrite_tensor::Tensor;
/// let y = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2])?);
/// let loss = l1_loss(&y, &Var::new(Tensor::zeros(&[2])), Reduction::Sum)?;
/// assert_eq!(loss.item()?, 3.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn l1_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
    input.l1_loss(target, reduction)
}

/// Smooth L1 loss, like `F.smooth_l1_loss(input, target, reduction=..., beta=...)`: with
/// `d = input - target`, `0.5 d² / β` where `|d| < β`, else `|d| - 0.5 β` (`β = 0`: L1).
/// The functional form of [`Var::smooth_l1_loss`]; PyTorch's default β is 1.
///
/// # Shapes
/// - input, target: the same shape; output: `[]`, or the input's shape for
///   [`Reduction::None`]
///
/// # Errors
/// When the shapes differ, or `beta` is negative or NaN.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{smooth_l1_loss, Reduction};
/// use ferrite_tensor::Tensor;
/// let y = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?);
/// let loss = smooth_l1_loss(&y, &Var::new(Tensor::zeros(&[2])), Reduction::Sum, 1.0)?;
/// assert_eq!(loss.item()?, 2.625);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn smooth_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
    beta: f64,
) -> Result<Var<T>> {
    input.smooth_l1_loss(target, reduction, beta)
}

/// Huber loss, like `F.huber_loss(input, target, reduction=..., delta=...)`: with
/// `d = input - target`, `0.5 d²` where `|d| < δ`, else `δ (|d| - 0.5 δ)`. The functional
/// form of [`Var::huber_loss`]; PyTorch's default δ is 1.
///
/// # Shapes
/// - input, target: the same shape; output: `[]`, or the input's shape for
///   [`Reduction::None`]
///
/// # Errors
/// When the shapes differ, or `delta` is not positive.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{huber_loss, Reduction};
/// use ferrite_tensor::Tensor;
/// let y = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?);
/// let loss = huber_loss(&y, &Var::new(Tensor::zeros(&[2])), Reduction::None, 2.0)?;
/// assert_eq!(loss.value().to_vec(), vec![0.125, 4.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn huber_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
    delta: f64,
) -> Result<Var<T>> {
    input.huber_loss(target, reduction, delta)
}

/// Binary cross-entropy between probabilities and targets, like
/// `F.binary_cross_entropy(input, target, weight=..., reduction=...)`:
/// `-w · (t · log x + (1 - t) · log(1 - x))`, each log clamped to `>= -100`. The functional
/// form of [`Var::binary_cross_entropy`]; prefer [`binary_cross_entropy_with_logits`] on
/// raw scores.
///
/// # Shapes
/// - input, target: the same shape; weight: broadcastable to it (no gradient)
/// - output: `[]`, or the input's shape for [`Reduction::None`]
///
/// # Errors
/// When the shapes differ, the weight does not broadcast, or an input lies outside `[0, 1]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{binary_cross_entropy, Reduction};
/// use ferrite_tensor::Tensor;
/// let p = Var::parameter(Tensor::<f64>::full(&[2], 0.5));
/// let t = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2])?);
/// let loss = binary_cross_entropy(&p, &t, None, Reduction::Mean)?;
/// assert!((loss.item()? - 2f64.ln()).abs() < 1e-12);
/// assert!(binary_cross_entropy(&Var::new(Tensor::full(&[2], 1.5)), &t, None, Reduction::Mean).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn binary_cross_entropy<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<Var<T>> {
    input.binary_cross_entropy(target, weight, reduction)
}

/// Binary cross-entropy on logits, like `F.binary_cross_entropy_with_logits(input, target,
/// weight=..., pos_weight=..., reduction=...)`: `-w · (pw · t · log σ(x) + (1 - t) ·
/// log σ(-x))`, computed stably. The functional form of
/// [`Var::binary_cross_entropy_with_logits`].
///
/// # Shapes
/// - input, target: the same shape; weight, pos_weight: broadcastable to it (pos_weight
///   `[C]` along the last dim; no gradient)
/// - output: `[]`, or the input's shape for [`Reduction::None`]
///
/// # Errors
/// When the shapes differ, or the weight or pos_weight does not broadcast.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{binary_cross_entropy_with_logits, Reduction};
/// use ferrite_tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::zeros(&[2, 2]));
/// let t = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0, 1.0, 1.0], &[2, 2])?);
/// let pos_weight = Tensor::<f64>::from_vec(vec![2.0, 1.0], &[2])?;
/// let loss = binary_cross_entropy_with_logits(&x, &t, None, Some(&pos_weight), Reduction::Sum)?;
/// assert!((loss.item()? - 6.0 * 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn binary_cross_entropy_with_logits<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    weight: Option<&Tensor<T>>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<Var<T>> {
    input.binary_cross_entropy_with_logits(target, weight, pos_weight, reduction)
}

/// Kullback-Leibler divergence, like `F.kl_div(input, target, reduction=...,
/// log_target=...)`, the input holding log-probabilities: `t · (log t - x)`, or
/// `e^t · (t - x)` with `log_target`. The functional form of [`Var::kl_div`];
/// [`KlDivReduction::BatchMean`] gives the KL divergence per sample.
///
/// # Shapes
/// - input, target: the same shape; output: `[]`, or the input's shape for
///   [`KlDivReduction::None`]
///
/// # Errors
/// When the shapes differ.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{kl_div, KlDivReduction};
/// use ferrite_tensor::Tensor;
/// let logq = Var::parameter(Tensor::<f64>::full(&[2, 2], 0.5f64.ln()));
/// let p = Var::new(Tensor::<f64>::full(&[2, 2], 0.5));
/// assert_eq!(kl_div(&logq, &p, KlDivReduction::BatchMean, false)?.item()?, 0.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn kl_div<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Result<Var<T>> {
    input.kl_div(target, reduction, log_target)
}
