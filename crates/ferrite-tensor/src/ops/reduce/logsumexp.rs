//! [`Tensor::logsumexp`] and its backward [`logsumexp_backward`], fused: when the reduced
//! dims are adjacent (the common case, e.g. one dim), the input is seen as
//! `[outer, len, inner]` and each of the `outer · inner` results is computed from its own
//! `len` values in one kernel (maximum, shifted exponentials summed over lanes, logarithm),
//! in the element type with [`Float::exp_kernel`]. Blocks of a fixed size go to rayon's
//! threads, and each result depends on its own values only, so neither the number of
//! threads nor the batch around a row changes it. Other dims go through the composite ops.

use super::{reduced_shape, resolve_dims};
use crate::{Float, Result, Tensor, TensorError, buffer, lanes, parallel};

/// A contiguous input seen as `[outer, len, inner]`, `len` the reduced (adjacent) dims.
#[derive(Debug, Clone, Copy)]
struct Span {
    outer: usize,
    len: usize,
    inner: usize,
}

/// The span of the sorted, resolved `dims` of `shape`, when they are adjacent.
fn span(shape: &[usize], dims: &[usize]) -> Option<Span> {
    if dims.windows(2).any(|w| w[1] != w[0] + 1) {
        return None;
    }
    let a = dims.first().copied().unwrap_or(0);
    let b = dims.last().map_or(0, |&d| d + 1);
    Some(Span {
        outer: shape[..a].iter().product(),
        len: shape[a..b].iter().product(),
        inner: shape[b..].iter().product(),
    })
}

/// `shift + ln Σ e^(x - shift)` over a row, `shift` its maximum (0 where infinite).
fn row_lse<T: Float>(row: &[T]) -> T {
    let shift = lanes::stable_shift(lanes::max(row));
    lanes::sum_map(row, |x| (x - shift).exp_kernel()).ln() + shift
}

/// The log-sum-exp of each column of `block` (`len` rows of `out.len()` values) into `out`.
fn column_lse<T: Float>(block: &[T], out: &mut [T]) {
    let inner = out.len();
    out.fill(T::neg_infinity());
    for row in block.chunks_exact(inner) {
        for (m, &x) in out.iter_mut().zip(row) {
            if x > *m {
                *m = x;
            }
        }
    }
    let shift: Vec<T> = out.iter().map(|&m| lanes::stable_shift(m)).collect();
    out.fill(T::zero());
    for row in block.chunks_exact(inner) {
        for ((s, &x), &k) in out.iter_mut().zip(row).zip(&shift) {
            *s += (x - k).exp_kernel();
        }
    }
    for (o, k) in out.iter_mut().zip(shift) {
        *o = o.ln() + k;
    }
}

impl<T: Float> Tensor<T> {
    /// `log(sum(exp(x)))` over `dims` (empty: all dims), like `torch.logsumexp`, computed
    /// as `m + log(sum(exp(x - m)))` with `m` the maximum (0 where it is infinite), so large
    /// inputs do not overflow. Over zero elements the result is `-inf`.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f64>::from_vec(vec![1000.0, 1000.0, 0.0, 0.0], &[2, 2])?;
    /// let y = t.logsumexp(&[1], false)?.to_vec();
    /// assert!((y[0] - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// assert!((y[1] - 2f64.ln()).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let resolved = resolve_dims("logsumexp", dims, self.ndim())?;
        let shape = reduced_shape(self.shape(), &resolved, keepdim);
        let Some(Span { outer, len, inner }) = span(self.shape(), &resolved) else {
            return self.logsumexp_composite(dims, &resolved, &shape);
        };
        let xs = self.row_major();
        let mut out = buffer::for_overwrite(outer * inner);
        if inner == 1 {
            parallel::rows_mut(&mut out, 1, len, |o, v| {
                v[0] = row_lse(&xs[o * len..(o + 1) * len]);
            });
        } else {
            parallel::rows_mut(&mut out, inner, len * inner, |o, v| {
                column_lse(&xs[o * len * inner..(o + 1) * len * inner], v);
            });
        }
        Tensor::from_vec(out, &shape)
    }

    /// [`Tensor::logsumexp`] over dims that are not adjacent, in whole-tensor ops.
    fn logsumexp_composite(
        &self,
        dims: &[isize],
        resolved: &[usize],
        shape: &[usize],
    ) -> Result<Tensor<T>> {
        let kept = reduced_shape(self.shape(), resolved, true);
        let shift = if resolved.iter().any(|&d| self.shape()[d] == 0) {
            Tensor::zeros(&kept)
        } else {
            self.amax(dims, true)?.map(lanes::stable_shift)
        };
        let out = self.sub(&shift)?.exp().sum(dims, true)?.log().add(&shift)?;
        out.reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
    }
}

