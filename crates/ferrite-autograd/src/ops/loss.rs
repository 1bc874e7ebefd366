//! The fused losses: forward and closed-form backward by the `ferrite-tensor` kernels, one
//! op each instead of a chain of small ops. Class targets (`cross_entropy`, `nll_loss`) get
//! no gradient; the float targets of the elementwise losses do (PyTorch differentiates
//! them), so those are a second differentiable input.

use ferrite_tensor::{
    CrossEntropyOptions, CrossEntropyTarget, Float, Indices, KlDivReduction, LossGrads,
    NllLossOptions, Reduction, Result, Tensor, binary_cross_entropy_backward,
    binary_cross_entropy_with_logits_backward, cross_entropy_backward, huber_loss_backward,
    kl_div_backward, l1_loss_backward, mse_loss_backward, nll_loss_backward,
    smooth_l1_loss_backward,
};

use std::sync::Arc;

use crate::Var;
use crate::ops::double::{linear_fn, linear_op, recomputed};

/// `l · weight` for an optional constant weight broadcast to `l`.
fn weighted<T: Float>(l: Var<T>, weight: Option<&Tensor<T>>) -> Result<Var<T>> {
    match weight {
        Some(w) => l.mul(&Var::new(w.clone())),
        None => Ok(l),
    }
}

/// cross_entropy in differentiable ops: linear in the log-probabilities, with the
/// coefficients the fused backward gives for probabilities 0 (`∂loss/∂log p`), summed over
/// the classes (and over the positions unless the reduction is none).
fn cross_entropy_composite<T: Float>(
    x: &Var<T>,
    target: CrossEntropyTarget<'_, T>,
    options: &CrossEntropyOptions,
) -> Result<Var<T>> {
    let class_dim: isize = if x.shape().len() == 1 { 0 } else { 1 };
    let out = x.value().cross_entropy(target, options)?.0;
    let zeros = Tensor::zeros(&x.shape());
    let coeff = cross_entropy_backward(&Tensor::ones(out.shape()), &zeros, target, options)?;
    let terms = x.log_softmax(class_dim)?.mul(&Var::new(coeff))?;
    match options.reduction {
        Reduction::None => terms.sum(&[class_dim], false),
        _ => terms.sum_all(),
    }
}

/// A cross-entropy target kept by the backward closure.
enum OwnedTarget<T: Float> {
    Classes(Indices),
    Probabilities(Tensor<T>),
}

impl<T: Float> OwnedTarget<T> {
    fn new(target: CrossEntropyTarget<'_, T>) -> Self {
        match target {
            CrossEntropyTarget::Classes(t) => OwnedTarget::Classes(t.clone()),
            CrossEntropyTarget::Probabilities(t) => OwnedTarget::Probabilities(t.clone()),
        }
    }

    fn borrow(&self) -> CrossEntropyTarget<'_, T> {
        match self {
            OwnedTarget::Classes(t) => CrossEntropyTarget::Classes(t),
            OwnedTarget::Probabilities(t) => CrossEntropyTarget::Probabilities(t),
        }
    }
}

/// An elementwise loss as an op on `input` and `target`: `grads` computes both gradients
/// once, and each is handed to the input that needs it.
fn pointwise_op<T: Float>(
    name: &'static str,
    value: Tensor<T>,
    input: &Var<T>,
    target: &Var<T>,
    grads: impl Fn(&Tensor<T>) -> Result<LossGrads<T>> + Send + Sync + 'static,
    elementwise: impl Fn(&Var<T>, &Var<T>) -> Result<Var<T>> + Send + Sync + 'static,
    reduction: KlDivReduction,
) -> Result<Var<T>> {
    Var::from_op(name, value, &[input, target], move |g, slots| {
        let LossGrads { input, target } = grads(g)?;
        slots.set(1, || Ok(target))?;
        slots.set(0, || Ok(input))
    })
    .map(|y| {
        y.with_double_backward(recomputed(move |v| {
            reduce(elementwise(&v[0], &v[1])?, reduction)
        }))
    })
}

