//! Reductions over dimensions: `sum`, `mean`, `amax`/`amin`, `max`/`min` with their indices,
//! `argmax`/`argmin`, `logsumexp`, `var` and `std`.

use ndarray::{ArrayD, Axis, IxDyn};

mod logsumexp;
pub use logsumexp::logsumexp_backward;

use crate::{Float, Indices, Result, Tensor, TensorError, buffer, normalize_dim};

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

    /// Maximum over `dims` (empty: all dims), like `torch.amax`. NaN propagates.
    ///
    /// # Errors
    /// When a dim is out of range or repeated, or a reduced dim has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.amax(&[1], false)?.to_vec(), vec![5.0, 4.0]);
    /// assert_eq!(t.amax(&[], false)?.item()?, 5.0);
    /// assert!(Tensor::<f32>::zeros(&[2, 0]).amax(&[1], false).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        self.extreme("amax", dims, keepdim, T::neg_infinity(), |x, best| x > best)
    }

    /// Minimum over `dims` (empty: all dims), like `torch.amin`. NaN propagates.
    ///
    /// # Errors
    /// When a dim is out of range or repeated, or a reduced dim has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.amin(&[0], true)?.to_vec(), vec![1.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        self.extreme("amin", dims, keepdim, T::infinity(), |x, best| x < best)
    }

    /// `amax`/`amin`: folds every reduced dim, `better(x, best)` saying whether `x`
    /// replaces the best so far; a NaN always wins and is never replaced, so it propagates.
    fn extreme(
        &self,
        op: &'static str,
        dims: &[isize],
        keepdim: bool,
        init: T,
        better: impl Fn(T, T) -> bool,
    ) -> Result<Tensor<T>> {
        let dims = resolve_dims(op, dims, self.ndim())?;
        if let Some(&d) = dims.iter().find(|&&d| self.shape()[d] == 0) {
            return Err(TensorError::invalid(
                op,
                format!(
                    "cannot reduce over dimension {d} of size 0 (shape {:?}): the result would have no value",
                    self.shape()
                ),
            ));
        }
        let fold = |&best: &T, &x: &T| {
            if !best.is_nan() && (x.is_nan() || better(x, best)) {
                x
            } else {
                best
            }
        };
        let mut a: Option<ArrayD<T>> = None;
        for &d in dims.iter().rev() {
            a = Some(match a {
                None => self.as_array().fold_axis(Axis(d), init, fold),
                Some(a) => a.fold_axis(Axis(d), init, fold),
            });
        }
        let a = a.unwrap_or_else(|| self.arc().to_owned());
        let shape = reduced_shape(self.shape(), &dims, keepdim);
        Ok(Tensor::from_array(
            a.into_shape_with_order(IxDyn(&shape))
                .expect("same number of elements"),
        ))
    }

    /// The maximum along `dim` and its index, like `torch.max(x, dim, keepdim)`: the first
    /// maximum on ties; a NaN is the maximum (its first occurrence).
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 5.0, 4.0, 0.0, 2.0], &[2, 3])?;
    /// let (values, indices) = t.max(1, false)?;
    /// assert_eq!(values.to_vec(), vec![5.0, 4.0]);
    /// assert_eq!(indices.to_vec(), vec![1, 0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max(&self, dim: isize, keepdim: bool) -> Result<(Tensor<T>, Indices)> {
        self.select_along("max", dim, keepdim, |x, best| x > best)
    }

    /// The minimum along `dim` and its index, like `torch.min(x, dim, keepdim)`: the first
    /// minimum on ties; a NaN is the minimum (its first occurrence).
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0, 0.0, 0.0], &[2, 3])?;
    /// let (values, indices) = t.min(-1, true)?;
    /// assert_eq!(values.shape(), &[2, 1]);
    /// assert_eq!(values.to_vec(), vec![1.0, 0.0]);
    /// assert_eq!(indices.to_vec(), vec![0, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn min(&self, dim: isize, keepdim: bool) -> Result<(Tensor<T>, Indices)> {
        self.select_along("min", dim, keepdim, |x, best| x < best)
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
        Ok(self
            .select_along("argmax", dim, keepdim, |x, best| x > best)?
            .1)
    }

    /// Index of the minimum along `dim` (the first one on ties), like `torch.argmin`.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0, 0.0, 0.0], &[2, 3])?;
    /// assert_eq!(t.argmin(1, false)?.to_vec(), vec![0, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Indices> {
        Ok(self
            .select_along("argmin", dim, keepdim, |x, best| x < best)?
            .1)
    }

    /// The best element of every lane along `dim` and its index: `better(x, best)` says
    /// whether `x` replaces the best so far; a NaN always wins and is never replaced.
    /// Lanes are walked as whole rows of the contiguous `[outer, len, inner]` view, so the
    /// inner loop reads memory in order.
    fn select_along(
        &self,
        op: &'static str,
        dim: isize,
        keepdim: bool,
        better: impl Fn(T, T) -> bool,
    ) -> Result<(Tensor<T>, Indices)> {
        let d = normalize_dim(op, dim, self.ndim())?;
        if self.ndim() == 0 {
            return Ok((self.clone(), Indices::scalar(0)));
        }
        let shape = self.shape();
        if shape[d] == 0 {
            return Err(TensorError::invalid(
                op,
                format!("dimension {dim} of shape {shape:?} is empty"),
            ));
        }
        let (outer, len) = (shape[..d].iter().product::<usize>(), shape[d]);
        let inner = shape[d + 1..].iter().product::<usize>();
        let data = self.row_major();
        let mut values = buffer::for_overwrite(outer * inner);
        let mut indices = vec![0i64; outer * inner];
        for o in 0..outer {
            let lane = &data[o * len * inner..(o + 1) * len * inner];
            let best = &mut values[o * inner..(o + 1) * inner];
            let at = &mut indices[o * inner..(o + 1) * inner];
            best.copy_from_slice(&lane[..inner]);
            for (l, row) in lane.chunks_exact(inner.max(1)).enumerate().skip(1) {
                for ((b, i), &x) in best.iter_mut().zip(at.iter_mut()).zip(row) {
                    if !b.is_nan() && (x.is_nan() || better(x, *b)) {
                        *b = x;
                        *i = l as i64;
                    }
                }
            }
        }
        let out_shape = reduced_shape(shape, &[d], keepdim);
        Ok((
            Tensor::from_vec(values, &out_shape)?,
            Indices::from_vec(indices, &out_shape)?,
        ))
    }

    /// Variance over `dims` (empty: all dims), like `torch.var(x, dims, correction=,
    /// keepdim=)`: `sum((x - mean)^2) / max(N - correction, 0)` with `N` the number of
    /// reduced elements (`correction` 1 is the unbiased estimate, 0 the biased one; any
    /// number is accepted, as PyTorch).
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4])?;
    /// assert_eq!(t.var(&[], 1.0, false)?.item()?, 5.0 / 3.0);
    /// assert_eq!(t.var(&[0], 0.0, true)?.to_vec(), vec![1.25]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn var(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor<T>> {
        self.variance("var", dims, correction, keepdim)
    }

    /// `var`, naming `op` in its errors.
    fn variance(
        &self,
        op: &'static str,
        dims: &[isize],
        correction: f64,
        keepdim: bool,
    ) -> Result<Tensor<T>> {
        let resolved = resolve_dims(op, dims, self.ndim())?;
        let count: usize = resolved.iter().map(|&d| self.shape()[d]).product();
        // Two passes (mean, then squared deviations): no cancellation for large means.
        let deviation = self.sub(&self.mean(dims, true)?)?;
        let squares = deviation.mul(&deviation)?.sum(dims, keepdim)?;
        let divisor = (count as f64 - correction).max(0.0);
        Ok(squares.div_scalar(T::of(divisor)))
    }

    /// Standard deviation over `dims`: the square root of [`var`](Tensor::var), like
    /// `torch.std(x, dims, correction=, keepdim=)`.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2])?;
    /// assert_eq!(t.std(&[], 0.0, false)?.item()?, 1.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn std(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor<T>> {
        Ok(self.variance("std", dims, correction, keepdim)?.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
        Tensor::from_vec(data.to_vec(), shape).unwrap()
    }

    #[test]
    fn nan_wins_every_extreme_at_its_first_position() {
        let x = t(&[1.0, f64::NAN, 3.0, f64::NAN, 0.0, -1.0], &[2, 3]);
        assert!(x.amax(&[1], false).unwrap().to_vec()[0].is_nan());
        assert!(x.amin(&[1], false).unwrap().to_vec()[1].is_nan());
        assert_eq!(x.amin(&[0], false).unwrap().to_vec()[2], -1.0);
        let (v, i) = x.max(0, false).unwrap();
        assert!(v.to_vec()[0].is_nan() && v.to_vec()[1].is_nan());
        assert_eq!(i.to_vec(), vec![1, 0, 0]);
        assert_eq!(x.argmin(1, false).unwrap().to_vec(), vec![1, 0]);
    }

    #[test]
    fn zero_d_inputs_reduce_to_themselves() {
        let s = Tensor::<f64>::scalar(2.5);
        for dims in [&[][..], &[0], &[-1]] {
            assert_eq!(s.sum(dims, true).unwrap().shape(), &[] as &[usize]);
            assert_eq!(s.amax(dims, false).unwrap().item().unwrap(), 2.5);
            assert_eq!(s.logsumexp(dims, false).unwrap().item().unwrap(), 2.5);
        }
        let (v, i) = s.max(-1, true).unwrap();
        assert_eq!((v.item().unwrap(), i.to_vec()), (2.5, vec![0]));
        assert!(s.sum(&[1], false).is_err());
        assert!(s.var(&[], 1.0, false).unwrap().item().unwrap().is_nan());
    }

    #[test]
    fn logsumexp_handles_infinities_and_empty_dims() {
        let x = t(
            &[f64::NEG_INFINITY, f64::NEG_INFINITY, f64::INFINITY, 0.0],
            &[2, 2],
        );
        let y = x.logsumexp(&[1], false).unwrap().to_vec();
        assert_eq!(y, vec![f64::NEG_INFINITY, f64::INFINITY]);
        let e = Tensor::<f64>::zeros(&[3, 0]).logsumexp(&[1], true).unwrap();
        assert_eq!(e.shape(), &[3, 1]);
        assert!(e.to_vec().iter().all(|&v| v == f64::NEG_INFINITY));
    }

    #[test]
    fn var_divides_by_n_minus_correction_clamped_at_zero() {
        let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 9.0], &[2, 3]);
        assert_eq!(
            x.var(&[1], 0.5, false).unwrap().to_vec(),
            vec![2.0 / 2.5, 14.0 / 2.5]
        );
        assert_eq!(x.var(&[0], -1.0, true).unwrap().shape(), &[1, 3]);
        assert!(x.var(&[1], 3.0, false).unwrap().to_vec()[0].is_infinite());
        assert_eq!(
            x.std(&[1], 1.0, false).unwrap().to_vec(),
            vec![1.0, 7f64.sqrt()]
        );
    }
}
