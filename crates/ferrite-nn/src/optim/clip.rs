//! Gradient clipping (`torch.nn.utils.clip_grad_norm_`).

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, TensorError};

/// Scales the gradients of `params` together so that their total L2 norm is at most
/// `max_norm`, and returns the total norm before clipping, like
/// `torch.nn.utils.clip_grad_norm_(params, max_norm)`.
///
/// As in PyTorch: the norm of each gradient is taken, then the norm of those norms
/// (parameters without a gradient are ignored; with no gradient at all the result is 0);
/// the clip coefficient is `max_norm / (total_norm + 1e-6)`, and the gradients are multiplied
/// by it only when it is below 1. The norms are computed in `f64` whatever `T` is; the
/// coefficient is rounded to `T` before scaling.
///
/// A non-finite total norm (a NaN or an infinite gradient) is an error and leaves the
/// gradients unchanged: this is PyTorch's `error_if_nonfinite=True`. PyTorch's default
/// (`False`) would multiply every gradient by `max_norm / inf = 0` or by NaN, silently wiping
/// or poisoning the update; refusing is the safer choice, and the caller can skip the step.
///
/// # Errors
/// When `max_norm` is negative or NaN, and when the total norm is not finite (the message
/// gives the norm and the first parameter whose gradient holds a non-finite value).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::clip_grad_norm;
/// use ferrite_tensor::Tensor;
///
/// let a = Var::parameter(Tensor::<f64>::zeros(&[2]));
/// let b = Var::parameter(Tensor::<f64>::zeros(&[1]));
/// a.set_grad(Some(Tensor::from_vec(vec![3.0, 0.0], &[2])?))?;
/// b.set_grad(Some(Tensor::from_vec(vec![4.0], &[1])?))?;
/// let total = clip_grad_norm(&[a.clone(), b.clone()], 1.0)?;
/// assert_eq!(total, 5.0);
/// let g = a.grad().unwrap().to_vec();
/// assert!((g[0] - 0.6).abs() < 1e-6); // 3 / 5, up to the 1e-6 in the coefficient
///
/// b.set_grad(Some(Tensor::full(&[1], f64::NAN)))?;
/// assert!(clip_grad_norm(&[a, b], 1.0).unwrap_err().to_string().contains("non-finite"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn clip_grad_norm<T: Float>(params: &[Var<T>], max_norm: f64) -> Result<f64> {
    const OP: &str = "clip_grad_norm";
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(TensorError::invalid(
            OP,
            format!("max_norm must be non-negative, found {max_norm}"),
        ));
    }
    let grads: Vec<_> = params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.grad().map(|g| (i, p, g)))
        .collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let norms: Vec<f64> = grads
        .iter()
        .map(|(_, _, g)| {
            g.to_vec()
                .iter()
                .map(|&x| {
                    let x = x.as_f64();
                    x * x
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let total_norm = norms.iter().map(|n| n * n).sum::<f64>().sqrt();
    if !total_norm.is_finite() {
        let culprit = grads
            .iter()
            .find(|(_, _, g)| !g.all_finite())
            .map(|(i, p, _)| {
                format!(
                    "; parameter {i} (shape {:?}) has a non-finite gradient",
                    p.shape()
                )
            })
            .unwrap_or_else(|| "; the sum of squares overflowed".to_string());
        return Err(TensorError::invalid(
            OP,
            format!(
                "the total L2 norm of the gradients is non-finite ({total_norm}), so they cannot be clipped{culprit}"
            ),
        ));
    }
    let clip_coef = max_norm / (total_norm + 1e-6);
    if clip_coef < 1.0 {
        let coef = T::of(clip_coef);
        for (_, p, g) in &grads {
            p.set_grad(Some(g.mul_scalar(coef)))?;
        }
    }
    Ok(total_norm)
}
