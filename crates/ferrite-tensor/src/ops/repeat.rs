//! `expand` and `repeat`: PyTorch's two ways of making a tensor bigger without new values.
//! `expand` is `broadcast_to` with `-1` for "keep this size"; `repeat` tiles. Both are written
//! as shape arithmetic over `reshape` and `broadcast_to`, so the autograd side can compose
//! them from differentiable ops.

use crate::{Float, Result, Tensor, TensorError, checked_numel};

/// The target shape of `expand(sizes)`: new leading dims, `-1` keeps an existing size, a
/// size-1 dim may grow to anything, any other dim must stay as it is (PyTorch's rules).
///
/// # Errors
/// When `sizes` has fewer entries than `shape` has dims, a new leading dim is `-1`, an entry
/// is below `-1`, or a non-singleton dim would change.
///
/// ```
/// use ferrite_tensor::ops::repeat::expand_shape;
/// assert_eq!(expand_shape(&[3, 1], &[2, -1, 4])?, vec![2, 3, 4]);
/// assert!(expand_shape(&[3], &[2, 4]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn expand_shape(shape: &[usize], sizes: &[isize]) -> Result<Vec<usize>> {
    if sizes.len() < shape.len() {
        return Err(TensorError::shape(
            "expand",
            format!(
                "the number of sizes provided ({}) must be greater or equal to the number of \
                 dimensions in the tensor ({}); sizes {sizes:?}, tensor shape {shape:?}",
                sizes.len(),
                shape.len()
            ),
        ));
    }
    let new_dims = sizes.len() - shape.len();
    let mut out = Vec::with_capacity(sizes.len());
    for (i, &size) in sizes.iter().enumerate() {
        let existing = i.checked_sub(new_dims).map(|d| shape[d]);
        out.push(expanded_size(i, size, existing, sizes, shape)?);
    }
    checked_numel("expand", &out)?;
    Ok(out)
}

/// One dim of [`expand_shape`]: `existing` is `None` for a new leading dim.
fn expanded_size(
    dim: usize,
    size: isize,
    existing: Option<usize>,
    sizes: &[isize],
    shape: &[usize],
) -> Result<usize> {
    match (size, existing) {
        (-1, Some(old)) => Ok(old),
        (-1, None) => Err(TensorError::invalid(
            "expand",
            format!(
                "-1 is not allowed in a new leading dimension (dim {dim}); sizes {sizes:?}, \
                 tensor shape {shape:?}"
            ),
        )),
        (s, _) if s < -1 => Err(TensorError::invalid(
            "expand",
            format!("sizes must be non-negative or -1, found {s} at dim {dim}; sizes {sizes:?}"),
        )),
        (s, Some(old)) if old != 1 && s as usize != old => Err(TensorError::shape(
            "expand",
            format!(
                "the expanded size of the tensor ({s}) must match the existing size ({old}) at \
                 non-singleton dimension {dim}; target sizes {sizes:?}, tensor shape {shape:?}"
            ),
        )),
        (s, _) => Ok(s as usize),
    }
}

/// How `repeat(repeats)` is computed: reshape to `interleaved` (a 1 before every dim of the
/// input, with leading 1s for new dims), broadcast to `tiled` (each 1 becomes its repeat
/// count), reshape to `output`. The tile index is the outer one, as in PyTorch: element `k`
/// of a repeated dim of size `s` is element `k % s` of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatPlan {
    /// The input's shape as `[1, s0, 1, s1, ...]`, with `s = 1` for new leading dims.
    pub interleaved: Vec<usize>,
    /// `[r0, s0, r1, s1, ...]`.
    pub tiled: Vec<usize>,
    /// `[r0 * s0, r1 * s1, ...]`.
    pub output: Vec<usize>,
}

