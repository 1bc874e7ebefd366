//! Reductions: `sum`, `sum_all`, `mean`, `max`, each with its backward.

use ferrite_tensor::{Float, Result, Tensor, normalize_dim};

use crate::Var;

/// The reduced dims of `shape` (empty list: all), ascending.
fn reduced_dims(op: &'static str, dims: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if dims.is_empty() || ndim == 0 {
        for &d in dims {
            normalize_dim(op, d, ndim)?;
        }
        return Ok((0..ndim).collect());
    }
    let mut out = dims
        .iter()
        .map(|&d| normalize_dim(op, d, ndim))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The shape of a reduction's result with the reduced dims kept as 1.
fn keepdim_shape(shape: &[usize], dims: &[usize]) -> Vec<isize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &s)| if dims.contains(&i) { 1 } else { s as isize })
        .collect()
}

impl<T: Float> Var<T> {
    /// Sum over `dims` (empty: all dims), like `torch.sum(x, dims, keepdim)`.
    /// Backward: the gradient broadcast back over the reduced dims.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// let s = x.sum(&[1], false)?;
    /// assert_eq!(s.value().to_vec(), vec![3.0, 3.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.sum(dims, keepdim)?;
        let shape = x.shape().to_vec();
        let kept = keepdim_shape(&shape, &reduced_dims("sum", dims, shape.len())?);
        let (kept2, shape2) = (kept.clone(), shape.clone());
        Var::from_op("sum", value, &[self], move |g, grads| {
            grads.set(0, || g.reshape(&kept)?.broadcast_to(&shape))
        })
        .map(|y| {
            y.with_double_backward(move |g, _, grads| {
                grads.set(0, || g.reshape(&kept2)?.broadcast_to(&shape2))
            })
        })
    }

    /// Sum of all elements, as a 0-d result (shape `[]`).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// assert_eq!(x.sum_all()?.item()?, 6.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum_all(&self) -> Result<Var<T>> {
        self.sum(&[], false)
    }

    /// Mean over `dims` (empty: all dims), like `torch.mean(x, dims, keepdim)`.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 2]));
    /// x.mean(&[], false)?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.mean(dims, keepdim)?;
        let shape = x.shape().to_vec();
        let reduced = reduced_dims("mean", dims, shape.len())?;
        let count: usize = reduced.iter().map(|&d| shape[d]).product();
        let kept = keepdim_shape(&shape, &reduced);
        let (kept2, shape2) = (kept.clone(), shape.clone());
        Var::from_op("mean", value, &[self], move |g, grads| {
            grads.set(0, || {
                Ok(g.reshape(&kept)?
                    .broadcast_to(&shape)?
                    .div_scalar(T::of(count as f64)))
            })
        })
        .map(|y| {
            y.with_double_backward(move |g, _, grads| {
                grads.set(0, || {
                    g.reshape(&kept2)?
                        .broadcast_to(&shape2)?
                        .div_scalar(T::of(count as f64))
                })
            })
        })
    }

    /// Maximum over `dims` (empty: all dims), like `torch.amax(x, dims, keepdim)`.
    /// Backward: the gradient is shared equally among the elements that tie for the maximum.
    ///
    /// # Errors
    /// When a dim is out of range or repeated, or a reduced dim is empty.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0, 0.0], &[4])?);
    /// x.max(&[0], false)?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.5, 0.5, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.max(dims, keepdim)?;
        let shape = x.shape().to_vec();
        let kept = keepdim_shape(&shape, &reduced_dims("max", dims, shape.len())?);
        let m = value.reshape(&kept)?;
        let dims = dims.to_vec();
        Var::from_op("max", value, &[self], move |g, grads| {
            let mask: Tensor<T> = x.zip_with("max_backward", &m, |v, m| {
                if v == m || (v.is_nan() && m.is_nan()) {
                    T::one()
                } else {
                    T::zero()
                }
            })?;
            let count = mask.sum(&dims, true)?;
            let share = g.reshape(&kept)?.div(&count)?;
            grads.set(0, || mask.mul(&share))
        })
    }
}
