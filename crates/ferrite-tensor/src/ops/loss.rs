//! The fused losses' kernels, named and computed as in `torch.nn.functional`:
//! [`Tensor::cross_entropy`], [`Tensor::nll_loss`] and [`Tensor::mse_loss`], each with its
//! closed-form backward beside it.
//!
//! The forward computes the loss directly, in `f64` whatever the element type, instead of a
//! chain of small ops. For cross-entropy this is also what keeps it numerically stable: the
//! gradient `softmax(x) - target` never goes through `exp(log(p))`.
//!
//! The class-index losses share three steps: a layout (the input checked against the
//! targets: samples, classes, the unreduced shape), a per-sample loss, then the
//! [`Reduction`] and its backward. That is where the next features go: class weights and
//! `ignore_index` are a per-sample weight in the reduction and its backward, `[N, C, d1, ...]`
//! inputs one more layout field (the positions per sample, the stride between classes),
//! probability targets a second kind of target beside the class indices.
//!
//! ```
//! use ferrite_tensor::{cross_entropy_backward, CrossEntropyOptions, Tensor};
//! let logits = Tensor::<f64>::zeros(&[2, 4]);
//! let opts = CrossEntropyOptions::default();
//! let (loss, softmax) = logits.cross_entropy(&[1, 3], &opts)?;
//! assert!((loss.item()? - 4f64.ln()).abs() < 1e-12);
//! let grad = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &[1, 3], &opts)?;
//! assert_eq!(grad.to_vec()[..4], [0.125, -0.375, 0.125, 0.125]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use crate::{Float, Result, Tensor, TensorError};

/// How a loss combines the per-element losses, like PyTorch's `reduction` argument.
///
/// ```
/// use ferrite_tensor::Reduction;
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
    /// No reduction: one loss per sample (or per element for `mse_loss`) (`"none"`).
    None,
}

/// The settings of cross-entropy, with PyTorch's defaults: mean reduction, no label
/// smoothing.
///
/// Class weights and `ignore_index` are not supported.
///
/// ```
/// use ferrite_tensor::{CrossEntropyOptions, Reduction};
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
    /// use ferrite_tensor::{CrossEntropyOptions, Reduction};
    /// assert_eq!(CrossEntropyOptions::new().reduction, Reduction::Mean);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Reduction};
    /// let o = CrossEntropyOptions::new().with_reduction(Reduction::None);
    /// assert_eq!(o.reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets the label smoothing ε (checked by the loss: it must lie in `[0, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::CrossEntropyOptions;
    /// assert_eq!(CrossEntropyOptions::new().with_label_smoothing(0.1).label_smoothing, 0.1);
    /// ```
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }

    fn check(&self) -> Result<()> {
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(TensorError::invalid(
                CROSS_ENTROPY,
                format!("label_smoothing must be between 0 and 1, found {eps}"),
            ));
        }
        Ok(())
    }
}

const CROSS_ENTROPY: &str = "cross_entropy";
const NLL_LOSS: &str = "nll_loss";
const MSE_LOSS: &str = "mse_loss";

/// How a class-index loss sees its input: `samples` rows of `classes` scores, and the shape
/// of the unreduced loss.
struct ClassLayout {
    samples: usize,
    classes: usize,
    unreduced_shape: Vec<usize>,
}