/// A loss's reduction of its elementwise values, in differentiable ops.
fn reduce<T: Float>(l: Var<T>, reduction: KlDivReduction) -> Result<Var<T>> {
    match reduction {
        KlDivReduction::None => Ok(l),
        KlDivReduction::Sum => l.sum_all(),
        KlDivReduction::Mean => l.mean(&[], false),
        KlDivReduction::BatchMean => {
            let batch = l.shape().first().copied().unwrap_or(1);
            l.sum_all()?.div_scalar(T::of(batch as f64))
        }
    }
}

/// `|d| < limit ? ½d²·inner : outer(|d|)` elementwise: smooth_l1 and huber.
fn quadratic_near_zero<T: Float>(
    d: &Var<T>,
    limit: f64,
    inner: f64,
    outer: impl Fn(&Var<T>) -> Result<Var<T>>,
) -> Result<Var<T>> {
    let a = d.abs()?;
    let near = a.value().lt_scalar(T::of(limit));
    let quadratic = d.mul(d)?.mul_scalar(T::of(0.5 * inner))?;
    Var::where_cond(&near, &quadratic, &outer(&a)?)
}

impl<T: Float> Var<T> {
    /// Cross-entropy between logits and class indices or class probabilities, like
    /// `F.cross_entropy(input, target, weight=..., ignore_index=..., reduction=...,
    /// label_smoothing=...)`; `target` is a `&Indices` or a `&Tensor` of probabilities.
    ///
    /// With `log p = log_softmax(x)` over the classes: class `y` gives
    /// `(1 - ε) · (-w_y log p_y) + ε / C · Σ_c (-w_c log p_c)` (0 where `y = ignore_index`;
    /// `"mean"` divides by the summed weights of the targets not ignored), probabilities
    /// `t` give `-Σ_c w_c ((1 - ε) t_c + ε / C) log p_c` (`"mean"` divides by the number of
    /// positions). The backward pass is the fused `(softmax(x) - q) · scale`
    /// (weighted: `p · Σ w q - w q`). See [`Tensor::cross_entropy`] for the details.
    ///
    /// # Shapes
    /// - `self`: `[N, C]`, `[N, C, d1, ...]` logits, or `[C]` for a single sample
    /// - target: class indices `[N]`, `[N, d1, ...]` (0-d for `[C]`), or probabilities of
    ///   `self`'s shape (no gradient)
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N, d1, ...]` for
    ///   [`Reduction::None`] (`[]` for a `[C]` input)
    ///
    /// # Errors
    /// When the input is 0-d, the target's shape does not fit, a class outside `0..C` is
    /// not `ignore_index` (the message names it, its position and `C`), the weight is not
    /// `[C]`, the label smoothing is outside `[0, 1]`, or `ignore_index` is non-negative with
    /// probability targets.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{CrossEntropyOptions, Indices, Tensor};
    /// let logits = Var::parameter(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[2, 3])?);
    /// let loss = logits.cross_entropy(&Indices::from_classes(&[0, 2]), &CrossEntropyOptions::default())?;
    /// loss.backward()?;
    /// let expected = ((1.0 + 2.0 * (-2.0f64).exp()).ln() + 3f64.ln()) / 2.0;
    /// assert!((loss.item()? - expected).abs() < 1e-12);
    /// assert_eq!(logits.grad().unwrap().shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cross_entropy<'a>(
        &self,
        target: impl Into<CrossEntropyTarget<'a, T>>,
        options: &CrossEntropyOptions,
    ) -> Result<Var<T>>
    where
        T: 'a,
    {
        let target = target.into();
        let (value, softmax) = self.value().cross_entropy(target, options)?;
        let target = OwnedTarget::new(target);
        let options = options.clone();
        let target = Arc::new(target);
        let (targets, opts) = (Arc::clone(&target), options.clone());
        Var::from_op("cross_entropy", value, &[self], move |g, grads| {
            grads.set(0, || {
                cross_entropy_backward(g, &softmax, target.borrow(), &options)
            })
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                cross_entropy_composite(&v[0], targets.borrow(), &opts)
            }))
        })
    }

    /// Negative log-likelihood of class indices given log-probabilities, like
    /// `F.nll_loss(input, target, weight=..., ignore_index=..., reduction=...)`:
    /// `l = -w_y · input[n, y, d...]`, 0 where `y = ignore_index`; `"mean"` divides by the
    /// summed weights of the targets not ignored. `options` is an [`NllLossOptions`] or a
    /// bare [`Reduction`].
    ///
    /// Feed it the output of [`Var::log_softmax`]; [`Var::cross_entropy`] does both in one op.
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
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Indices, Reduction, Tensor};
    /// let logp = Var::parameter(Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?);
    /// let loss = logp.nll_loss(&Indices::from_classes(&[0, 1]), Reduction::Sum)?;
    /// assert!((loss.item()? - 0.6).abs() < 1e-12);
    /// loss.backward()?;
    /// assert_eq!(logp.grad().unwrap().to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn nll_loss(&self, target: &Indices, options: impl Into<NllLossOptions>) -> Result<Var<T>> {
        let options = options.into();
        let x = self.value();
        let value = x.nll_loss(target, &options)?;
        let shape = x.shape().to_vec();
        let target = target.clone();
        let (picks, opts) = (target.clone(), options.clone());
        linear_op(
            ["nll_loss", "nll_loss_backward"],
            self,
            value,
            linear_fn(move |a| a.nll_loss(&picks, &opts)),
            linear_fn(move |g| nll_loss_backward(g, &shape, &target, &options)),
        )
    }

    /// Mean squared error, like `F.mse_loss(input, target, reduction=...)`:
    /// `(input - target)²` elementwise, reduced as `reduction` says. Both arguments are
    /// differentiable.
    ///
    /// Unlike PyTorch, which warns and broadcasts when the shapes differ (almost always a bug,
    /// e.g. `[N, 1]` against `[N]`), this refuses them.
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
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
    /// let t = Var::new(Tensor::<f64>::from_vec(vec![0.0, 4.0], &[2])?);
    /// let loss = y.mse_loss(&t, Reduction::Mean)?;
    /// assert_eq!(loss.item()?, 2.5);
    /// loss.backward()?;
    /// assert_eq!(y.grad().unwrap().to_vec(), vec![1.0, -2.0]);
    /// assert!(y.mse_loss(&Var::new(Tensor::zeros(&[2, 1])), Reduction::Mean).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mse_loss(&self, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.mse_loss(&t, reduction)?;
        Var::from_op("mse_loss", value, &[self, target], move |g, grads| {
            // The target's gradient is the input's, negated: computed once for both.
            let grad = mse_loss_backward(g, &x, &t, reduction)?;
            grads.set(1, || Ok(grad.neg()))?;
            grads.set(0, || Ok(grad))
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                let d = v[0].sub(&v[1])?;
                reduce(d.mul(&d)?, reduction.into())
            }))
        })
    }

    /// Mean absolute error, like `F.l1_loss(input, target, reduction=...)`:
    /// `|input - target|` elementwise, reduced. Both arguments are differentiable (the
    /// gradient at `input = target` is 0). Shapes must be equal.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2])?);
    /// let loss = y.l1_loss(&Var::new(Tensor::zeros(&[2])), Reduction::Mean)?;
    /// assert_eq!(loss.item()?, 1.5);
    /// loss.backward()?;
    /// assert_eq!(y.grad().unwrap().to_vec(), vec![0.5, -0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn l1_loss(&self, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.l1_loss(&t, reduction)?;
        pointwise_op(
            "l1_loss",
            value,
            self,
            target,
            move |g| l1_loss_backward(g, &x, &t, reduction),
            |x, t| x.sub(t)?.abs(),
            reduction.into(),
        )
    }

    /// Smooth L1 loss, like `F.smooth_l1_loss(input, target, reduction=..., beta=...)`:
    /// with `d = input - target`, `0.5 d² / β` where `|d| < β`, else `|d| - 0.5 β`
    /// (`β = 0`: the L1 loss). Both arguments are differentiable.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or `beta` is negative or NaN.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?);
    /// let loss = y.smooth_l1_loss(&Var::new(Tensor::zeros(&[2])), Reduction::Sum, 1.0)?;
    /// assert_eq!(loss.item()?, 2.625);
    /// loss.backward()?;
    /// assert_eq!(y.grad().unwrap().to_vec(), vec![0.5, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn smooth_l1_loss(
        &self,
        target: &Var<T>,
        reduction: Reduction,
        beta: f64,
    ) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.smooth_l1_loss(&t, reduction, beta)?;
        pointwise_op(
            "smooth_l1_loss",
            value,
            self,
            target,
            move |g| smooth_l1_loss_backward(g, &x, &t, reduction, beta),
            move |x, t| {
                let d = x.sub(t)?;
                if beta == 0.0 {
                    return d.abs();
                }
                quadratic_near_zero(&d, beta, 1.0 / beta, |a| a.sub_scalar(T::of(0.5 * beta)))
            },
            reduction.into(),
        )
    }

    /// Huber loss, like `F.huber_loss(input, target, reduction=..., delta=...)`: with
    /// `d = input - target`, `0.5 d²` where `|d| < δ`, else `δ (|d| - 0.5 δ)`. Both
    /// arguments are differentiable.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; result: `[]`, or the input's shape for
    ///   [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or `delta` is not positive.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let y = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, -3.0], &[2])?);
    /// let loss = y.huber_loss(&Var::new(Tensor::zeros(&[2])), Reduction::Sum, 2.0)?;
    /// assert_eq!(loss.item()?, 0.125 + 4.0);
    /// loss.backward()?;
    /// assert_eq!(y.grad().unwrap().to_vec(), vec![0.5, -2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn huber_loss(&self, target: &Var<T>, reduction: Reduction, delta: f64) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.huber_loss(&t, reduction, delta)?;
        pointwise_op(
            "huber_loss",
            value,
            self,
            target,
            move |g| huber_loss_backward(g, &x, &t, reduction, delta),
            move |x, t| {
                quadratic_near_zero(&x.sub(t)?, delta, 1.0, |a| {
                    a.sub_scalar(T::of(0.5 * delta))?.mul_scalar(T::of(delta))
                })
            },
            reduction.into(),
        )
    }

    /// Binary cross-entropy between probabilities and targets, like
    /// `F.binary_cross_entropy(input, target, weight=..., reduction=...)`:
    /// `-w · (t · log x + (1 - t) · log(1 - x))`, each log clamped to `>= -100`. Input and
    /// target are differentiable; the weight (broadcast to the input) is not.
    ///
    /// Prefer [`Var::binary_cross_entropy_with_logits`] on raw scores: it is stable where
    /// `sigmoid` then this saturates.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; weight: broadcastable to it
    /// - result: `[]`, or the input's shape for [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, the weight does not broadcast, or an input lies outside
    /// `[0, 1]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let p = Var::parameter(Tensor::<f64>::full(&[2], 0.5));
    /// let t = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2])?);
    /// let loss = p.binary_cross_entropy(&t, None, Reduction::Mean)?;
    /// assert!((loss.item()? - 2f64.ln()).abs() < 1e-12);
    /// loss.backward()?;
    /// assert_eq!(p.grad().unwrap().to_vec(), vec![-1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn binary_cross_entropy(
        &self,
        target: &Var<T>,
        weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.binary_cross_entropy(&t, weight, reduction)?;
        let weight = weight.cloned();
        let w = weight.clone();
        pointwise_op(
            "binary_cross_entropy",
            value,
            self,
            target,
            move |g| binary_cross_entropy_backward(g, &x, &t, weight.as_ref(), reduction),
            move |x, t| {
                // −w·(t·log x + (1 − t)·log(1 − x)), each log clamped at −100 as PyTorch's.
                let floor = Some(T::of(-100.0));
                let log_x = x.log()?.clamp(floor, None)?;
                let log_rest = x.neg()?.add_scalar(T::one())?.log()?.clamp(floor, None)?;
                let rest = t.neg()?.add_scalar(T::one())?;
                let l = t.mul(&log_x)?.add(&rest.mul(&log_rest)?)?.neg()?;
                weighted(l, w.as_ref())
            },
            reduction.into(),
        )
    }

    /// Binary cross-entropy on logits, like `F.binary_cross_entropy_with_logits(input,
    /// target, weight=..., pos_weight=..., reduction=...)`:
    /// `-w · (pw · t · log σ(x) + (1 - t) · log σ(-x))`, computed stably (no overflow for
    /// large |x|). Input and target are differentiable; weight and pos_weight (broadcast to
    /// the input; pos_weight `[C]` along the last dim) are not.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; weight, pos_weight: broadcastable to it
    /// - result: `[]`, or the input's shape for [`Reduction::None`]
    ///
    /// # Errors
    /// When the shapes differ, or the weight or pos_weight does not broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[2]));
    /// let t = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2])?);
    /// let loss = x.binary_cross_entropy_with_logits(&t, None, None, Reduction::Sum)?;
    /// assert!((loss.item()? - 2.0 * 2f64.ln()).abs() < 1e-12);
    /// loss.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![-0.5, 0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn binary_cross_entropy_with_logits(
        &self,
        target: &Var<T>,
        weight: Option<&Tensor<T>>,
        pos_weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.binary_cross_entropy_with_logits(&t, weight, pos_weight, reduction)?;
        let (weight, pos_weight) = (weight.cloned(), pos_weight.cloned());
        let (w, pw) = (weight.clone(), pos_weight.clone());
        pointwise_op(
            "binary_cross_entropy_with_logits",
            value,
            self,
            target,
            move |g| {
                binary_cross_entropy_with_logits_backward(
                    g,
                    &x,
                    &t,
                    weight.as_ref(),
                    pos_weight.as_ref(),
                    reduction,
                )
            },
            move |x, t| {
                // −w·(pos_weight·t·log σ(x) + (1 − t)·log σ(−x)), log σ(x) = −softplus(−x).
                let (one, twenty) = (T::one(), T::of(20.0));
                let mut positive = t.mul(&x.neg()?.softplus(one, twenty)?)?;
                if let Some(pw) = &pw {
                    positive = positive.mul(&Var::new(pw.clone()))?;
                }
                let rest = t.neg()?.add_scalar(one)?;
                let l = positive.add(&rest.mul(&x.softplus(one, twenty)?)?)?;
                weighted(l, w.as_ref())
            },
            reduction.into(),
        )
    }

    /// Kullback-Leibler divergence, like `F.kl_div(input, target, reduction=...,
    /// log_target=...)`, `self` holding log-probabilities: `t · (log t - x)` (0 where
    /// `t = 0`), or `e^t · (t - x)` with `log_target`. Use [`KlDivReduction::BatchMean`]
    /// for the KL divergence per sample (PyTorch's default `"mean"` divides by the element
    /// count). Both arguments are differentiable.
    ///
    /// # Shapes
    /// - `self`, target: the same shape; result: `[]`, or the input's shape for
    ///   [`KlDivReduction::None`]
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{KlDivReduction, Tensor};
    /// let logq = Var::parameter(Tensor::<f64>::full(&[1, 2], 0.5f64.ln()));
    /// let p = Var::new(Tensor::<f64>::from_vec(vec![0.25, 0.75], &[1, 2])?);
    /// let loss = logq.kl_div(&p, KlDivReduction::BatchMean, false)?;
    /// let expected = 0.25 * (0.5f64).ln() + 0.75 * (1.5f64).ln();
    /// assert!((loss.item()? - expected).abs() < 1e-12);
    /// loss.backward()?;
    /// assert_eq!(logq.grad().unwrap().to_vec(), vec![-0.25, -0.75]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn kl_div(
        &self,
        target: &Var<T>,
        reduction: KlDivReduction,
        log_target: bool,
    ) -> Result<Var<T>> {
        let (x, t) = (self.value(), target.value());
        let value = x.kl_div(&t, reduction, log_target)?;
        pointwise_op(
            "kl_div",
            value,
            self,
            target,
            move |g| kl_div_backward(g, &x, &t, reduction, log_target),
            move |x, t| {
                if log_target {
                    return t.exp()?.mul(&t.sub(x)?);
                }
                // t·log t is 0 where t = 0 (PyTorch's xlogy): take the log of 1 there.
                let positive = t.value().gt_scalar(T::zero());
                let one = Var::new(Tensor::ones(&t.shape()));
                let safe = Var::where_cond(&positive, t, &one)?;
                t.mul(&safe.log()?)?.sub(&t.mul(x)?)
            },
            reduction,
        )
    }
}
