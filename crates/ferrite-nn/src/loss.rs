//! Loss functions, named and computed as in `torch.nn.functional`: [`cross_entropy`],
//! [`nll_loss`] and [`mse_loss`].
//!
//! Each loss is one fused op: the forward pass computes the loss directly (in `f64`
//! internally, whatever the element type) and the backward pass writes the gradient in
//! closed form, instead of recording a chain of small ops. For cross-entropy this is also
//! what keeps it numerically stable: the gradient `softmax(x) - target` never goes through
//! `exp(log(p))`.
//!
//! ```
//! use ferrite_autograd::Var;
//! use ferrite_nn::loss::{cross_entropy, CrossEntropyOptions};
//! use ferrite_tensor::Tensor;
//! // Two samples, three classes.
//! let logits = Var::parameter(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[2, 3])?);
//! let loss = cross_entropy(&logits, &[0, 2], &CrossEntropyOptions::default())?;
//! loss.backward()?;
//! let expected = ((1.0 + 2.0 * (-2.0f64).exp()).ln() + 3f64.ln()) / 2.0;
//! assert!((loss.item()? - expected).abs() < 1e-12);
//! assert_eq!(logits.grad().unwrap().shape(), &[2, 3]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Tensor, TensorError};

/// How a loss combines the per-element losses, like PyTorch's `reduction` argument.
///
/// ```
/// use ferrite_nn::loss::Reduction;
/// assert_eq!(Reduction::default(), Reduction::Mean);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over the per-element losses (PyTorch's default, `"mean"`). The mean of
    /// nothing is NaN, as in PyTorch.
    #[default]
    Mean,
    /// The sum of the per-element losses (`"sum"`).
    Sum,
    /// No reduction: one loss per sample (or per element for [`mse_loss`]) (`"none"`).
    None,
}

/// The settings of [`cross_entropy`], with PyTorch's defaults: mean reduction, no label
/// smoothing.
///
/// Class weights and `ignore_index` are not supported.
///
/// ```
/// use ferrite_nn::loss::{CrossEntropyOptions, Reduction};
/// let o = CrossEntropyOptions::default().with_reduction(Reduction::Sum).with_label_smoothing(0.1);
/// assert_eq!(o.reduction, Reduction::Sum);
/// assert_eq!(o.label_smoothing, 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CrossEntropyOptions {
    /// How the per-sample losses are combined (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// ε in `[0, 1]`: the target becomes `(1 - ε) · one_hot + ε / C` (default 0).
    pub label_smoothing: f64,
}

impl CrossEntropyOptions {
    /// PyTorch's defaults (the same as [`Default`]).
    ///
    /// ```
    /// use ferrite_nn::loss::{CrossEntropyOptions, Reduction};
    /// assert_eq!(CrossEntropyOptions::new().reduction, Reduction::Mean);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{CrossEntropyOptions, Reduction};
    /// let o = CrossEntropyOptions::new().with_reduction(Reduction::None);
    /// assert_eq!(o.reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets the label smoothing ε (checked by [`cross_entropy`]: it must lie in `[0, 1]`).
    ///
    /// ```
    /// use ferrite_nn::loss::CrossEntropyOptions;
    /// assert_eq!(CrossEntropyOptions::new().with_label_smoothing(0.1).label_smoothing, 0.1);
    /// ```
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }
}

/// Checks a class-index loss's input and targets; returns `(N, C, shape of the unreduced
/// loss)`. Accepts `[N, C]`, or `[C]` with a single target (unreduced shape `[]`).
fn class_layout(
    op: &'static str,
    shape: &[usize],
    target: &[usize],
) -> Result<(usize, usize, Vec<usize>)> {
    let (n, c, none_shape) = match *shape {
        [n, c] => (n, c, vec![n]),
        [c] => (1, c, Vec::new()),
        _ => {
            return Err(TensorError::shape(
                op,
                format!("expected an input of shape [N, C] or [C], found {shape:?}"),
            ));
        }
    };
    if target.len() != n {
        return Err(TensorError::shape(
            op,
            format!(
                "target has {} entries but the input has {n} samples (input {shape:?})",
                target.len()
            ),
        ));
    }
    if let Some((i, &t)) = target.iter().enumerate().find(|&(_, &t)| t >= c) {
        return Err(TensorError::invalid(
            op,
            format!(
                "target {t} (sample {i}) is out of range for {c} classes (expected 0 to {}, input {shape:?})",
                c as isize - 1
            ),
        ));
    }
    Ok((n, c, none_shape))
}

