//! The fused losses `cross_entropy`, `nll_loss` and `mse_loss`: forward and closed-form
//! backward by the `ferrite-tensor` kernels, one op each instead of a chain of small ops.

use ferrite_tensor::{
    CrossEntropyOptions, Float, Reduction, Result, cross_entropy_backward, mse_loss_backward,
    nll_loss_backward,
};

use crate::Var;

impl<T: Float> Var<T> {
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
    /// - `self`: `[N, C]` logits, or `[C]` for a single sample
    /// - target: `N` class indices in `0..C` (one for a `[C]` input)
    /// - result: `[]` for [`Reduction::Mean`] and [`Reduction::Sum`]; `[N]` for
    ///   [`Reduction::None`] (`[]` for a `[C]` input)
    ///
    /// # Errors
    /// When the input is not 2-D (or 1-D), the number of targets differs from `N`, a target
    /// is `>= C` (the message names the target, its sample and `C`), or the label smoothing
    /// is outside `[0, 1]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{CrossEntropyOptions, Tensor};
    /// let logits = Var::parameter(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[2, 3])?);
    /// let loss = logits.cross_entropy(&[0, 2], &CrossEntropyOptions::default())?;
    /// loss.backward()?;
    /// let expected = ((1.0 + 2.0 * (-2.0f64).exp()).ln() + 3f64.ln()) / 2.0;
    /// assert!((loss.item()? - expected).abs() < 1e-12);
    /// assert_eq!(logits.grad().unwrap().shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cross_entropy(&self, target: &[usize], options: &CrossEntropyOptions) -> Result<Var<T>> {
        let (value, softmax) = self.value().cross_entropy(target, options)?;
        let target = target.to_vec();
        let options = *options;
        Var::from_op("cross_entropy", value, &[self], move |g, grads| {
            grads.set(0, || cross_entropy_backward(g, &softmax, &target, &options))
        })
    }

    /// Negative log-likelihood of class indices given log-probabilities, like
    /// `F.nll_loss(input, target, reduction=...)`: `loss_i = -input[i, target_i]`.
    ///
    /// Feed it the output of [`Var::log_softmax`]; [`Var::cross_entropy`] does both in one op.
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
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Reduction, Tensor};
    /// let logp = Var::parameter(Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?);
    /// let loss = logp.nll_loss(&[0, 1], Reduction::Sum)?;
    /// assert!((loss.item()? - 0.6).abs() < 1e-12);
    /// loss.backward()?;
    /// assert_eq!(logp.grad().unwrap().to_vec(), vec![-1.0, 0.0, 0.0, -1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn nll_loss(&self, target: &[usize], reduction: Reduction) -> Result<Var<T>> {
        let x = self.value();
        let value = x.nll_loss(target, reduction)?;
        let shape = x.shape().to_vec();
        let target = target.to_vec();
        Var::from_op("nll_loss", value, &[self], move |g, grads| {
            grads.set(0, || nll_loss_backward(g, &shape, &target, reduction))
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
    }
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{Tensor, seeded_rng};

    use super::*;
    use crate::{GradcheckOptions, gradcheck};

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
                    |v: &[Var<f64>]| v[0].cross_entropy(&target, &opts),
                    &[logits(4, 5, 7)],
                    &GradcheckOptions::default().with_input_names(&["input"]),
                )
                .unwrap_or_else(|e| panic!("{reduction:?}, ε = {eps}: {e}"));
            }
        }
    }

    #[test]
    fn nll_loss_gradcheck() {
        let target = [1, 0, 2];
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            gradcheck(
                |v: &[Var<f64>]| v[0].nll_loss(&target, reduction),
                &[logits(3, 3, 5)],
                &GradcheckOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{reduction:?}: {e}"));
        }
    }

    #[test]
    fn mse_loss_gradcheck_both_inputs() {
        let a = logits(3, 4, 11);
        let b = logits(3, 4, 12);
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            gradcheck(
                |v: &[Var<f64>]| v[0].mse_loss(&v[1], reduction),
                &[a.clone(), b.clone()],
                &GradcheckOptions::default().with_input_names(&["input", "target"]),
            )
            .unwrap_or_else(|e| panic!("{reduction:?}: {e}"));
        }
    }
}
