//! Shape operations: reshape, flatten, permute, transpose, squeeze, unsqueeze, narrow,
//! broadcast_to, cat and stack (`expand` and `repeat` are in `repeat.rs`). Each returns a new tensor; none changes the elements.

use ndarray::{Axis, IxDyn, Slice};

use crate::checked_numel;
use crate::{Float, Result, Tensor, TensorError, buffer, normalize_dim};

impl<T: Float> Tensor<T> {
    /// The same elements in a new shape; one entry may be `-1` (inferred), like `torch.reshape`.
    ///
    /// # Errors
    /// When the element counts differ, more than one `-1` is given, or an entry is below `-1`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(t.reshape(&[6, -1])?.shape(), &[6, 4]);
    /// assert_eq!(
    ///     t.reshape(&[5, -1]).unwrap_err().to_string(),
    ///     "reshape: shape [5, -1] is invalid for input of size 24 (input shape [2, 3, 4])"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor<T>> {
        let new_shape = infer_shape("reshape", shape, self.shape())?;
        let data = self.contiguous();
        let array = data
            .arc()
            .clone()
            .into_shape_with_order(IxDyn(&new_shape))
            .map_err(|e| TensorError::shape("reshape", e.to_string()))?;
        // Contiguous data is only relabelled: no copy.
        Ok(Tensor::from_arc(array))
    }

    /// Merges dims `start_dim..=end_dim` into one, like `torch.flatten`.
    ///
    /// # Errors
    /// When a dim is out of range or `start_dim > end_dim`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3, 4, 5]);
    /// assert_eq!(t.flatten(1, -1)?.shape(), &[2, 60]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor<T>> {
        if self.ndim() == 0 {
            normalize_dim("flatten", start_dim, 0)?;
            normalize_dim("flatten", end_dim, 0)?;
            return self.reshape(&[1]);
        }
        let s = normalize_dim("flatten", start_dim, self.ndim())?;
        let e = normalize_dim("flatten", end_dim, self.ndim())?;
        if s > e {
            return Err(TensorError::invalid(
                "flatten",
                format!(
                    "start_dim {start_dim} comes after end_dim {end_dim} for shape {:?}",
                    self.shape()
                ),
            ));
        }
        let shape = self.shape();
        let mut new: Vec<isize> = shape[..s].iter().map(|&d| d as isize).collect();
        new.push(shape[s..=e].iter().product::<usize>() as isize);
        new.extend(shape[e + 1..].iter().map(|&d| d as isize));
        self.reshape(&new)
    }

    /// Reorders the dims, like `torch.permute`: output dim `i` is input dim `dims[i]`.
    ///
    /// # Errors
    /// When `dims` is not a permutation of the tensor's dims.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(t.permute(&[2, 0, 1])?.shape(), &[4, 2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor<T>> {
        let n = self.ndim();
        if dims.len() != n {
            return Err(TensorError::invalid(
                "permute",
                format!(
                    "expected {n} dims for shape {:?}, found {dims:?}",
                    self.shape()
                ),
            ));
        }
        let mut axes = Vec::with_capacity(n);
        for &d in dims {
            let d = normalize_dim("permute", d, n)?;
            if axes.contains(&d) {
                return Err(TensorError::invalid(
                    "permute",
                    format!("dims {dims:?} repeat dimension {d}"),
                ));
            }
            axes.push(d);
        }
        Ok(Tensor::from_arc(self.arc().clone().permuted_axes(IxDyn(&axes))).contiguous())
    }

    /// Swaps two dims, like `torch.transpose`.
    ///
    /// # Errors
    /// When a dim is out of range.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).transpose(0, 1)?.shape(), &[3, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor<T>> {
        let n = self.ndim();
        if n == 0 {
            normalize_dim("transpose", dim0, 0)?;
            normalize_dim("transpose", dim1, 0)?;
            return Ok(self.clone());
        }
        let a = normalize_dim("transpose", dim0, n)?;
        let b = normalize_dim("transpose", dim1, n)?;
        let mut perm: Vec<isize> = (0..n as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Removes dim `dim` if it has size 1 (otherwise returns the tensor unchanged, as PyTorch).
    ///
    /// # Errors
    /// When `dim` is out of range.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 1, 3]).squeeze(1)?.shape(), &[2, 3]);
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 1, 3]).squeeze(0)?.shape(), &[2, 1, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn squeeze(&self, dim: isize) -> Result<Tensor<T>> {
        if self.ndim() == 0 {
            normalize_dim("squeeze", dim, 0)?;
            return Ok(self.clone());
        }
        let d = normalize_dim("squeeze", dim, self.ndim())?;
        if self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut shape = self.shape().to_vec();
        shape.remove(d);
        self.reshape(&to_isize(&shape))
    }

    /// Removes every dim of size 1.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[1, 2, 1]).squeeze_all().shape(), &[2]);
    /// ```
    pub fn squeeze_all(&self) -> Tensor<T> {
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&d| d != 1).collect();
        self.reshape(&to_isize(&shape))
            .expect("same number of elements")
    }

    /// Inserts a dim of size 1 at position `dim` (`-1` appends), like `torch.unsqueeze`.
    ///
    /// # Errors
    /// When `dim` is outside `-(ndim + 1)..=ndim`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).unsqueeze(0)?.shape(), &[1, 2, 3]);
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).unsqueeze(-1)?.shape(), &[2, 3, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor<T>> {
        let d = normalize_dim("unsqueeze", dim, self.ndim() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(d, 1);
        self.reshape(&to_isize(&shape))
    }

    /// Elements `start..start + length` along `dim`, like `torch.narrow`.
    ///
    /// # Errors
    /// When `dim` is out of range or the slice runs past the end.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::arange(0.0, 6.0, 1.0)?.reshape(&[2, 3])?;
    /// assert_eq!(t.narrow(1, 1, 2)?.to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Tensor<T>> {
        if self.ndim() == 0 {
            return Err(TensorError::invalid(
                "narrow",
                "cannot narrow a 0-dimensional tensor (shape [])",
            ));
        }
        let d = normalize_dim("narrow", dim, self.ndim())?;
        let size = self.shape()[d];
        if start.checked_add(length).is_none_or(|end| end > size) {
            return Err(TensorError::invalid(
                "narrow",
                format!(
                    "start {start} + length {length} exceeds dimension {d} of size {size} (shape {:?})",
                    self.shape()
                ),
            ));
        }
        let mut part = self.arc().clone();
        part.slice_axis_inplace(Axis(d), Slice::from(start..start + length));
        Ok(Tensor::from_arc(part).contiguous())
    }

    /// Broadcasts to `shape` (NumPy rules), like `torch.broadcast_to`.
    ///
    /// # Errors
    /// When `self` cannot be broadcast to `shape`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::ones(&[3]).broadcast_to(&[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        let view = self.arc().broadcast(IxDyn(shape)).ok_or_else(|| {
            TensorError::shape(
                "broadcast_to",
                format!("cannot broadcast shape {:?} to {shape:?}", self.shape()),
            )
        })?;
        if self.numel() == 1 {
            // The gradient of a sum: one value everywhere.
            return Ok(Tensor::full(
                shape,
                view.iter().next().copied().unwrap_or_else(T::zero),
            ));
        }
        let data = buffer::collect(view.len(), view.iter().copied());
        Tensor::from_vec(data, shape)
    }

    /// Joins tensors along an existing dim, like `torch.cat`.
    ///
    /// # Errors
    /// When `tensors` is empty, `dim` is out of range, or the other dims differ.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 3]);
    /// let b = Tensor::<f32>::ones(&[1, 3]);
    /// assert_eq!(Tensor::cat(&[&a, &b], 0)?.shape(), &[3, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn cat(tensors: &[&Tensor<T>], dim: isize) -> Result<Tensor<T>> {
        let first = tensors.first().ok_or_else(|| {
            TensorError::invalid("cat", "expected at least one tensor, found none")
        })?;
        if first.ndim() == 0 {
            return Err(TensorError::invalid(
                "cat",
                "cannot concatenate 0-dimensional tensors (use stack)",
            ));
        }
        let d = normalize_dim("cat", dim, first.ndim())?;
        for (i, t) in tensors.iter().enumerate() {
            let same_rank = t.ndim() == first.ndim();
            let same_other = same_rank
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(j, (a, b))| j == d || a == b);
            if !same_other {
                return Err(TensorError::shape(
                    "cat",
                    format!(
                        "tensor {i} has shape {:?} but tensor 0 has shape {:?} (only dimension {d} may differ)",
                        t.shape(),
                        first.shape()
                    ),
                ));
            }
        }
        let views: Vec<_> = tensors.iter().map(|t| t.arc().view()).collect();
        let out = ndarray::concatenate(Axis(d), &views)
            .map_err(|e| TensorError::shape("cat", e.to_string()))?;
        Ok(Tensor::from_array(out))
    }

    /// Joins tensors of equal shape along a new dim, like `torch.stack`.
    ///
    /// # Errors
    /// When `tensors` is empty, the shapes differ, or `dim` is out of range.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 3]);
    /// assert_eq!(Tensor::stack(&[&a, &a], 1)?.shape(), &[2, 2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn stack(tensors: &[&Tensor<T>], dim: isize) -> Result<Tensor<T>> {
        let first = tensors.first().ok_or_else(|| {
            TensorError::invalid("stack", "expected at least one tensor, found none")
        })?;
        for (i, t) in tensors.iter().enumerate() {
            if t.shape() != first.shape() {
                return Err(TensorError::shape(
                    "stack",
                    format!(
                        "tensor {i} has shape {:?} but tensor 0 has shape {:?}",
                        t.shape(),
                        first.shape()
                    ),
                ));
            }
        }
        let d = normalize_dim("stack", dim, first.ndim() + 1)?;
        let expanded = tensors
            .iter()
            .map(|t| t.unsqueeze(d as isize))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor<T>> = expanded.iter().collect();
        Tensor::cat(&refs, d as isize)
    }
}