/// Combines per-sample losses into the result tensor.
fn reduce<T: Float>(
    losses: &[f64],
    reduction: Reduction,
    none_shape: &[usize],
) -> Result<Tensor<T>> {
    let sum: f64 = losses.iter().sum();
    match reduction {
        Reduction::Mean => Ok(Tensor::scalar(T::of(sum / losses.len() as f64))),
        Reduction::Sum => Ok(Tensor::scalar(T::of(sum))),
        Reduction::None => Tensor::from_vec(losses.iter().map(|&l| T::of(l)).collect(), none_shape),
    }
}

/// d(result)/d(loss of element i) times the upstream gradient, for each of `count` elements.
fn element_scales<T: Float>(g: &Tensor<T>, reduction: Reduction, count: usize) -> Result<Vec<f64>> {
    Ok(match reduction {
        Reduction::Mean => vec![g.item()?.as_f64() / count as f64; count],
        Reduction::Sum => vec![g.item()?.as_f64(); count],
        Reduction::None => g.as_array().iter().map(|v| v.as_f64()).collect(),
    })
}

/// Cross-entropy between logits and class indices, like
/// `F.cross_entropy(input, target, reduction=..., label_smoothing=...)`.
///
/// For sample `i` with log-probabilities `log p = log_softmax(x_i)` and target `y`:
/// `loss_i = (1 - ε) · (-log p_y) + ε / C · Σ_c (-log p_c)`, reduced as
/// `options.reduction` says. The log-softmax is computed stably (the row maximum is
/// subtracted first), and the backward pass is the fused
/// `(softmax(x_i) - ((1 - ε) · one_hot(y) + ε / C)) · scale`.
///
/// # Shapes
/// - input: `[N, C]` logits, or `[C]` for a single sample
/// - target: `N` class indices in `0..C` (one for a `[C]` input)
/// - output: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N]` for
///   [`Reduction::None`] (`[]` for a `[C]` input)
///
/// # Errors
/// When the input is not 2-D (or 1-D), the number of targets differs from `N`, a target is
/// `>= C` (the message names the target, its sample and `C`), or the label smoothing is
/// outside `[0, 1]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{cross_entropy, CrossEntropyOptions, Reduction};
/// use ferrite_tensor::Tensor;
/// let logits = Var::parameter(Tensor::<f64>::zeros(&[2, 4]));
/// let opts = CrossEntropyOptions::default().with_reduction(Reduction::None);
/// let loss = cross_entropy(&logits, &[1, 3], &opts)?;
/// assert_eq!(loss.shape(), vec![2]);
/// assert!((loss.value().to_vec()[0] - 4f64.ln()).abs() < 1e-12);
///
/// let err = cross_entropy(&logits, &[1, 4], &CrossEntropyOptions::default()).unwrap_err();
/// assert!(err.to_string().contains("target 4"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn cross_entropy<T: Float>(
    input: &Var<T>,
    target: &[usize],
    options: &CrossEntropyOptions,
) -> Result<Var<T>> {
    const OP: &str = "cross_entropy";
    let eps = options.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(TensorError::invalid(
            OP,
            format!("label_smoothing must be between 0 and 1, found {eps}"),
        ));
    }
    let x = input.value();
    let (n, c, none_shape) = class_layout(OP, x.shape(), target)?;
    let xs: Vec<f64> = x.as_array().iter().map(|v| v.as_f64()).collect();

    let mut losses = Vec::with_capacity(n);
    let mut probs: Vec<T> = Vec::with_capacity(n * c);
    for (row, &y) in xs.chunks_exact(c.max(1)).zip(target) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // A row of -inf: shift by 0 so the result is NaN/inf as in PyTorch, not a panic.
        let shift = if max.is_finite() { max } else { 0.0 };
        let lse = shift + row.iter().map(|&v| (v - shift).exp()).sum::<f64>().ln();
        let nll = lse - row[y];
        let loss = if eps > 0.0 {
            // Σ_c (-log p_c) / C = lse - mean(x)
            let mean_x = row.iter().sum::<f64>() / c as f64;
            (1.0 - eps) * nll + eps * (lse - mean_x)
        } else {
            nll
        };
        losses.push(loss);
        probs.extend(row.iter().map(|&v| T::of((v - lse).exp())));
    }
    let value = reduce::<T>(&losses, options.reduction, &none_shape)?;

    let shape = x.shape().to_vec();
    let target = target.to_vec();
    let reduction = options.reduction;
    Var::from_op(OP, value, &[input], move |g, grads| {
        let scales = element_scales(g, reduction, n)?;
        let off = eps / c as f64;
        let on = 1.0 - eps + off;
        let mut grad = Vec::with_capacity(n * c);
        for (i, (row, &y)) in probs.chunks_exact(c.max(1)).zip(&target).enumerate() {
            let s = scales[i];
            grad.extend(row.iter().enumerate().map(|(j, p)| {
                let q = if j == y { on } else { off };
                T::of((p.as_f64() - q) * s)
            }));
        }
        grads.set(0, || Tensor::from_vec(grad, &shape))
    })
}

