//! Loss functions, named and computed as in `torch.nn.functional`: [`cross_entropy`],
//! [`nll_loss`] and [`mse_loss`].
//!
//! Each loss is one fused op: the forward pass computes the loss directly (in `f64`
//! internally, whatever the element type) and the backward pass writes the gradient in
//! closed form, instead of recording a chain of small ops. For cross-entropy this is also
//! what keeps it numerically stable: the gradient `softmax(x) - target` never goes through
//! `exp(log(p))`. The kernels live in `ferrite_tensor` (`Tensor::cross_entropy`,
//! `cross_entropy_backward`, ...), the ops in `ferrite_autograd` ([`Var::cross_entropy`],
//! ...); these are their functional forms.
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
pub use ferrite_tensor::{CrossEntropyOptions, Reduction};
use ferrite_tensor::{Float, Result};

/// Cross-entropy between logits and class indices, like
/// `F.cross_entropy(input, target, reduction=..., label_smoothing=...)`: the functional
/// form of [`Var::cross_entropy`], which has the formulas.
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
    input.cross_entropy(target, options)
}

/// Negative log-likelihood of class indices given log-probabilities, like
/// `F.nll_loss(input, target, reduction=...)`: `loss_i = -input[i, target_i]`. The
/// functional form of [`Var::nll_loss`].
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
    input.nll_loss(target, reduction)
}

/// Mean squared error, like `F.mse_loss(input, target, reduction=...)`:
/// `(input - target)²` elementwise, reduced as `reduction` says; both arguments are
/// differentiable. The functional form of [`Var::mse_loss`].
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
    input.mse_loss(target, reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_tensor::{Tensor, seeded_rng};

    fn logits(n: usize, c: usize, seed: u64) -> Tensor<f64> {
        Tensor::randn(&[n, c], &mut seeded_rng(seed))
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
    fn nll_loss_errors() {
        let x = Var::new(Tensor::<f64>::zeros(&[3, 3]));
        let err = nll_loss(&x, &[0, 3, 0], Reduction::Mean).unwrap_err();
        assert_eq!(err.op(), "nll_loss");
        assert!(err.to_string().contains("target 3"), "{err}");
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