/// Checks a class-index loss's input and targets. Accepts `[N, C]`, or `[C]` with a single
/// target (unreduced shape `[]`).
fn class_layout(op: &'static str, shape: &[usize], target: &[usize]) -> Result<ClassLayout> {
    let (n, c, unreduced_shape) = match *shape {
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
    Ok(ClassLayout {
        samples: n,
        classes: c,
        unreduced_shape,
    })
}

/// Combines per-sample losses into the result tensor.
fn reduce<T: Float>(
    losses: &[f64],
    reduction: Reduction,
    unreduced_shape: &[usize],
) -> Result<Tensor<T>> {
    let sum: f64 = losses.iter().sum();
    match reduction {
        Reduction::Mean => Ok(Tensor::scalar(T::of(sum / losses.len() as f64))),
        Reduction::Sum => Ok(Tensor::scalar(T::of(sum))),
        Reduction::None => {
            Tensor::from_vec(losses.iter().map(|&l| T::of(l)).collect(), unreduced_shape)
        }
    }
}

/// d(result)/d(loss of element i) times the upstream gradient, for each of `count` elements:
/// the backward of [`reduce`].
fn loss_scales<T: Float>(
    grad_output: &Tensor<T>,
    reduction: Reduction,
    count: usize,
) -> Result<Vec<f64>> {
    Ok(match reduction {
        Reduction::Mean => vec![grad_output.item()?.as_f64() / count as f64; count],
        Reduction::Sum => vec![grad_output.item()?.as_f64(); count],
        Reduction::None => {
            if grad_output.numel() != count {
                return Err(TensorError::shape(
                    "loss backward",
                    format!(
                        "expected a gradient with one value per loss ({count}), found shape {:?}",
                        grad_output.shape()
                    ),
                ));
            }
            grad_output.as_array().iter().map(|v| v.as_f64()).collect()
        }
    })
}

impl<T: Float> Tensor<T> {
    /// Cross-entropy between logits and class indices, like
    /// `F.cross_entropy(input, target, reduction=..., label_smoothing=...)` without
    /// autograd. Returns the loss and `softmax(input)`, which
    /// [`cross_entropy_backward`] needs.
    ///
    /// For sample `i` with log-probabilities `log p = log_softmax(x_i)` and target `y`:
    /// `loss_i = (1 - ε) · (-log p_y) + ε / C · Σ_c (-log p_c)`, reduced as
    /// `options.reduction` says. The log-softmax is computed stably (the row maximum is
    /// subtracted first).
    ///
    /// # Shapes
    /// - `self`: `[N, C]` logits, or `[C]` for a single sample
    /// - target: `N` class indices in `0..C` (one for a `[C]` input)
    /// - loss: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N]` for
    ///   [`Reduction::None`] (`[]` for a `[C]` input); softmax: `self`'s shape
    ///
    /// # Errors
    /// When the input is not 2-D (or 1-D), the number of targets differs from `N`, a target
    /// is `>= C` (the message names the target, its sample and `C`), or the label smoothing
    /// is outside `[0, 1]`.
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Reduction, Tensor};
    /// let logits = Tensor::<f64>::zeros(&[2, 4]);
    /// let opts = CrossEntropyOptions::default().with_reduction(Reduction::None);
    /// let (loss, softmax) = logits.cross_entropy(&[1, 3], &opts)?;
    /// assert_eq!(loss.shape(), &[2]);
    /// assert_eq!(softmax.to_vec(), vec![0.25; 8]);
    /// let err = logits.cross_entropy(&[1, 4], &opts).unwrap_err();
    /// assert!(err.to_string().contains("target 4"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cross_entropy(
        &self,
        target: &[usize],
        options: &CrossEntropyOptions,
    ) -> Result<(Tensor<T>, Tensor<T>)> {
        options.check()?;
        let eps = options.label_smoothing;
        let layout = class_layout(CROSS_ENTROPY, self.shape(), target)?;
        let (n, c) = (layout.samples, layout.classes);
        let xs: Vec<f64> = self.as_array().iter().map(|v| v.as_f64()).collect();

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
        let loss = reduce::<T>(&losses, options.reduction, &layout.unreduced_shape)?;
        Ok((loss, Tensor::from_vec(probs, self.shape())?))
    }

    /// Negative log-likelihood of class indices given log-probabilities, like
    /// `F.nll_loss(input, target, reduction=...)` without autograd:
    /// `loss_i = -input[i, target_i]`.
    ///
    /// # Shapes
    /// - `self`: `[N, C]` log-probabilities, or `[C]` for a single sample
    /// - target: `N` class indices in `0..C`
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N]` for
    ///   [`Reduction::None`] (`[]` for a `[C]` input)
    ///
    /// # Errors
    /// When the input is not 2-D (or 1-D), the number of targets differs from `N`, or a
    /// target is `>= C`.
    ///
    /// ```
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let logp = Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?;
    /// assert!((logp.nll_loss(&[0, 1], Reduction::Sum)?.item()? - 0.6).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn nll_loss(&self, target: &[usize], reduction: Reduction) -> Result<Tensor<T>> {
        let layout = class_layout(NLL_LOSS, self.shape(), target)?;
        let c = layout.classes;
        let xs: Vec<f64> = self.as_array().iter().map(|v| v.as_f64()).collect();
        let losses: Vec<f64> = target
            .iter()
            .enumerate()
            .map(|(i, &y)| -xs[i * c + y])
            .collect();
        reduce::<T>(&losses, reduction, &layout.unreduced_shape)
    }

    /// Mean squared error, like `F.mse_loss(input, target, reduction=...)` without
    /// autograd: `(input - target)²` elementwise, reduced as `reduction` says.
    ///
    /// Unlike PyTorch, which warns and broadcasts when the shapes differ (almost always a
    /// bug, e.g. `[N, 1]` against `[N]`), this refuses them.
    ///
    /// # Shapes
    /// - `self`, target: the same shape, any
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When `self` and `target` have different shapes.
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
        let diff = mse_diff(self, target)?;
        match reduction {
            Reduction::None => diff.mul(&diff),
            _ => {
                let squares: Vec<f64> = diff
                    .as_array()
                    .iter()
                    .map(|d| d.as_f64() * d.as_f64())
                    .collect();
                reduce::<T>(&squares, reduction, &[])
            }
        }
    }
}

