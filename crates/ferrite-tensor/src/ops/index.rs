//! Indexing with an [`Indices`] tensor: `gather` and `index_select`, and their backward
//! kernels (which scatter-add the gradient back, so repeated indices accumulate).

use crate::{Float, Indices, Result, Tensor, TensorError, buffer, normalize_dim};

/// PyTorch checks gather's shapes as if a 0-d tensor had shape `[1]`.
fn at_least_1d(shape: &[usize]) -> Vec<usize> {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    }
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut out = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        out[i] = out[i + 1] * shape[i + 1];
    }
    out
}

/// A checked `gather(dim, index)` of an input of `input_shape`: the index values (each in
/// range) and, for every index element in row-major order, where its source lies.
struct GatherPlan {
    dim: usize,
    input: Vec<usize>,
    index_shape: Vec<usize>,
    values: Vec<usize>,
}

impl GatherPlan {
    fn new(op: &'static str, input_shape: &[usize], dim: isize, index: &Indices) -> Result<Self> {
        let dim = normalize_dim(op, dim, input_shape.len())?;
        let (input, index_shape) = (at_least_1d(input_shape), at_least_1d(index.shape()));
        // As PyTorch: an empty index gives an empty result without further checks.
        if index.numel() > 0 {
            if index_shape.len() != input.len() {
                return Err(TensorError::shape(
                    op,
                    format!(
                        "index must have as many dimensions as the input, found index {:?} and input {input_shape:?}",
                        index.shape()
                    ),
                ));
            }
            if let Some(i) = (0..input.len()).find(|&i| i != dim && index_shape[i] > input[i]) {
                return Err(TensorError::shape(
                    op,
                    format!(
                        "index {:?} is larger than input {input_shape:?} at dimension {i} (only dimension {dim} may be larger)",
                        index.shape()
                    ),
                ));
            }
        }
        let values = index.to_checked_vec(op, input[dim])?;
        Ok(GatherPlan {
            dim,
            input,
            index_shape,
            values,
        })
    }

    /// Calls `f(k, offset)` for every index element `k` (row-major) with the row-major
    /// offset in the input of the element it selects. An odometer over the index's leading
    /// dims keeps the offset up to date, so the inner loop is one multiply-add.
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        if self.values.is_empty() {
            return;
        }
        let (shape, d) = (&self.index_shape, self.dim);
        let stride = strides(&self.input);
        let last = shape.len() - 1;
        let inner = shape[last];
        let step = if last == d { 0 } else { stride[last] };
        let mut coord = vec![0usize; last];
        let mut base = 0usize;
        for (r, row) in self.values.chunks_exact(inner).enumerate() {
            let k0 = r * inner;
            for (j, &v) in row.iter().enumerate() {
                f(k0 + j, base + j * step + v * stride[d]);
            }
            for i in (0..last).rev() {
                coord[i] += 1;
                let s = if i == d { 0 } else { stride[i] };
                base += s;
                if coord[i] < shape[i] {
                    break;
                }
                base -= shape[i] * s;
                coord[i] = 0;
            }
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Values along `dim` picked by `index`, like `torch.gather(input, dim, index)`: for
    /// `dim = 0`, `out[i][j][k] = input[index[i][j][k]][j][k]`. The result has the index's
    /// shape; the index has the input's rank and is no larger in the other dims (it may be
    /// larger along `dim`).
    ///
    /// # Errors
    /// When `dim` is out of range, the ranks differ, the index is larger than the input in
    /// another dim, or an index is outside `0..input.shape()[dim]` (negative ones too).
    ///
    /// ```
    /// use ferrite_tensor::{Indices, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let index = Indices::from_vec(vec![0, 0, 1, 0], &[2, 2])?;
    /// assert_eq!(x.gather(1, &index)?.to_vec(), vec![1.0, 1.0, 4.0, 3.0]);
    /// assert!(x.gather(1, &Indices::from_vec(vec![2, 0, 0, 0], &[2, 2])?).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gather(&self, dim: isize, index: &Indices) -> Result<Tensor<T>> {
        let plan = GatherPlan::new("gather", self.shape(), dim, index)?;
        let data = self.row_major();
        let mut out = buffer::for_overwrite(index.numel());
        plan.for_each(|k, offset| out[k] = data[offset]);
        Tensor::from_vec(out, index.shape())
    }

