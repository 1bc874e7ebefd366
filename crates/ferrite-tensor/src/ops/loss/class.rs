//! The class-target losses [`Tensor::cross_entropy`] and [`Tensor::nll_loss`] with
//! PyTorch's full semantics: class weights, `ignore_index`, label smoothing, probability
//! targets, `[N, C, d1, ...]` and unbatched `[C]` inputs.
//!
//! Both losses see their input as positions (`N · d1 · …`, or one for `[C]`) of `C` scores.
//! Cross-entropy with class `y` and smoothing ε is the probability-target loss with
//! `q = (1 - ε) · one_hot(y) + ε / C`, so one formula serves both kinds of target:
//! `l = -Σ_c w_c q_c log p_c`, whose gradient is `p_j · Σ_c w_c q_c - w_j q_j`. They differ
//! only in what `"mean"` divides by (the weights of the non-ignored targets, or the number of
//! positions for probabilities) and in ignored positions (0).
//!
//! ```
//! use ferrite_tensor::{CrossEntropyOptions, Indices, Tensor};
//! // [N = 1, C = 2, d1 = 2]: two positions.
//! let x = Tensor::<f64>::zeros(&[1, 2, 2]);
//! let (loss, _) = x.cross_entropy(&Indices::from_vec(vec![0, 1], &[1, 2])?, &CrossEntropyOptions::new())?;
//! assert!((loss.item()? - 2f64.ln()).abs() < 1e-12);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use std::borrow::Cow;

use super::Reduced;
#[cfg(doc)]
use super::Reduction;
use super::options::{CROSS_ENTROPY, CrossEntropyOptions, CrossEntropyTarget, NllLossOptions};
use crate::{Float, Indices, Result, Tensor, TensorError, buffer, lanes, parallel};

const NLL_LOSS: &str = "nll_loss";

/// How a class loss sees its input `[N, C, d1, ...]`: `outer` (N) blocks of `classes` rows
/// of `inner` (d1·…) values; the loss has `outer · inner` positions.
struct ClassLayout {
    outer: usize,
    classes: usize,
    inner: usize,
    unreduced_shape: Vec<usize>,
}

impl ClassLayout {
    fn positions(&self) -> usize {
        self.outer * self.inner
    }
}

/// Checks the input's shape and the target's (`target_shape`: the class indices', or the
/// probabilities' when `probabilities`).
fn class_layout(
    op: &'static str,
    shape: &[usize],
    target_shape: &[usize],
    probabilities: bool,
) -> Result<ClassLayout> {
    let layout = match *shape {
        [] => {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected an input of shape [C], [N, C] or [N, C, d1, ...], found {shape:?}"
                ),
            ));
        }
        [c] => ClassLayout {
            outer: 1,
            classes: c,
            inner: 1,
            unreduced_shape: Vec::new(),
        },
        [n, c, ref rest @ ..] => ClassLayout {
            outer: n,
            classes: c,
            inner: rest.iter().product(),
            unreduced_shape: [&[n][..], rest].concat(),
        },
    };
    let expected = if probabilities {
        shape
    } else {
        &layout.unreduced_shape[..]
    };
    if target_shape != expected {
        let kind = if probabilities {
            "probabilities"
        } else {
            "class indices"
        };
        return Err(TensorError::shape(
            op,
            format!(
                "expected a target ({kind}) of shape {expected:?} for an input of shape {shape:?}, found {target_shape:?}"
            ),
        ));
    }
    Ok(layout)
}

/// The class weights as `f64`, checked to have one entry per class.
fn class_weights(
    op: &'static str,
    weight: Option<&Tensor<f64>>,
    c: usize,
) -> Result<Option<Vec<f64>>> {
    match weight {
        None => Ok(None),
        Some(w) if w.shape() == [c] => Ok(Some(w.to_vec())),
        Some(w) => Err(TensorError::shape(
            op,
            format!(
                "weight must have one entry per class: expected shape [{c}], found {:?}",
                w.shape()
            ),
        )),
    }
}