/// The gradient of [`Tensor::cross_entropy`] with respect to its input, from the softmax
/// the forward returned: `(softmax(x_i) - ((1 - ε) · one_hot(y) + ε / C)) · scale_i`,
/// `scale_i` being `grad_output` spread by the reduction.
///
/// # Shapes
/// - `grad_output`: the loss's shape
/// - `softmax`: the input's shape; result: the input's shape
///
/// # Errors
/// When the softmax, targets and `grad_output` do not fit together as the forward's did.
///
/// ```
/// use ferrite_tensor::{cross_entropy_backward, CrossEntropyOptions, Tensor};
/// let softmax = Tensor::<f64>::full(&[1, 2], 0.5);
/// let g = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &[0], &CrossEntropyOptions::new())?;
/// assert_eq!(g.to_vec(), vec![-0.5, 0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn cross_entropy_backward<T: Float>(
    grad_output: &Tensor<T>,
    softmax: &Tensor<T>,
    target: &[usize],
    options: &CrossEntropyOptions,
) -> Result<Tensor<T>> {
    options.check()?;
    let layout = class_layout(CROSS_ENTROPY, softmax.shape(), target)?;
    let (n, c) = (layout.samples, layout.classes);
    let eps = options.label_smoothing;
    let scales = loss_scales(grad_output, options.reduction, n)?;
    let off = eps / c as f64;
    let on = 1.0 - eps + off;
    let probs = softmax.row_major();
    let mut grad = Vec::with_capacity(n * c);
    for (i, (row, &y)) in probs.chunks_exact(c.max(1)).zip(target).enumerate() {
        let s = scales[i];
        grad.extend(row.iter().enumerate().map(|(j, p)| {
            let q = if j == y { on } else { off };
            T::of((p.as_f64() - q) * s)
        }));
    }
    Tensor::from_vec(grad, softmax.shape())
}

/// The gradient of [`Tensor::nll_loss`] with respect to its input: `-scale_i` at
/// `[i, target_i]`, 0 elsewhere.
///
/// # Shapes
/// - `grad_output`: the loss's shape
/// - `input_shape`, result: `[N, C]` or `[C]`
///
/// # Errors
/// When the shape, targets and `grad_output` do not fit together as the forward's did.
///
/// ```
/// use ferrite_tensor::{nll_loss_backward, Reduction, Tensor};
/// let g = nll_loss_backward(&Tensor::<f64>::scalar(1.0), &[2, 2], &[0, 1], Reduction::Sum)?;
/// assert_eq!(g.to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn nll_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
    target: &[usize],
    reduction: Reduction,
) -> Result<Tensor<T>> {
    let layout = class_layout(NLL_LOSS, input_shape, target)?;
    let (n, c) = (layout.samples, layout.classes);
    let scales = loss_scales(grad_output, reduction, n)?;
    let mut grad = vec![T::zero(); n * c];
    for (i, &y) in target.iter().enumerate() {
        grad[i * c + y] = T::of(-scales[i]);
    }
    Tensor::from_vec(grad, input_shape)
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
    let diff = mse_diff(input, target)?;
    match reduction {
        Reduction::None => Ok(diff.mul(grad_output)?.mul_scalar(T::of(2.0))),
        _ => {
            let s = loss_scales(grad_output, reduction, 1)?[0];
            let s = if reduction == Reduction::Mean {
                s / diff.numel() as f64
            } else {
                s
            };
            Ok(diff.mul_scalar(T::of(2.0 * s)))
        }
    }
}

