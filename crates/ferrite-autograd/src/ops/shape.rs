//! Shape ops: reshape, flatten, permute, transpose, squeeze, unsqueeze, narrow, broadcast_to,
//! cat, stack. Their backward moves the gradient back to the input's layout.

use std::sync::Arc;

use ferrite_tensor::{Float, Result, Tensor, normalize_dim};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

fn as_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}

/// An op that only changes the shape (same elements in the same order): its gradient and
/// every higher one are reshapes back and forth.
fn reshaping<T: Float>(
    names: [&'static str; 2],
    x: &Var<T>,
    value: Tensor<T>,
    input_shape: Vec<isize>,
) -> Result<Var<T>> {
    let output_shape = as_isize(value.shape());
    linear_op(
        names,
        x,
        value,
        linear_fn(move |a| a.reshape(&output_shape)),
        linear_fn(move |g| g.reshape(&input_shape)),
    )
}

impl<T: Float> Var<T> {
    /// The same elements in a new shape (one entry may be `-1`), like `torch.reshape`.
    ///
    /// # Errors
    /// When the element counts differ or more than one `-1` is given.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2, 6]));
    /// assert_eq!(x.reshape(&[3, -1])?.shape(), vec![3, 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Var<T>> {
        let input_shape = as_isize(&self.shape());
        let value = self.value().reshape(shape)?;
        reshaping(["reshape", "reshape_backward"], self, value, input_shape)
    }

    /// Merges dims `start_dim..=end_dim` into one, like `torch.flatten`.
    ///
    /// # Errors
    /// When a dim is out of range or `start_dim > end_dim`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[8, 32, 7, 7]));
    /// assert_eq!(x.flatten(1, -1)?.shape(), vec![8, 1568]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Var<T>> {
        let input_shape = as_isize(&self.shape());
        let value = self.value().flatten(start_dim, end_dim)?;
        reshaping(["flatten", "flatten_backward"], self, value, input_shape)
    }

    /// Reorders dims, like `torch.permute`. Backward applies the inverse permutation.
    ///
    /// # Errors
    /// When `dims` is not a permutation of the dims.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2, 3, 4]));
    /// assert_eq!(x.permute(&[1, 2, 0])?.shape(), vec![3, 4, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn permute(&self, dims: &[isize]) -> Result<Var<T>> {
        let value = self.value().permute(dims)?;
        let n = dims.len();
        let mut inverse = vec![0isize; n];
        for (i, &d) in dims.iter().enumerate() {
            inverse[normalize_dim("permute", d, n)?] = i as isize;
        }
        let dims = dims.to_vec();
        linear_op(
            ["permute", "permute_backward"],
            self,
            value,
            linear_fn(move |a| a.permute(&dims)),
            linear_fn(move |g| g.permute(&inverse)),
        )
    }

    /// Swaps two dims, like `torch.transpose`.
    ///
    /// # Errors
    /// When a dim is out of range.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2, 3]));
    /// assert_eq!(x.transpose(0, 1)?.shape(), vec![3, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Var<T>> {
        let value = self.value().transpose(dim0, dim1)?;
        let swap = linear_fn(move |a: &Tensor<T>| a.transpose(dim0, dim1));
        linear_op(
            ["transpose", "transpose_backward"],
            self,
            value,
            Arc::clone(&swap),
            swap,
        )
    }

    /// Removes dim `dim` if it has size 1, like `torch.squeeze(x, dim)`.
    ///
    /// # Errors
    /// When `dim` is out of range.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2, 1]));
    /// assert_eq!(x.squeeze(1)?.shape(), vec![2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn squeeze(&self, dim: isize) -> Result<Var<T>> {
        let input_shape = as_isize(&self.shape());
        let value = self.value().squeeze(dim)?;
        reshaping(["squeeze", "squeeze_backward"], self, value, input_shape)
    }

    /// Inserts a dim of size 1 at `dim`, like `torch.unsqueeze`.
    ///
    /// # Errors
    /// When `dim` is out of range.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2]));
    /// assert_eq!(x.unsqueeze(0)?.shape(), vec![1, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Var<T>> {
        let input_shape = as_isize(&self.shape());
        let value = self.value().unsqueeze(dim)?;
        reshaping(
            ["unsqueeze", "unsqueeze_backward"],
            self,
            value,
            input_shape,
        )
    }

    /// Elements `start..start + length` along `dim`, like `torch.narrow` (slicing).
    /// Backward: the gradient placed back in a zero tensor.
    ///
    /// # Errors
    /// When `dim` is out of range or the slice runs past the end.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[4]));
    /// x.narrow(0, 1, 2)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Var<T>> {
        let shape = self.shape();
        let value = self.value().narrow(dim, start, length)?;
        let d = normalize_dim("narrow", dim, shape.len())?;
        let f = linear_fn(move |a: &Tensor<T>| a.narrow(dim, start, length));
        let ft = linear_fn(move |g: &Tensor<T>| {
            let mut parts: Vec<Tensor<T>> = Vec::new();
            if start > 0 {
                let mut s = shape.clone();
                s[d] = start;
                parts.push(Tensor::zeros(&s));
            }
            parts.push(g.clone());
            let rest = shape[d] - start - length;
            if rest > 0 {
                let mut s = shape.clone();
                s[d] = rest;
                parts.push(Tensor::zeros(&s));
            }
            let refs: Vec<&Tensor<T>> = parts.iter().collect();
            Tensor::cat(&refs, d as isize)
        });
        linear_op(["narrow", "narrow_backward"], self, value, f, ft)
    }

    /// Broadcasts to `shape`, like `torch.broadcast_to`. Backward sums over the broadcast dims.
    ///
    /// # Errors
    /// When `self` cannot be broadcast to `shape`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[3]));
    /// x.broadcast_to(&[2, 3])?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![2.0; 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var<T>> {
        let input_shape = self.shape();
        let value = self.value().broadcast_to(shape)?;
        let shape = shape.to_vec();
        linear_op(
            ["broadcast_to", "broadcast_to_backward"],
            self,
            value,
            linear_fn(move |a| a.broadcast_to(&shape)),
            linear_fn(move |g| g.sum_to(&input_shape)),
        )
    }

    /// Joins `Var`s along an existing dim, like `torch.cat`.
    ///
    /// # Errors
    /// When the list is empty, `dim` is out of range, or the other dims differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[1, 2]));
    /// let b = Var::parameter(Tensor::<f64>::ones(&[2, 2]));
    /// let c = Var::cat(&[&a, &b], 0)?;
    /// assert_eq!(c.shape(), vec![3, 2]);
    /// c.sum_all()?.backward()?;
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![1.0; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cat(vars: &[&Var<T>], dim: isize) -> Result<Var<T>> {
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value()).collect();
        let refs: Vec<&Tensor<T>> = values.iter().collect();
        let value = Tensor::cat(&refs, dim)?;
        let d = normalize_dim("cat", dim, value.ndim())?;
        let sizes: Vec<usize> = values.iter().map(|v| v.shape()[d]).collect();
        let sizes2 = sizes.clone();
        let y = Var::from_op("cat", value, vars, move |g, grads| {
            let mut start = 0;
            for (i, &len) in sizes.iter().enumerate() {
                grads.set(i, || g.narrow(d as isize, start, len))?;
                start += len;
            }
            Ok(())
        })?;
        Ok(y.with_double_backward(move |g, _, grads| {
            let mut start = 0;
            for (i, &len) in sizes2.iter().enumerate() {
                grads.set(i, || g.narrow(d as isize, start, len))?;
                start += len;
            }
            Ok(())
        }))
    }

    /// Joins `Var`s of equal shape along a new dim, like `torch.stack`.
    ///
    /// # Errors
    /// When the list is empty, the shapes differ, or `dim` is out of range.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::new(Tensor::<f32>::ones(&[2]));
    /// assert_eq!(Var::stack(&[&a, &a, &a], 0)?.shape(), vec![3, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn stack(vars: &[&Var<T>], dim: isize) -> Result<Var<T>> {
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value()).collect();
        let refs: Vec<&Tensor<T>> = values.iter().collect();
        let value = Tensor::stack(&refs, dim)?;
        let d = normalize_dim("stack", dim, value.ndim())?;
        let count = vars.len();
        let y = Var::from_op("stack", value, vars, move |g, grads| {
            for i in 0..count {
                grads.set(i, || g.narrow(d as isize, i, 1)?.squeeze(d as isize))?;
            }
            Ok(())
        })?;
        Ok(y.with_double_backward(move |g, _, grads| {
            for i in 0..count {
                grads.set(i, || g.narrow(d as isize, i, 1)?.squeeze(d as isize))?;
            }
            Ok(())
        }))
    }
}