    /// The slices of `dim` listed in `index`, like `torch.index_select(input, dim, index)`:
    /// the result has the input's shape with `dim` resized to the number of indices. The
    /// index is 1-D or 0-d; a 0-d input takes exactly one index, 0, and gives a 0-d result.
    ///
    /// # Errors
    /// When `dim` is out of range, the index has more than one dimension, or an index is
    /// outside `0..input.shape()[dim]`.
    ///
    /// ```
    /// use ferrite_tensor::{Indices, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
    /// let rows = x.index_select(0, &Indices::from_classes(&[2, 0, 2]))?;
    /// assert_eq!(rows.shape(), &[3, 2]);
    /// assert_eq!(rows.to_vec(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn index_select(&self, dim: isize, index: &Indices) -> Result<Tensor<T>> {
        let plan = SelectPlan::new(self.shape(), dim, index)?;
        let data = self.row_major();
        let mut out = buffer::for_overwrite(plan.out_shape.iter().product());
        let inner = plan.inner;
        for (o, chunk) in out
            .chunks_exact_mut((plan.values.len() * inner).max(1))
            .enumerate()
        {
            let src = &data[o * plan.len * inner..];
            for (dst, &i) in chunk.chunks_exact_mut(inner.max(1)).zip(&plan.values) {
                dst.copy_from_slice(&src[i * inner..(i + 1) * inner]);
            }
        }
        Tensor::from_vec(out, &plan.out_shape)
    }
}

/// A checked `index_select(dim, index)`: the input seen as `[outer, len, inner]` around
/// `dim`, the index values and the result's shape.
struct SelectPlan {
    len: usize,
    inner: usize,
    values: Vec<usize>,
    out_shape: Vec<usize>,
}

impl SelectPlan {
    fn new(input_shape: &[usize], dim: isize, index: &Indices) -> Result<Self> {
        let op = "index_select";
        let d = normalize_dim(op, dim, input_shape.len())?;
        if index.ndim() > 1 {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 1-D or 0-d index, found shape {:?}",
                    index.shape()
                ),
            ));
        }
        if input_shape.is_empty() {
            if index.numel() != 1 {
                return Err(TensorError::shape(
                    op,
                    format!(
                        "a 0-d input takes exactly one index, found {}",
                        index.numel()
                    ),
                ));
            }
            let values = index.to_checked_vec(op, 1)?;
            return Ok(SelectPlan {
                len: 1,
                inner: 1,
                values,
                out_shape: Vec::new(),
            });
        }
        let len = input_shape[d];
        let values = index.to_checked_vec(op, len)?;
        let mut out_shape = input_shape.to_vec();
        out_shape[d] = values.len();
        Ok(SelectPlan {
            len,
            inner: input_shape[d + 1..].iter().product(),
            values,
            out_shape,
        })
    }
}

/// Checks that `grad_output` has the shape `expected` (the forward result's).
fn check_grad(op: &'static str, grad_output: &[usize], expected: &[usize]) -> Result<()> {
    if grad_output != expected {
        return Err(TensorError::shape(
            op,
            format!("expected grad_output of shape {expected:?}, found {grad_output:?}"),
        ));
    }
    Ok(())
}

/// The gradient of [`Tensor::gather`] with respect to its input (of shape `input_shape`):
/// every `grad_output` element is added at the position it was gathered from, so an
/// element gathered several times receives the sum of their gradients.
///
/// # Errors
/// When the arguments are not those of a valid `gather`, or `grad_output` does not have the
/// index's shape.
///
/// ```
/// use ferrite_tensor::{Indices, Tensor, gather_backward};
/// let index = Indices::from_vec(vec![1, 1, 0], &[3])?;
/// let g = Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0], &[3])?;
/// assert_eq!(gather_backward(&g, &index, 0, &[2])?.to_vec(), vec![4.0, 3.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn gather_backward<T: Float>(
    grad_output: &Tensor<T>,
    index: &Indices,
    dim: isize,
    input_shape: &[usize],
) -> Result<Tensor<T>> {
    let op = "gather_backward";
    let plan = GatherPlan::new(op, input_shape, dim, index)?;
    check_grad(op, grad_output.shape(), index.shape())?;
    let g = grad_output.row_major();
    let mut out = buffer::zeros(crate::checked_numel(op, input_shape)?);
    plan.for_each(|k, offset| out[offset] += g[k]);
    Tensor::from_vec(out, input_shape)
}