/// `input - target`, refusing shapes that differ.
fn mse_diff<T: Float>(input: &Tensor<T>, target: &Tensor<T>) -> Result<Tensor<T>> {
    if input.shape() != target.shape() {
        return Err(TensorError::shape(
            MSE_LOSS,
            format!(
                "input has shape {:?} but target has shape {:?}; the shapes must be equal (no broadcasting)",
                input.shape(),
                target.shape()
            ),
        ));
    }
    input.sub(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    fn logits(n: usize, c: usize, seed: u64) -> Tensor<f64> {
        Tensor::randn(&[n, c], &mut seeded_rng(seed))
    }

    /// The derivative of `loss(x)` in the direction of each element, by central differences,
    /// for a loss reduced to a scalar.
    fn numeric_grad(x: &Tensor<f64>, loss: impl Fn(&Tensor<f64>) -> f64) -> Vec<f64> {
        let h = 1e-6;
        (0..x.numel())
            .map(|i| {
                let mut plus = x.clone();
                plus.as_mut_slice()[i] += h;
                let mut minus = x.clone();
                minus.as_mut_slice()[i] -= h;
                (loss(&plus) - loss(&minus)) / (2.0 * h)
            })
            .collect()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn cross_entropy_matches_a_naive_reference_and_finite_differences() {
        let x = logits(4, 5, 7);
        let target = [2, 0, 4, 4];
        for eps in [0.0, 0.1, 1.0] {
            let opts = CrossEntropyOptions::new()
                .with_reduction(Reduction::Sum)
                .with_label_smoothing(eps);
            // Naive: -Σ_c q_c log p_c with q = (1 - ε) one_hot + ε / C.
            let naive = |t: &Tensor<f64>| {
                let data = t.to_vec();
                let mut total = 0.0;
                for (row, &y) in data.chunks(5).zip(&target) {
                    let z: f64 = row.iter().map(|v| v.exp()).sum();
                    for (j, v) in row.iter().enumerate() {
                        let q = if j == y { 1.0 - eps } else { 0.0 } + eps / 5.0;
                        total -= q * (v.exp() / z).ln();
                    }
                }
                total
            };
            let (loss, softmax) = x.cross_entropy(&target, &opts).unwrap();
            assert!((loss.item().unwrap() - naive(&x)).abs() < 1e-12);
            let grad = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &target, &opts);
            assert_close(&grad.unwrap().to_vec(), &numeric_grad(&x, naive));
        }
    }

    #[test]
    fn nll_loss_and_its_backward() {
        let x = logits(3, 3, 5);
        let target = [1, 0, 2];
        let loss = |t: &Tensor<f64>| {
            t.nll_loss(&target, Reduction::Mean)
                .unwrap()
                .item()
                .unwrap()
        };
        let want = -(x.to_vec()[1] + x.to_vec()[3] + x.to_vec()[8]) / 3.0;
        assert!((loss(&x) - want).abs() < 1e-12);
        let grad = nll_loss_backward(&Tensor::scalar(1.0), x.shape(), &target, Reduction::Mean);
        assert_close(&grad.unwrap().to_vec(), &numeric_grad(&x, loss));
        let none = x.nll_loss(&target, Reduction::None).unwrap();
        assert_eq!(none.shape(), &[3]);
        let err = x.nll_loss(&[0, 3, 0], Reduction::Mean).unwrap_err();
        assert_eq!(err.op(), "nll_loss");
    }

    #[test]
    fn mse_loss_and_its_backward() {
        let a = logits(3, 4, 11);
        let b = logits(3, 4, 12);
        for reduction in [Reduction::Mean, Reduction::Sum] {
            let loss = |t: &Tensor<f64>| t.mse_loss(&b, reduction).unwrap().item().unwrap();
            let grad = mse_loss_backward(&Tensor::scalar(1.0), &a, &b, reduction).unwrap();
            assert_close(&grad.to_vec(), &numeric_grad(&a, loss));
        }
        let none = a.mse_loss(&b, Reduction::None).unwrap();
        let d = a.sub(&b).unwrap();
        assert_eq!(none, d.mul(&d).unwrap());
        let err = a
            .mse_loss(&Tensor::zeros(&[4, 3]), Reduction::Mean)
            .unwrap_err();
        assert!(err.to_string().contains("[3, 4]"), "{err}");
    }

    #[test]
    fn backward_refuses_a_gradient_of_the_wrong_size() {
        let softmax = Tensor::<f64>::full(&[2, 2], 0.5);
        let none = CrossEntropyOptions::new().with_reduction(Reduction::None);
        assert!(cross_entropy_backward(&Tensor::zeros(&[3]), &softmax, &[0, 1], &none).is_err());
        let mean = CrossEntropyOptions::new();
        assert!(cross_entropy_backward(&Tensor::zeros(&[2]), &softmax, &[0, 1], &mean).is_err());
    }
}
