//! `softmax` and `log_softmax` along a dim, numerically stable, with fused backward.

use ferrite_tensor::{Float, Result, Tensor, normalize_dim};

use crate::Var;
use crate::ops::double::recomputed;
use crate::ops::reduce::logsumexp_composite;

/// `log_softmax` of a tensor along `dim`: `x - max - log(sum(exp(x - max)))`. A 0-d
/// input is one distribution of one element (log-probability 0); an empty input gives an
/// empty result, as PyTorch.
fn log_softmax_tensor<T: Float>(x: &Tensor<T>, dim: isize) -> Result<Tensor<T>> {
    normalize_dim("log_softmax", dim, x.ndim())?;
    if x.numel() == 0 {
        return Ok(x.clone());
    }
    let max = x.amax(&[dim], true)?;
    // A row of -inf has max -inf; shift by 0 there so the result is -inf/NaN like PyTorch.
    let max = max.map(|m| if m.is_finite() { m } else { T::zero() });
    let shifted = x.sub(&max)?;
    let lse = shifted.exp().sum(&[dim], true)?.log();
    shifted.sub(&lse)
}

/// log_softmax in differentiable ops: `x − logsumexp(x)` (the recomputation the double
/// backwards of softmax and log_softmax differentiate).
fn log_softmax_composite<T: Float>(x: &Var<T>, dim: isize) -> Result<Var<T>> {
    if x.value().numel() == 0 {
        return Ok(x.clone());
    }
    let max = x.value().amax(&[dim], true)?;
    x.sub(&logsumexp_composite(x, &max, &[dim])?)
}

impl<T: Float> Var<T> {
    /// `log(softmax(x))` along `dim`, computed stably, like `F.log_softmax(x, dim)`.
    /// Backward: `g - softmax(x) * sum(g, dim)`.
    ///
    /// # Errors
    /// When `dim` is out of range (a 0-d input accepts 0 and -1; an empty one gives an
    /// empty result).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f64>::from_vec(vec![1000.0, 1000.0], &[1, 2])?);
    /// let y = x.log_softmax(1)?;
    /// assert!((y.value().to_vec()[0] - (0.5f64).ln()).abs() < 1e-12); // no overflow
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn log_softmax(&self, dim: isize) -> Result<Var<T>> {
        let x = self.value();
        normalize_dim("log_softmax", dim, x.ndim())?;
        let y = log_softmax_tensor(&x, dim)?;
        let saved = y.clone();
        Var::from_op("log_softmax", y, &[self], move |g, grads| {
            let sum = g.sum(&[dim], true)?;
            grads.set(0, || g.sub(&saved.exp().mul(&sum)?))
        })
        .map(|y| y.with_double_backward(recomputed(move |v| log_softmax_composite(&v[0], dim))))
    }

    /// `exp(x) / sum(exp(x))` along `dim`, computed stably, like `F.softmax(x, dim)`.
    /// Backward: `y * (g - sum(g * y, dim))`.
    ///
    /// # Errors
    /// When `dim` is out of range (a 0-d input accepts 0 and -1; an empty one gives an
    /// empty result).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f64>::zeros(&[2, 4]));
    /// assert_eq!(x.softmax(-1)?.value().to_vec(), vec![0.25; 8]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn softmax(&self, dim: isize) -> Result<Var<T>> {
        let x = self.value();
        normalize_dim("softmax", dim, x.ndim())?;
        let y = log_softmax_tensor(&x, dim)?.exp();
        let saved = y.clone();
        Var::from_op("softmax", y, &[self], move |g, grads| {
            let dot = g.mul(&saved)?.sum(&[dim], true)?;
            grads.set(0, || saved.mul(&g.sub(&dot)?))
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                log_softmax_composite(&v[0], dim)?.exp()
            }))
        })
    }
}