/// Negative log-likelihood of class indices given log-probabilities, like
/// `F.nll_loss(input, target, reduction=...)`: `loss_i = -input[i, target_i]`.
///
/// Feed it the output of [`Var::log_softmax`]; [`cross_entropy`] does both in one op.
///
/// # Shapes
/// - input: `[N, C]` log-probabilities, or `[C]` for a single sample
/// - target: `N` class indices in `0..C`
/// - output: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N]` for
///   [`Reduction::None`] (`[]` for a `[C]` input)
///
/// # Errors
/// When the input is not 2-D (or 1-D), the number of targets differs from `N`, or a target
/// is `>= C`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{nll_loss, Reduction};
/// use ferrite_tensor::Tensor;
/// let logp = Var::parameter(Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?);
/// let loss = nll_loss(&logp, &[0, 1], Reduction::Sum)?;
/// assert!((loss.item()? - 0.6).abs() < 1e-12);
/// loss.backward()?;
/// assert_eq!(logp.grad().unwrap().to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn nll_loss<T: Float>(
    input: &Var<T>,
    target: &[usize],
    reduction: Reduction,
) -> Result<Var<T>> {
    const OP: &str = "nll_loss";
    let x = input.value();
    let (n, c, none_shape) = class_layout(OP, x.shape(), target)?;
    let xs: Vec<f64> = x.as_array().iter().map(|v| v.as_f64()).collect();
    let losses: Vec<f64> = target
        .iter()
        .enumerate()
        .map(|(i, &y)| -xs[i * c + y])
        .collect();
    let value = reduce::<T>(&losses, reduction, &none_shape)?;

    let shape = x.shape().to_vec();
    let target = target.to_vec();
    Var::from_op(OP, value, &[input], move |g, grads| {
        let scales = element_scales(g, reduction, n)?;
        let mut grad = vec![T::zero(); n * c];
        for (i, &y) in target.iter().enumerate() {
            grad[i * c + y] = T::of(-scales[i]);
        }
        grads.set(0, || Tensor::from_vec(grad, &shape))
    })
}

