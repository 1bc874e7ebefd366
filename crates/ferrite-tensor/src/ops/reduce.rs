//! Reductions over dimensions: `sum`, `mean`, `max`, `argmax`.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::{Float, Indices, Result, Tensor, TensorError, normalize_dim};

/// Resolves a list of (possibly negative) dims; an empty list means every dim.
/// Returns the dims sorted ascending, refusing duplicates.
pub(crate) fn resolve_dims(op: &'static str, dims: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..ndim).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(op, d, ndim)?;
        if out.contains(&d) {
            return Err(TensorError::invalid(
                op,
                format!("dimension {d} appears more than once in {dims:?}"),
            ));
        }
        out.push(d);
    }
    out.sort_unstable();
    // A 0-d tensor accepts dim 0 / -1 like PyTorch, but has no axis to reduce.
    out.retain(|&d| d < ndim);
    Ok(out)
}

/// The shape after reducing `dims` of `shape`.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (i, &s) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

impl<T: Float> Tensor<T> {
    /// Sum over `dims` (empty: all dims), keeping them as size 1 when `keepdim`.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.sum(&[0], false)?.to_vec(), vec![4.0, 6.0]);
    /// assert_eq!(t.sum(&[-1], true)?.shape(), &[2, 1]);
    /// assert_eq!(t.sum(&[], false)?.item()?, 10.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let dims = resolve_dims("sum", dims, self.ndim())?;
        // The first reduction reads the tensor in place (no copy).
        let mut a: Option<ArrayD<T>> = None;
        for &d in dims.iter().rev() {
            a = Some(match a {
                None => self.as_array().sum_axis(Axis(d)),
                Some(a) => a.sum_axis(Axis(d)),
            });
        }
        let a = a.unwrap_or_else(|| self.arc().to_owned());
        let shape = reduced_shape(self.shape(), &dims, keepdim);
        Ok(Tensor::from_array(
            a.into_shape_with_order(IxDyn(&shape))
                .expect("same number of elements"),
        ))
    }

    /// Sum of all elements as a 0-d tensor.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2, 3]).sum_all().item()?, 6.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum_all(&self) -> Tensor<T> {
        Tensor::scalar(self.arc().sum())
    }

    /// Mean over `dims` (empty: all dims). The mean of zero elements is NaN, as in PyTorch.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.mean(&[1], false)?.to_vec(), vec![1.5, 3.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let resolved = resolve_dims("mean", dims, self.ndim())?;
        let count: usize = resolved.iter().map(|&d| self.shape()[d]).product();
        Ok(self.sum(dims, keepdim)?.div_scalar(T::of(count as f64)))
    }

    /// Maximum over `dims` (empty: all dims). NaN propagates, as in PyTorch.
    ///
    /// # Errors
    /// When a dim is out of range or repeated, or a reduced dim has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.max(&[1], false)?.to_vec(), vec![5.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let dims = resolve_dims("max", dims, self.ndim())?;
        if dims.iter().any(|&d| self.shape()[d] == 0) {
            return Err(TensorError::invalid(
                "max",
                format!(
                    "cannot take the maximum over an empty dimension of shape {:?}",
                    self.shape()
                ),
            ));
        }
        let mut a: ArrayD<T> = self.arc().to_owned();
        for &d in dims.iter().rev() {
            a = a.fold_axis(Axis(d), T::neg_infinity(), |&m, &x| {
                if m.is_nan() || x.is_nan() {
                    T::nan()
                } else if x > m {
                    x
                } else {
                    m
                }
            });
        }
        let shape = reduced_shape(self.shape(), &dims, keepdim);
        if self.numel() == 0 {
            return Ok(Tensor::zeros(&shape));
        }
        Ok(Tensor::from_array(
            a.into_shape_with_order(IxDyn(&shape))
                .expect("same number of elements"),
        ))
    }

    /// Index of the maximum along `dim` (the first one on ties), like `torch.argmax`.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0, 0.0, 4.0], &[2, 3])?;
    /// assert_eq!(t.argmax(1, false)?.to_vec(), vec![1, 0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Indices> {
        let d = normalize_dim("argmax", dim, self.ndim())?;
        if self.ndim() == 0 {
            return Ok(Indices::scalar(0));
        }
        if self.shape()[d] == 0 {
            return Err(TensorError::invalid(
                "argmax",
                format!("dimension {dim} of shape {:?} is empty", self.shape()),
            ));
        }
        let out = self.arc().map_axis(Axis(d), |lane| {
            let mut best = 0;
            let mut best_v = lane[0];
            for (i, &v) in lane.iter().enumerate().skip(1) {
                if !best_v.is_nan() && (v > best_v || v.is_nan()) {
                    best = i;
                    best_v = v;
                }
            }
            best as i64
        });
        let shape = reduced_shape(self.shape(), &[d], keepdim);
        Ok(Indices::from_array(
            out.into_shape_with_order(IxDyn(&shape))
                .expect("same number of elements"),
        ))
    }
}