/// The class of each position, `None` where the target is `ignore_index`; any other value
/// outside `0..c` is an error naming it and its position.
fn class_targets(
    op: &'static str,
    target: &Indices,
    layout: &ClassLayout,
    ignore_index: i64,
    shape: &[usize],
) -> Result<Vec<Option<usize>>> {
    let c = layout.classes;
    let unit = if layout.inner == 1 {
        "sample"
    } else {
        "position"
    };
    let mut out = Vec::with_capacity(target.numel());
    for (i, &t) in target.as_array().iter().enumerate() {
        if t == ignore_index {
            out.push(None);
            continue;
        }
        match usize::try_from(t) {
            Ok(y) if y < c => out.push(Some(y)),
            _ => {
                return Err(TensorError::invalid(
                    op,
                    format!(
                        "target {t} ({unit} {i}) is out of range for {c} classes (expected 0 to {}, or ignore_index {ignore_index}; input {shape:?})",
                        c as i64 - 1
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// What `"mean"` divides the class-index losses by: the summed weights of the targets that
/// are not ignored (their count without weights).
fn class_divisor(classes: &[Option<usize>], weight: Option<&[f64]>) -> f64 {
    classes
        .iter()
        .flatten()
        .map(|&y| weight.map_or(1.0, |w| w[y]))
        .sum()
}

/// A target resolved against the input: per-position classes, or probabilities laid out
/// like the rows.
enum RowTargets {
    Classes(Vec<Option<usize>>),
    Probabilities(Vec<f64>),
}

/// Everything the row kernels need, checked once for forward and backward.
struct Prepared {
    layout: ClassLayout,
    weight: Option<Vec<f64>>,
    targets: RowTargets,
    reduced: Reduced,
}

fn prepare<T: Float>(
    shape: &[usize],
    target: CrossEntropyTarget<'_, T>,
    options: &CrossEntropyOptions,
) -> Result<Prepared> {
    options.check_smoothing()?;
    let (target_shape, probabilities) = match target {
        CrossEntropyTarget::Classes(t) => (t.shape(), false),
        CrossEntropyTarget::Probabilities(t) => (t.shape(), true),
    };
    let layout = class_layout(CROSS_ENTROPY, shape, target_shape, probabilities)?;
    let weight = class_weights(CROSS_ENTROPY, options.weight.as_ref(), layout.classes)?;
    let (targets, divisor) = match target {
        CrossEntropyTarget::Classes(t) => {
            let classes = class_targets(CROSS_ENTROPY, t, &layout, options.ignore_index, shape)?;
            let divisor = class_divisor(&classes, weight.as_deref());
            (RowTargets::Classes(classes), divisor)
        }
        CrossEntropyTarget::Probabilities(t) => {
            if options.ignore_index >= 0 {
                return Err(TensorError::invalid(
                    CROSS_ENTROPY,
                    format!(
                        "ignore_index must be negative with probability targets (PyTorch does not support it), found {}",
                        options.ignore_index
                    ),
                ));
            }
            let rows = classes_last(t)?;
            let rows = rows.iter().map(|v| v.as_f64()).collect::<Vec<_>>();
            (RowTargets::Probabilities(rows), layout.positions() as f64)
        }
    };
    let reduced = Reduced::new(options.reduction, divisor);
    Ok(Prepared {
        layout,
        weight,
        targets,
        reduced,
    })
}

/// The values of `[N, C, d1, ...]` in the order of `[N, d1, ..., C]`, so that every position
/// is a contiguous row of `C` scores (a borrow for `[N, C]` and `[C]`, a transposing copy
/// otherwise).
fn classes_last<T: Float>(x: &Tensor<T>) -> Result<Cow<'_, [T]>> {
    if x.ndim() <= 2 {
        return Ok(x.row_major());
    }
    let mut perm: Vec<isize> = vec![0];
    perm.extend(2..x.ndim() as isize);
    perm.push(1);
    Ok(Cow::Owned(x.permute(&perm)?.row_major().into_owned()))
}

/// The inverse of [`classes_last`]: rows of `C` back to a tensor of `shape`.
fn classes_back<T: Float>(rows: Vec<T>, shape: &[usize]) -> Result<Tensor<T>> {
    if shape.len() <= 2 {
        return Tensor::from_vec(rows, shape);
    }
    let mut last_shape = vec![shape[0]];
    last_shape.extend(&shape[2..]);
    last_shape.push(shape[1]);
    let k = shape.len() as isize - 1;
    let mut perm: Vec<isize> = vec![0, k];
    perm.extend(1..k);
    Ok(Tensor::from_vec(rows, &last_shape)?
        .permute(&perm)?
        .contiguous())
}

/// A row's log-sum-exp as `shift + ln_sum`: `shift` (the row's maximum, when finite) keeps
/// the exponentials finite, and the losses use `lse - x = ln_sum - (x - shift)`, which
/// has no cancellation for large logits.
#[derive(Clone, Copy)]
struct RowLse<T> {
    shift: T,
    ln_sum: f64,
}

impl<T: Float> RowLse<T> {
    /// `-log p = lse - x` for a logit `x` of the row.
    #[inline]
    fn nll(&self, x: T) -> f64 {
        self.ln_sum - (x - self.shift).as_f64()
    }
}

/// The softmax of one row of logits into `probs` (in the element type, with the
/// vectorisable [`Float::exp_kernel`]), returning the row's log-sum-exp.
fn softmax_row<T: Float>(row: &[T], probs: &mut [T]) -> RowLse<T> {
    let shift = lanes::stable_shift(lanes::max(row));
    let sum = lanes::exp_shifted_into(row, shift, probs);
    let inv = T::one() / sum;
    probs.iter_mut().for_each(|p| *p *= inv);
    RowLse {
        shift,
        ln_sum: sum.as_f64().ln(),
    }
}

/// One row's loss `-Σ_c w_c q_c log p_c` given its log-sum-exp, for class `y` (or none:
/// ignored) with smoothing `eps`.
fn class_row_loss<T: Float>(
    row: &[T],
    lse: RowLse<T>,
    y: Option<usize>,
    eps: f64,
    weight: Option<&[f64]>,
) -> f64 {
    let Some(y) = y else { return 0.0 };
    let c = row.len() as f64;
    let nll = lse.nll(row[y]);
    match weight {
        None if eps > 0.0 => {
            // Σ_c (-log p_c) / C = ln_sum - mean(x - shift)
            let mean = lanes::sum_map(row, |x| x - lse.shift).as_f64() / c;
            (1.0 - eps) * nll + eps * (lse.ln_sum - mean)
        }
        None => nll,
        Some(w) if eps > 0.0 => {
            let smooth: f64 = row.iter().zip(w).map(|(&x, w)| w * lse.nll(x)).sum();
            (1.0 - eps) * w[y] * nll + eps / c * smooth
        }
        Some(w) => w[y] * nll,
    }
}

/// One row's loss with probability target `t` (smoothed to `(1 - ε) t + ε / C`).
fn probability_row_loss<T: Float>(
    row: &[T],
    lse: RowLse<T>,
    t: &[f64],
    eps: f64,
    weight: Option<&[f64]>,
) -> f64 {
    let off = eps / row.len() as f64;
    let mut loss = 0.0;
    for (j, (&x, &t)) in row.iter().zip(t).enumerate() {
        let q = (1.0 - eps) * t + off;
        loss += weight.map_or(1.0, |w| w[j]) * q * lse.nll(x);
    }
    loss
}

/// The softmax of every row of `xs` (rows of `C` logits) and each position's loss. Rows
/// are independent and spread over rayon's threads in blocks of a fixed size; the losses
/// come back in position order.
fn softmax_and_losses<T: Float>(xs: &[T], prepared: &Prepared, eps: f64) -> (Vec<T>, Vec<f64>) {
    let c = prepared.layout.classes;
    let weight = prepared.weight.as_deref();
    let mut probs = buffer::for_overwrite(xs.len());
    let mut losses = parallel::rows_mut(&mut probs, c, c, |i, p| {
        let row = &xs[i * c..(i + 1) * c];
        let lse = softmax_row(row, p);
        match &prepared.targets {
            RowTargets::Classes(y) => class_row_loss(row, lse, y[i], eps, weight),
            RowTargets::Probabilities(t) => {
                probability_row_loss(row, lse, &t[i * c..(i + 1) * c], eps, weight)
            }
        }
    });
    // Zero classes: no rows, but every position still has a (zero-term) loss.
    losses.resize(prepared.layout.positions(), 0.0);
    (probs, losses)
}

impl<T: Float> Tensor<T> {
    /// Cross-entropy between logits and a target, like `F.cross_entropy(input, target,
    /// weight=..., ignore_index=..., reduction=..., label_smoothing=...)` without autograd.
    /// Returns the loss and `softmax(input)` over the class dim, which
    /// [`cross_entropy_backward`] needs.
    ///
    /// With log-probabilities `log p = log_softmax(x)` over the classes at each position:
    /// - class index `y`: `l = (1 - ε) · (-w_y log p_y) + ε / C · Σ_c (-w_c log p_c)`, 0
    ///   where `y = ignore_index`; `"mean"` divides the sum by `Σ w_y` over the positions not
    ///   ignored (their count without weights; NaN if all are ignored);
    /// - probabilities `t`: `l = -Σ_c w_c t'_c log p_c` with `t' = (1 - ε) t + ε / C`;
    ///   `"mean"` divides by the number of positions.
    ///
    /// The log-softmax is computed stably (the maximum is subtracted first).
    ///
    /// # Shapes
    /// - `self`: `[N, C]`, `[N, C, d1, ...]` logits, or `[C]` for a single sample
    /// - target: class indices `[N]`, `[N, d1, ...]` (0-d for a `[C]` input), or
    ///   probabilities of `self`'s shape
    /// - loss: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the target's (class
    ///   indices') shape for [`Reduction::None`]; softmax: `self`'s shape
    ///
    /// # Errors
    /// When the input is 0-d, the target's shape does not fit, a class index outside `0..C`
    /// is not `ignore_index` (the message names it, its position and `C`), the weight is not
    /// `[C]`, the label smoothing is outside `[0, 1]`, or `ignore_index` is non-negative with
    /// probability targets.
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Indices, Reduction, Tensor};
    /// let logits = Tensor::<f64>::zeros(&[2, 4]);
    /// let opts = CrossEntropyOptions::default().with_reduction(Reduction::None);
    /// let (loss, softmax) = logits.cross_entropy(&Indices::from_classes(&[1, 3]), &opts)?;
    /// assert_eq!(loss.shape(), &[2]);
    /// assert_eq!(softmax.to_vec(), vec![0.25; 8]);
    /// let err = logits.cross_entropy(&Indices::from_classes(&[1, 4]), &opts).unwrap_err();
    /// assert!(err.to_string().contains("target 4"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cross_entropy<'a>(
        &self,
        target: impl Into<CrossEntropyTarget<'a, T>>,
        options: &CrossEntropyOptions,
    ) -> Result<(Tensor<T>, Tensor<T>)>
    where
        T: 'a,
    {
        let prepared = prepare(self.shape(), target.into(), options)?;
        let xs = classes_last(self)?;
        let (probs, losses) = softmax_and_losses(&xs, &prepared, options.label_smoothing);
        let loss = prepared
            .reduced
            .apply::<T>(&losses, &prepared.layout.unreduced_shape)?;
        Ok((loss, classes_back(probs, self.shape())?))
    }

    /// Negative log-likelihood of class indices given log-probabilities, like
    /// `F.nll_loss(input, target, weight=..., ignore_index=..., reduction=...)` without
    /// autograd: `l = -w_y · input[n, y, d...]` at each position, 0 where
    /// `y = ignore_index`; `"mean"` divides the sum by `Σ w_y` over the positions not
    /// ignored. `options` is an [`NllLossOptions`] or a bare [`Reduction`].
    ///
    /// # Shapes
    /// - `self`: `[N, C]`, `[N, C, d1, ...]` log-probabilities, or `[C]` for a single sample
    /// - target: `[N]`, `[N, d1, ...]`, 0-d for a `[C]` input
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; the target's shape
    ///   for [`Reduction::None`]
    ///
    /// # Errors
    /// When the input is 0-d, the target's shape does not fit, a target outside `0..C` is
    /// not `ignore_index`, or the weight is not `[C]`.
    ///
    /// ```
    /// use ferrite_tensor::{Indices, NllLossOptions, Reduction, Tensor};
    /// let logp = Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?;
    /// let target = Indices::from_classes(&[0, 1]);
    /// assert!((logp.nll_loss(&target, Reduction::Sum)?.item()? - 0.6).abs() < 1e-12);
    /// let ignore_1 = NllLossOptions::new().with_ignore_index(1);
    /// assert!((logp.nll_loss(&target, ignore_1)?.item()? - 0.1).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn nll_loss(
        &self,
        target: &Indices,
        options: impl Into<NllLossOptions>,
    ) -> Result<Tensor<T>> {
        let options = options.into();
        let (layout, weight, classes) = prepare_nll(self.shape(), target, &options)?;
        let divisor = class_divisor(&classes, weight.as_deref());
        let xs = self.row_major();
        let (c, inner) = (layout.classes, layout.inner);
        let losses: Vec<f64> = classes
            .iter()
            .enumerate()
            .map(|(p, y)| match *y {
                None => 0.0,
                Some(y) => {
                    let (n, s) = (p / inner, p % inner);
                    let w = weight.as_ref().map_or(1.0, |w| w[y]);
                    -w * xs[(n * c + y) * inner + s].as_f64()
                }
            })
            .collect();
        Reduced::new(options.reduction, divisor).apply::<T>(&losses, &layout.unreduced_shape)
    }
}

type NllPrepared = (ClassLayout, Option<Vec<f64>>, Vec<Option<usize>>);

fn prepare_nll(shape: &[usize], target: &Indices, options: &NllLossOptions) -> Result<NllPrepared> {
    let layout = class_layout(NLL_LOSS, shape, target.shape(), false)?;
    let weight = class_weights(NLL_LOSS, options.weight.as_ref(), layout.classes)?;
    let classes = class_targets(NLL_LOSS, target, &layout, options.ignore_index, shape)?;
    Ok((layout, weight, classes))
}

/// The gradient of [`Tensor::cross_entropy`] with respect to its input, from the softmax
/// the forward returned: `(p_j · Σ_c w_c q_c - w_j q_j) · scale` at each position, `q`
/// being the (smoothed) target distribution and `scale` `grad_output` spread by the
/// reduction; 0 at ignored positions. Without weights this is `(softmax - q) · scale`.
///
/// # Shapes
/// - `grad_output`: the loss's shape
/// - `softmax`: the input's shape; result: the input's shape
///
/// # Errors
/// When the softmax, target, options and `grad_output` do not fit together as the
/// forward's did.
///
/// ```
/// use ferrite_tensor::{cross_entropy_backward, CrossEntropyOptions, Indices, Tensor};
/// let softmax = Tensor::<f64>::full(&[1, 2], 0.5);
/// let target = Indices::from_classes(&[0]);
/// let g = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &target, &CrossEntropyOptions::new())?;
/// assert_eq!(g.to_vec(), vec![-0.5, 0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn cross_entropy_backward<'a, T: Float + 'a>(
    grad_output: &Tensor<T>,
    softmax: &Tensor<T>,
    target: impl Into<CrossEntropyTarget<'a, T>>,
    options: &CrossEntropyOptions,
) -> Result<Tensor<T>> {
    let prepared = prepare(softmax.shape(), target.into(), options)?;
    let c = prepared.layout.classes;
    let scales = prepared
        .reduced
        .scales(grad_output, prepared.layout.positions())?;
    let eps = options.label_smoothing;
    let weight = prepared.weight.as_deref();
    let probs = classes_last(softmax)?;
    let mut grad = buffer::for_overwrite(probs.len());
    parallel::rows_mut(&mut grad, c, c, |i, g| {
        let p = &probs[i * c..(i + 1) * c];
        let s = scales.at(i);
        match &prepared.targets {
            RowTargets::Classes(y) => class_grad_row(p, g, y[i], (eps, weight), s),
            RowTargets::Probabilities(t) => {
                // Σ_c w_c q_c with q = (1 - ε) t + ε / C.
                let q = |j: usize| (1.0 - eps) * t[i * c + j] + eps / c as f64;
                let w = |j: usize| weight.map_or(1.0, |w| w[j]);
                let total: f64 = (0..c).map(|j| w(j) * q(j)).sum();
                for (j, (g, p)) in g.iter_mut().zip(p).enumerate() {
                    *g = T::of((p.as_f64() * total - w(j) * q(j)) * s);
                }
            }
        }
    });
    classes_back(grad, softmax.shape())
}

/// One row of [`cross_entropy_backward`] for class `y` (none: ignored, a zero gradient):
/// `(p_j · Σ_c w_c q_c - w_j q_j) · s` with `q = (1 - ε) one_hot(y) + ε / C`; without
/// weights `(p_j - q_j) · s`, computed in the element type.
fn class_grad_row<T: Float>(
    p: &[T],
    g: &mut [T],
    y: Option<usize>,
    (eps, weight): (f64, Option<&[f64]>),
    s: f64,
) {
    let Some(y) = y else {
        g.fill(T::zero());
        return;
    };
    let off = eps / p.len() as f64;
    let q = |j: usize| if j == y { 1.0 - eps + off } else { off };
    match weight {
        None => {
            let (s_t, off_t) = (T::of(s), T::of(off));
            for (g, &p) in g.iter_mut().zip(p) {
                *g = (p - off_t) * s_t;
            }
            g[y] = T::of((p[y].as_f64() - q(y)) * s);
        }
        Some(ws) => {
            let total = (1.0 - eps) * ws[y] + off * ws.iter().sum::<f64>();
            for (j, ((g, p), w)) in g.iter_mut().zip(p).zip(ws).enumerate() {
                *g = T::of((p.as_f64() * total - w * q(j)) * s);
            }
        }
    }
}

/// The gradient of [`Tensor::nll_loss`] with respect to its input: `-w_y · scale` at
/// `[n, y, d...]` for each position not ignored, 0 elsewhere.
///
/// # Shapes
/// - `grad_output`: the loss's shape
/// - `input_shape`, result: the input's shape
///
/// # Errors
/// When the shape, target, options and `grad_output` do not fit together as the forward's
/// did.
///
/// ```
/// use ferrite_tensor::{nll_loss_backward, Indices, NllLossOptions, Reduction, Tensor};
/// let target = Indices::from_classes(&[0, 1]);
/// let sum = NllLossOptions::from(Reduction::Sum);
/// let g = nll_loss_backward(&Tensor::<f64>::scalar(1.0), &[2, 2], &target, &sum)?;
/// assert_eq!(g.to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn nll_loss_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
    target: &Indices,
    options: &NllLossOptions,
) -> Result<Tensor<T>> {
    let (layout, weight, classes) = prepare_nll(input_shape, target, options)?;
    let divisor = class_divisor(&classes, weight.as_deref());
    let scales = Reduced::new(options.reduction, divisor).scales(grad_output, classes.len())?;
    let (c, inner) = (layout.classes, layout.inner);
    let mut grad = vec![T::zero(); layout.outer * c * inner];
    for (p, y) in classes.iter().enumerate() {
        if let Some(y) = *y {
            let (n, s) = (p / inner, p % inner);
            let w = weight.as_ref().map_or(1.0, |w| w[y]);
            grad[(n * c + y) * inner + s] = T::of(-w * scales.at(p));
        }
    }
    Tensor::from_vec(grad, input_shape)
}