fn to_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}

/// Resolves a `reshape` target with at most one `-1` against the input shape.
pub(crate) fn infer_shape(
    op: &'static str,
    shape: &[isize],
    input: &[usize],
) -> Result<Vec<usize>> {
    let numel = checked_numel(op, input)?;
    let bad = || {
        TensorError::shape(
            op,
            format!("shape {shape:?} is invalid for input of size {numel} (input shape {input:?})"),
        )
    };
    let mut infer = None;
    let mut known: usize = 1;
    let mut out = Vec::with_capacity(shape.len());
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(0);
            }
            -1 => {
                return Err(TensorError::invalid(
                    op,
                    format!("only one dimension can be -1, found {shape:?}"),
                ));
            }
            s if s < 0 => {
                return Err(TensorError::invalid(
                    op,
                    format!("invalid size {s} in shape {shape:?}"),
                ));
            }
            s => {
                known = known.checked_mul(s as usize).ok_or_else(bad)?;
                out.push(s as usize);
            }
        }
    }
    match infer {
        Some(i) => {
            if known == 0 || numel % known != 0 {
                return Err(bad());
            }
            out[i] = numel / known;
        }
        None if known != numel => return Err(bad()),
        None => {}
    }
    // An empty target may still have non-zero dims whose product no array can describe.
    checked_numel(op, &out)?;
    Ok(out)
}
