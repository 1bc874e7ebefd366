//! Reductions: `sum`, `sum_all`, `mean`, `amax`/`amin`, `max`/`min` with indices,
//! `logsumexp`, `var`, `std`, each with its backward; `argmax`/`argmin` (no gradient).

use std::sync::Arc;

use ferrite_tensor::{
    Float, Indices, Result, Tensor, gather_backward, logsumexp_backward, normalize_dim,
};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op, recomputed};

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
    /// x.amax(&[0], false)?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.5, 0.5, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let value = self.value().amax(dims, keepdim)?;
        self.extreme("amax", value, dims)
    }

    /// Minimum over `dims` (empty: all dims), like `torch.amin(x, dims, keepdim)`.
    /// Backward: the gradient is shared equally among the elements that tie for the minimum.
    ///
    /// # Errors
    /// When a dim is out of range or repeated, or a reduced dim is empty.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 0.0, 2.0], &[2, 2])?);
    /// let y = x.amin(&[1], true)?;
    /// assert_eq!(y.value().to_vec(), vec![1.0, 0.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let value = self.value().amin(dims, keepdim)?;
        self.extreme("amin", value, dims)
    }

    /// Records `amax`/`amin` (`value`, already computed): the gradient of each result goes
    /// in equal shares to the elements equal to it (NaN counting as equal to NaN).
    fn extreme(&self, op: &'static str, value: Tensor<T>, dims: &[isize]) -> Result<Var<T>> {
        let x = self.value();
        let shape = x.shape().to_vec();
        let dims = reduced_dims(op, dims, shape.len())?;
        let kept = keepdim_shape(&shape, &dims);
        let m = value.reshape(&kept)?;
        let dims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
        // The maxima and their count per slice: ties share the gradient evenly, and around
        // a point the op is the linear map `a ↦ Σ mask·a / count` (second derivative 0).
        let ties = Arc::new(move || -> Result<(Tensor<T>, Tensor<T>)> {
            let mask: Tensor<T> = x.zip_with(op, &m, |v, m| {
                if v == m || (v.is_nan() && m.is_nan()) {
                    T::one()
                } else {
                    T::zero()
                }
            })?;
            let count = mask.sum(&dims, true)?;
            Ok((mask, count))
        });
        let (forward_ties, out_shape) = (Arc::clone(&ties), as_isize(value.shape()));
        let names = if op == "amax" {
            ["amax", "amax_backward"]
        } else {
            ["amin", "amin_backward"]
        };
        let f = linear_fn(move |a: &Tensor<T>| {
            let (mask, count) = forward_ties()?;
            a.mul(&mask)?
                .div(&count)?
                .sum_to(count.shape())?
                .reshape(&out_shape)
        });
        let ft = linear_fn(move |g: &Tensor<T>| {
            let (mask, count) = ties()?;
            mask.mul(&g.reshape(&kept)?.div(&count)?)
        });
        linear_op(names, self, value, f, ft)
    }

    /// The maximum along `dim` and its index, like `torch.max(x, dim, keepdim)` (the first
    /// maximum on ties). Backward: the gradient goes to the chosen element only.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0, 0.0], &[2, 2])?);
    /// let (values, indices) = x.max(1, false)?;
    /// assert_eq!(indices.to_vec(), vec![1, 0]);
    /// values.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max(&self, dim: isize, keepdim: bool) -> Result<(Var<T>, Indices)> {
        let selected = self.value().max(dim, true)?;
        self.select_along("max", selected, dim, keepdim)
    }

    /// The minimum along `dim` and its index, like `torch.min(x, dim, keepdim)` (the first
    /// minimum on ties). Backward: the gradient goes to the chosen element only.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![2.0, 1.0, 1.0], &[3])?);
    /// let (value, index) = x.min(0, false)?;
    /// assert_eq!((value.item()?, index.to_vec()), (1.0, vec![1]));
    /// value.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn min(&self, dim: isize, keepdim: bool) -> Result<(Var<T>, Indices)> {
        let selected = self.value().min(dim, true)?;
        self.select_along("min", selected, dim, keepdim)
    }

    /// Records `max`/`min` along `dim` from the kept-dim `(values, indices)`: the gradient
    /// is scattered back to the selected positions.
    fn select_along(
        &self,
        op: &'static str,
        (values, indices): (Tensor<T>, Indices),
        dim: isize,
        keepdim: bool,
    ) -> Result<(Var<T>, Indices)> {
        let shape = self.shape();
        let d = normalize_dim(op, dim, shape.len())?;
        let out_shape: Vec<usize> = if keepdim || shape.is_empty() {
            values.shape().to_vec()
        } else {
            [&shape[..d], &shape[d + 1..]].concat()
        };
        let kept = values.shape().to_vec();
        let out = values.reshape(&as_isize(&out_shape))?;
        let out_indices = Indices::from_vec(indices.to_vec(), &out_shape)?;
        let (picks, out_shape) = (indices.clone(), as_isize(out.shape()));
        let names = if op == "max" {
            ["max", "max_backward"]
        } else {
            ["min", "min_backward"]
        };
        let var = linear_op(
            names,
            self,
            out,
            linear_fn(move |a| a.gather(dim, &picks)?.reshape(&out_shape)),
            linear_fn(move |g| {
                let g = g.reshape(&as_isize(&kept))?;
                gather_backward(&g, &indices, dim, &shape)
            }),
        )?;
        Ok((var, out_indices))
    }

    /// Index of the maximum along `dim` (the first on ties), like `torch.argmax`: the
    /// value's [`Tensor::argmax`], which has no gradient.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let logits = Var::new(Tensor::<f32>::from_vec(vec![0.1, 2.0, -1.0, 3.0], &[2, 2])?);
    /// assert_eq!(logits.argmax(1, false)?.to_vec(), vec![1, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Indices> {
        self.value().argmax(dim, keepdim)
    }

    /// Index of the minimum along `dim` (the first on ties), like `torch.argmin`; no
    /// gradient.
    ///
    /// # Errors
    /// When `dim` is out of range or has size 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::from_vec(vec![0.1, 2.0, -1.0, 3.0], &[2, 2])?);
    /// assert_eq!(x.argmin(0, false)?.to_vec(), vec![1, 0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Indices> {
        self.value().argmin(dim, keepdim)
    }

    /// `log(sum(exp(x)))` over `dims` (empty: all dims), computed stably, like
    /// `torch.logsumexp(x, dims, keepdim)`. Backward: `g · exp(x − result)`, the softmax.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![500.0, 500.0], &[2])?);
    /// let y = x.logsumexp(&[0], false)?;
    /// assert!((y.item()? - (500.0 + 2f64.ln())).abs() < 1e-12);
    /// y.backward()?;
    /// assert!(x.grad().unwrap().to_vec().iter().all(|g| (g - 0.5).abs() < 1e-12));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.logsumexp(dims, keepdim)?;
        let reduced = reduced_dims("logsumexp", dims, x.ndim())?;
        // Over an empty dim the result is -inf, as in PyTorch, and the recomputation for the
        // double backward shifts by 0: there is no maximum to shift by.
        let empty = reduced.iter().any(|&d| x.shape()[d] == 0);
        let kept: Vec<usize> = keepdim_shape(x.shape(), &reduced)
            .iter()
            .map(|&d| d as usize)
            .collect();
        let (result, dims) = (value.clone(), dims.to_vec());
        let out_shape = as_isize(value.shape());
        let backward_dims = dims.clone();
        Var::from_op("logsumexp", value, &[self], move |g, grads| {
            grads.set(0, || logsumexp_backward(g, &x, &result, &backward_dims))
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                let shift = if empty {
                    Tensor::zeros(&kept)
                } else {
                    v[0].value().amax(&dims, true)?
                };
                logsumexp_composite(&v[0], &shift, &dims)?.reshape(&out_shape)
            }))
        })
    }

    /// Variance over `dims` (empty: all dims) with `correction` (1: unbiased, 0: biased,
    /// any number accepted), like `torch.var(x, dims, correction=, keepdim=)`.
    /// Backward: `g · 2 (x − mean) / (N − correction)`.
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[4])?);
    /// let v = x.var(&[], 1.0, false)?;
    /// assert_eq!(v.item()?, 14.0 / 3.0);
    /// v.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec()[3], 2.0 * 3.0 / 3.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn var(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.var(dims, correction, keepdim)?;
        let (deviation, kept, scale) = spread(&x, "var", dims, correction)?;
        let dims = dims.to_vec();
        Var::from_op("var", value, &[self], move |g, grads| {
            grads.set(0, || {
                deviation.mul(&g.reshape(&kept)?.mul_scalar(T::of(2.0 * scale)))
            })
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                var_composite(&v[0], &dims, scale, keepdim)
            }))
        })
    }

    /// Standard deviation over `dims` (empty: all dims) with `correction`, like
    /// `torch.std(x, dims, correction=, keepdim=)`. Backward: `g (x − mean) / ((N −
    /// correction) · std)`, and 0 where the standard deviation is 0 (as PyTorch).
    ///
    /// # Errors
    /// When a dim is out of range or repeated.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 5.0, 5.0], &[2, 2])?);
    /// let s = x.std(&[1], 0.0, false)?;
    /// assert_eq!(s.value().to_vec(), vec![1.0, 0.0]);
    /// s.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![-0.5, 0.5, 0.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn std(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Var<T>> {
        let x = self.value();
        let value = x.std(dims, correction, keepdim)?;
        let (deviation, kept, scale) = spread(&x, "std", dims, correction)?;
        let std = value.reshape(&kept)?;
        let dims = dims.to_vec();
        Var::from_op("std", value, &[self], move |g, grads| {
            grads.set(0, || {
                let share = g.reshape(&kept)?.zip_with("std_backward", &std, |g, s| {
                    if s == T::zero() {
                        T::zero()
                    } else {
                        g * T::of(scale) / s
                    }
                })?;
                deviation.mul(&share)
            })
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                var_composite(&v[0], &dims, scale, keepdim)?.sqrt()
            }))
        })
    }
}