/// The gradient of [`Tensor::index_select`] with respect to its input (of shape
/// `input_shape`): each selected slice of `grad_output` is added back to the slice it came
/// from, so repeated indices accumulate.
///
/// # Errors
/// When the arguments are not those of a valid `index_select`, or `grad_output` does not
/// have the result's shape.
///
/// ```
/// use ferrite_tensor::{Indices, Tensor, index_select_backward};
/// let g = Tensor::<f64>::ones(&[2, 3]);
/// let grad = index_select_backward(&g, &Indices::from_classes(&[1, 1, 0]), 1, &[2, 2])?;
/// assert_eq!(grad.to_vec(), vec![1.0, 2.0, 1.0, 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn index_select_backward<T: Float>(
    grad_output: &Tensor<T>,
    index: &Indices,
    dim: isize,
    input_shape: &[usize],
) -> Result<Tensor<T>> {
    let op = "index_select_backward";
    let plan = SelectPlan::new(input_shape, dim, index)?;
    check_grad(op, grad_output.shape(), &plan.out_shape)?;
    let g = grad_output.row_major();
    let inner = plan.inner;
    let mut out = buffer::zeros(crate::checked_numel(op, input_shape)?);
    let per_outer = (plan.values.len() * inner).max(1);
    for (o, chunk) in g.chunks_exact(per_outer).enumerate() {
        let dst = &mut out[o * plan.len * inner..];
        for (src, &i) in chunk.chunks_exact(inner.max(1)).zip(&plan.values) {
            for (d, &s) in dst[i * inner..(i + 1) * inner].iter_mut().zip(src) {
                *d += s;
            }
        }
    }
    Tensor::from_vec(out, input_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_walks_every_dim_with_an_index_larger_along_dim() {
        // [2, 3] input, dim 0, index [3, 2]: larger along dim 0, smaller along dim 1.
        let x = Tensor::<f64>::from_vec((0..6).map(f64::from).collect(), &[2, 3]).unwrap();
        let index = Indices::from_vec(vec![1, 0, 0, 1, 1, 1], &[3, 2]).unwrap();
        let y = x.gather(0, &index).unwrap();
        assert_eq!(y.to_vec(), vec![3.0, 1.0, 0.0, 4.0, 3.0, 4.0]);
        let g = gather_backward(&Tensor::<f64>::ones(&[3, 2]), &index, 0, &[2, 3]).unwrap();
        assert_eq!(g.to_vec(), vec![1.0, 1.0, 0.0, 2.0, 2.0, 0.0]);
    }

    #[test]
    fn gather_of_three_dims_along_the_middle_one() {
        let x = Tensor::<f64>::from_vec((0..24).map(f64::from).collect(), &[2, 3, 4]).unwrap();
        let index = Indices::from_vec(vec![2, 0, 1, 2, 0, 0, 1, 1], &[2, 2, 2]).unwrap();
        let y = x.gather(1, &index).unwrap();
        // out[i][j][k] = x[i][index[i][j][k]][k] = 12 i + 4 index + k.
        assert_eq!(y.to_vec(), vec![8.0, 1.0, 4.0, 9.0, 12.0, 13.0, 16.0, 17.0]);
    }

    #[test]
    fn empty_and_scalar_indices() {
        let x = Tensor::<f32>::ones(&[2, 3]);
        // An empty index gives an empty result without shape checks, as PyTorch.
        let e = Indices::from_vec(vec![], &[0]).unwrap();
        assert_eq!(x.gather(1, &e).unwrap().shape(), &[0]);
        let s = Tensor::<f32>::scalar(5.0);
        assert_eq!(
            s.gather(0, &Indices::scalar(0)).unwrap().to_vec(),
            vec![5.0]
        );
        assert_eq!(
            s.index_select(-1, &Indices::from_classes(&[0]))
                .unwrap()
                .shape(),
            &[] as &[usize]
        );
        assert!(s.index_select(0, &Indices::from_classes(&[0, 0])).is_err());
        assert!(s.index_select(0, &Indices::scalar(1)).is_err());
        assert_eq!(
            x.index_select(1, &Indices::scalar(2)).unwrap().shape(),
            &[2, 1]
        );
    }

    #[test]
    fn backward_checks_the_gradient_shape() {
        let index = Indices::from_classes(&[0, 1]);
        let e = gather_backward(&Tensor::<f32>::ones(&[3]), &index, 0, &[2]).unwrap_err();
        assert!(e.to_string().contains("gather_backward"), "{e}");
        let e = index_select_backward(&Tensor::<f32>::ones(&[3]), &index, 0, &[2]).unwrap_err();
        assert!(e.to_string().contains("grad_output"), "{e}");
    }
}