/// Mean squared error, like `F.mse_loss(input, target, reduction=...)`:
/// `(input - target)²` elementwise, reduced as `reduction` says. Both arguments are
/// differentiable.
///
/// Unlike PyTorch, which warns and broadcasts when the shapes differ (almost always a bug,
/// e.g. `[N, 1]` against `[N]`), this refuses them.
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
    const OP: &str = "mse_loss";
    let (x, t) = (input.value(), target.value());
    if x.shape() != t.shape() {
        return Err(TensorError::shape(
            OP,
            format!(
                "input has shape {:?} but target has shape {:?}; the shapes must be equal (no broadcasting)",
                x.shape(),
                t.shape()
            ),
        ));
    }
    let diff = x.sub(&t)?;
    let value = match reduction {
        Reduction::None => diff.mul(&diff)?,
        _ => {
            let squares: Vec<f64> = diff
                .as_array()
                .iter()
                .map(|d| d.as_f64() * d.as_f64())
                .collect();
            reduce::<T>(&squares, reduction, &[])?
        }
    };
    let count = diff.numel();
    Var::from_op(OP, value, &[input, target], move |g, grads| {
        let grad = match reduction {
            Reduction::None => diff.mul(g)?.mul_scalar(T::of(2.0)),
            _ => {
                let s = element_scales(g, reduction, 1)?[0];
                let s = if reduction == Reduction::Mean {
                    s / count as f64
                } else {
                    s
                };
                diff.mul_scalar(T::of(2.0 * s))
            }
        };
        grads.set(0, || Ok(grad.clone()))?;
        grads.set(1, || Ok(grad.neg()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_autograd::{GradcheckOptions, gradcheck};
    use ferrite_tensor::seeded_rng;

    fn logits(n: usize, c: usize, seed: u64) -> Tensor<f64> {
        Tensor::randn(&[n, c], &mut seeded_rng(seed))
    }

    #[test]
    fn cross_entropy_gradcheck_all_reductions_and_smoothing() {
        let target = [2, 0, 4, 4];
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            for eps in [0.0, 0.1, 1.0] {
                let opts = CrossEntropyOptions::new()
                    .with_reduction(reduction)
                    .with_label_smoothing(eps);
                gradcheck(
                    |v: &[Var<f64>]| cross_entropy(&v[0], &target, &opts),
                    &[logits(4, 5, 7)],
                    &GradcheckOptions::default().with_input_names(&["input"]),
                )
                .unwrap_or_else(|e| panic!("{reduction:?}, ε = {eps}: {e}"));
            }
        }
    }

    #[test]
    fn cross_entropy_matches_log_softmax_then_nll() {
        let x = logits(3, 4, 1);
        let target = [3, 1, 0];
        let fused = cross_entropy(&Var::new(x.clone()), &target, &CrossEntropyOptions::new())
            .unwrap()
            .item()
            .unwrap();
        let composed = nll_loss(
            &Var::new(x).log_softmax(1).unwrap(),
            &target,
            Reduction::Mean,
        )
        .unwrap()
        .item()
        .unwrap();
        assert!((fused - composed).abs() < 1e-12, "{fused} vs {composed}");
    }

    #[test]
    fn cross_entropy_label_smoothing_formula() {
        // loss = (1-ε)(-log p_y) + ε/C Σ_c(-log p_c), written out with log_softmax.
        let x = logits(2, 3, 3);
        let target = [1, 2];
        let eps = 0.2;
        let logp = Var::new(x.clone()).log_softmax(1).unwrap().value().to_vec();
        let mut expected = 0.0;
        for (i, &y) in target.iter().enumerate() {
            let row = &logp[i * 3..i * 3 + 3];
            expected += (1.0 - eps) * -row[y] + eps / 3.0 * row.iter().map(|l| -l).sum::<f64>();
        }
        let opts = CrossEntropyOptions::new()
            .with_reduction(Reduction::Sum)
            .with_label_smoothing(eps);
        let got = cross_entropy(&Var::new(x), &target, &opts)
            .unwrap()
            .item()
            .unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        let x =
            Var::parameter(Tensor::<f32>::from_vec(vec![1e4, 0.0, -1e4, 1e4], &[2, 2]).unwrap());
        let loss = cross_entropy(&x, &[0, 0], &CrossEntropyOptions::new()).unwrap();
        // Row 0: p_0 = 1, loss 0; row 1: loss 2e4. Mean 1e4.
        assert_eq!(loss.item().unwrap(), 1e4);
        loss.backward().unwrap();
        let g = x.grad().unwrap().to_vec();
        assert!(g.iter().all(|v| v.is_finite()));
        assert_eq!(g, vec![0.0, 0.0, -0.5, 0.5]);
    }

    #[test]
    fn cross_entropy_single_sample_input() {
        let x = Var::parameter(Tensor::<f64>::zeros(&[4]));
        let opts = CrossEntropyOptions::new().with_reduction(Reduction::None);
        let loss = cross_entropy(&x, &[2], &opts).unwrap();
        assert_eq!(loss.shape(), Vec::<usize>::new());
        assert!((loss.item().unwrap() - 4f64.ln()).abs() < 1e-12);
        loss.backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec(), vec![0.25, 0.25, -0.75, 0.25]);
    }

    #[test]
    fn cross_entropy_refuses_bad_targets_and_options() {
        let x = Var::new(Tensor::<f64>::zeros(&[3, 4]));
        let opts = CrossEntropyOptions::new();
        let err = cross_entropy(&x, &[1, 4, 0], &opts).unwrap_err();
        assert_eq!(err.op(), "cross_entropy");
        let msg = err.to_string();
        assert!(
            msg.contains("target 4") && msg.contains("4 classes"),
            "{msg}"
        );
        let err = cross_entropy(&x, &[1, 2], &opts).unwrap_err();
        assert!(err.to_string().contains("2 entries"), "{err}");
        assert!(cross_entropy(&x, &[0, 0, 0], &opts.with_label_smoothing(1.5)).is_err());
        assert!(cross_entropy(&x, &[0, 0, 0], &opts.with_label_smoothing(-0.1)).is_err());
        let x3 = Var::new(Tensor::<f64>::zeros(&[3, 4, 2]));
        assert!(cross_entropy(&x3, &[0, 0, 0], &opts).is_err());
    }

    #[test]
    fn nll_loss_gradcheck_and_errors() {
        let target = [1, 0, 2];
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            gradcheck(
                |v: &[Var<f64>]| nll_loss(&v[0], &target, reduction),
                &[logits(3, 3, 5)],
                &GradcheckOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{reduction:?}: {e}"));
        }
        let x = Var::new(Tensor::<f64>::zeros(&[3, 3]));
        let err = nll_loss(&x, &[0, 3, 0], Reduction::Mean).unwrap_err();
        assert_eq!(err.op(), "nll_loss");
        assert!(err.to_string().contains("target 3"), "{err}");
    }

    #[test]
    fn mse_loss_gradcheck_both_inputs() {
        let a = Tensor::<f64>::randn(&[3, 4], &mut seeded_rng(11));
        let b = Tensor::<f64>::randn(&[3, 4], &mut seeded_rng(12));
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            gradcheck(
                |v: &[Var<f64>]| mse_loss(&v[0], &v[1], reduction),
                &[a.clone(), b.clone()],
                &GradcheckOptions::default().with_input_names(&["input", "target"]),
            )
            .unwrap_or_else(|e| panic!("{reduction:?}: {e}"));
        }
    }

    #[test]
    fn mse_loss_refuses_broadcasting() {
        let a = Var::new(Tensor::<f32>::zeros(&[4, 1]));
        let b = Var::new(Tensor::<f32>::zeros(&[4]));
        let err = mse_loss(&a, &b, Reduction::Mean).unwrap_err();
        assert_eq!(err.op(), "mse_loss");
        assert!(err.to_string().contains("[4, 1]"), "{err}");
    }

    #[test]
    fn mean_of_nothing_is_nan() {
        let x = Var::new(Tensor::<f64>::zeros(&[0, 3]));
        let loss = cross_entropy(&x, &[], &CrossEntropyOptions::new()).unwrap();
        assert!(loss.item().unwrap().is_nan());
    }
}