/// What the backward of `var`/`std` needs: `x − mean` over the reduced dims, the kept-dim
/// shape of the result, and `1 / (N − correction)`.
fn spread<T: Float>(
    x: &Tensor<T>,
    op: &'static str,
    dims: &[isize],
    correction: f64,
) -> Result<(Tensor<T>, Vec<isize>, f64)> {
    let reduced = reduced_dims(op, dims, x.ndim())?;
    let count: usize = reduced.iter().map(|&d| x.shape()[d]).product();
    let kept = keepdim_shape(x.shape(), &reduced);
    let deviation = x.sub(&x.mean(dims, true)?)?;
    Ok((deviation, kept, 1.0 / (count as f64 - correction)))
}

/// logsumexp over `dims` (kept) in differentiable ops, shifted by the (constant) maximum
/// for stability.
pub(crate) fn logsumexp_composite<T: Float>(
    x: &Var<T>,
    max: &Tensor<T>,
    dims: &[isize],
) -> Result<Var<T>> {
    let shift = Var::new(max.map(|m| if m.is_finite() { m } else { T::zero() }));
    x.sub(&shift)?.exp()?.sum(dims, true)?.log()?.add(&shift)
}

/// `Σ(x − mean)² · scale` over `dims` in differentiable ops (var's recomputation).
fn var_composite<T: Float>(
    x: &Var<T>,
    dims: &[isize],
    scale: f64,
    keepdim: bool,
) -> Result<Var<T>> {
    let d = x.sub(&x.mean(dims, true)?)?;
    d.mul(&d)?.sum(dims, keepdim)?.mul_scalar(T::of(scale))
}

fn as_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}