/// The plan of `repeat(repeats)` for an input of `shape`.
///
/// # Errors
/// When `repeats` has fewer entries than `shape` has dims, or the output is too large.
///
/// ```
/// use ferrite_tensor::ops::repeat::repeat_plan;
/// let plan = repeat_plan(&[2, 3], &[4, 1, 2])?;
/// assert_eq!(plan.output, vec![4, 2, 6]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn repeat_plan(shape: &[usize], repeats: &[usize]) -> Result<RepeatPlan> {
    if repeats.len() < shape.len() {
        return Err(TensorError::shape(
            "repeat",
            format!(
                "the number of repeats ({}) can not be smaller than the number of dimensions of \
                 the tensor ({}); repeats {repeats:?}, tensor shape {shape:?}",
                repeats.len(),
                shape.len()
            ),
        ));
    }
    let padded: Vec<usize> = std::iter::repeat_n(1, repeats.len() - shape.len())
        .chain(shape.iter().copied())
        .collect();
    let mut plan = RepeatPlan {
        interleaved: Vec::with_capacity(2 * padded.len()),
        tiled: Vec::with_capacity(2 * padded.len()),
        output: Vec::with_capacity(padded.len()),
    };
    for (&s, &r) in padded.iter().zip(repeats) {
        plan.interleaved.extend([1, s]);
        plan.tiled.extend([r, s]);
        let size = s.checked_mul(r).ok_or_else(|| {
            TensorError::invalid(
                "repeat",
                format!("repeats {repeats:?} of shape {shape:?} overflow usize"),
            )
        })?;
        plan.output.push(size);
    }
    checked_numel("repeat", &plan.output)?;
    Ok(plan)
}

/// `usize` dims as `reshape`'s `isize` arguments (each fits: `checked_numel` passed).
pub(crate) fn as_isize(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

impl<T: Float> Tensor<T> {
    /// A bigger view of the same values, like `torch.Tensor.expand`: `-1` keeps a dim, a
    /// size-1 dim grows, new dims are added in front. (ferrite copies the values; PyTorch
    /// returns a view. The numbers are the same.)
    ///
    /// # Errors
    /// As [`expand_shape`].
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2, 1])?;
    /// let e = t.expand(&[3, -1, 2])?;
    /// assert_eq!(e.shape(), &[3, 2, 2]);
    /// assert_eq!(e.to_vec()[..4], [1.0, 1.0, 2.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn expand(&self, sizes: &[isize]) -> Result<Tensor<T>> {
        self.broadcast_to(&expand_shape(self.shape(), sizes)?)
    }

    /// Tiles the tensor `repeats[i]` times along dim `i`, like `torch.Tensor.repeat`
    /// (`numpy.tile`); extra leading repeats add dims.
    ///
    /// # Errors
    /// As [`repeat_plan`].
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2])?;
    /// let r = t.repeat(&[2, 2])?;
    /// assert_eq!(r.shape(), &[2, 4]);
    /// assert_eq!(r.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn repeat(&self, repeats: &[usize]) -> Result<Tensor<T>> {
        let plan = repeat_plan(self.shape(), repeats)?;
        self.reshape(&as_isize(&plan.interleaved))?
            .broadcast_to(&plan.tiled)?
            .reshape(&as_isize(&plan.output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_matches_modulo_indexing() -> Result<()> {
        let t = Tensor::<f64>::from_vec((0..6).map(f64::from).collect(), &[2, 3])?;
        let r = t.repeat(&[2, 3, 2])?;
        assert_eq!(r.shape(), &[2, 6, 6]);
        let v = r.to_vec();
        for a in 0..2 {
            for i in 0..6 {
                for j in 0..6 {
                    assert_eq!(v[a * 36 + i * 6 + j], t.to_vec()[(i % 2) * 3 + j % 3]);
                }
            }
        }
        assert_eq!(t.repeat(&[0, 1])?.shape(), &[0, 3]);
        Ok(())
    }

    #[test]
    fn expand_and_repeat_errors_name_the_op() {
        let t = Tensor::<f32>::zeros(&[3]);
        let e = t.expand(&[2, 4]).unwrap_err().to_string();
        assert!(
            e.contains("expand") && e.contains("(4)") && e.contains("(3)"),
            "{e}"
        );
        let e = t.expand(&[-1, 3]).unwrap_err().to_string();
        assert!(e.contains("leading"), "{e}");
        let e = t.expand(&[]).unwrap_err().to_string();
        assert!(e.contains("(0)") && e.contains("(1)"), "{e}");
        let e = Tensor::<f32>::zeros(&[2, 2]).repeat(&[2]).unwrap_err();
        assert!(e.to_string().contains("repeat"), "{e}");
        let e = t.repeat(&[usize::MAX, 2]).unwrap_err().to_string();
        assert!(e.contains("repeat"), "{e}");
    }
}