/// The gradient of [`Tensor::logsumexp`] over `dims` with respect to its input:
/// `grad_output · exp(input − result)` (the softmax over the reduced dims, scaled), fused
/// into one pass when the dims are adjacent.
///
/// # Shapes
/// - `input`: any; `dims`: as given to the forward
/// - `grad_output`, `result`: the forward's result, with or without the kept dims
/// - result: the input's shape
///
/// # Errors
/// When a dim is out of range or repeated, or `grad_output` or `result` does not have one
/// value per reduced lane.
///
/// ```
/// use ferrite_tensor::{logsumexp_backward, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.0, 0.0, 1.0, 1.0], &[2, 2])?;
/// let y = x.logsumexp(&[1], false)?;
/// let g = logsumexp_backward(&Tensor::from_vec(vec![1.0, 2.0], &[2])?, &x, &y, &[1])?;
/// let want = [0.5, 0.5, 1.0, 1.0];
/// assert!(g.to_vec().iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-15));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn logsumexp_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    result: &Tensor<T>,
    dims: &[isize],
) -> Result<Tensor<T>> {
    let resolved = resolve_dims("logsumexp_backward", dims, input.ndim())?;
    let kept = reduced_shape(input.shape(), &resolved, true);
    let lanes_count: usize = kept.iter().product();
    for (name, t) in [("grad_output", grad_output), ("result", result)] {
        if t.numel() != lanes_count {
            return Err(TensorError::shape(
                "logsumexp_backward",
                format!(
                    "{name} has shape {:?}, expected {lanes_count} values (shape {kept:?}) for an input of shape {:?} reduced over {dims:?}",
                    t.shape(),
                    input.shape()
                ),
            ));
        }
    }
    let Some(Span { len, inner, .. }) = span(input.shape(), &resolved) else {
        let kept: Vec<isize> = kept.iter().map(|&d| d as isize).collect();
        return input
            .sub(&result.reshape(&kept)?)?
            .exp()
            .mul(&grad_output.reshape(&kept)?);
    };
    let (xs, gs, ys) = (
        input.row_major(),
        grad_output.row_major(),
        result.row_major(),
    );
    let mut dx = buffer::for_overwrite(xs.len());
    if inner == 1 {
        parallel::rows_mut(&mut dx, len, len, |o, d| {
            let (g, y) = (gs[o], ys[o]);
            for (d, &x) in d.iter_mut().zip(&xs[o * len..(o + 1) * len]) {
                *d = (x - y).exp_kernel() * g;
            }
        });
    } else {
        // Rows of `inner` values: row `r` lies in block `r / len`.
        parallel::rows_mut(&mut dx, inner, inner, |r, d| {
            let o = r / len;
            let (g, y) = (&gs[o * inner..][..inner], &ys[o * inner..][..inner]);
            let x = &xs[r * inner..(r + 1) * inner];
            for (((d, &x), &g), &y) in d.iter_mut().zip(x).zip(g).zip(y) {
                *d = (x - y).exp_kernel() * g;
            }
        });
    }
    Tensor::from_vec(dx, input.shape())
}
