//! Max unpooling, the partial inverse of max pooling: each input value is written at the
//! position its index names in a zero output plane; the backward gathers from there.

use super::{PARALLEL_MIN_WORK, for_each_plane, row_major};
use crate::{Float, Indices, Pair, Result, Tensor, TensorError, buffer, checked_numel};

/// The parameters of 2-D max unpooling, as `F.max_unpool2d(input, indices, kernel_size,
/// stride=None, padding=0, output_size=None)` takes them: those of the max pooling it
/// inverts, and optionally the exact output size.
///
/// ```
/// use ferrite_tensor::Unpool2dParams;
/// let p = Unpool2dParams::new(2);
/// assert_eq!((p.stride, p.padding, p.output_size), ([2, 2], [0, 0], None));
/// // The default output size inverts MaxPool2d(2) on 4x6: (in − 1) · stride − 2 · pad + kernel.
/// assert_eq!(p.output_size([2, 3])?, [4, 6]);
/// // An explicit size must lie strictly within a stride of it (5x7 after pooling a 5x7 plane).
/// assert_eq!(p.with_output_size([5, 7]).output_size([2, 3])?, [5, 7]);
/// assert!(p.with_output_size([6, 6]).output_size([2, 3]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpool2dParams {
    /// The pooling window `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// The pooling stride (default: the kernel size).
    pub stride: [usize; 2],
    /// The pooling padding.
    pub padding: [usize; 2],
    /// The output plane `[oh, ow]`, when the default is not wanted.
    pub output_size: Option<[usize; 2]>,
}

impl Unpool2dParams {
    /// A `kernel_size` window (`2` or `[2, 3]`), stride equal to it, no padding, the
    /// default output size.
    ///
    /// ```
    /// use ferrite_tensor::Unpool2dParams;
    /// assert_eq!(Unpool2dParams::new([2, 3]).stride, [2, 3]);
    /// ```
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        let kernel_size = kernel_size.into().0;
        Unpool2dParams {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            output_size: None,
        }
    }

    /// Sets the stride.
    ///
    /// ```
    /// use ferrite_tensor::Unpool2dParams;
    /// assert_eq!(Unpool2dParams::new(3).with_stride(2).stride, [2, 2]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.stride = stride.into().0;
        self
    }

    /// Sets the padding.
    ///
    /// ```
    /// use ferrite_tensor::Unpool2dParams;
    /// assert_eq!(Unpool2dParams::new(3).with_padding(1).padding, [1, 1]);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.padding = padding.into().0;
        self
    }

    /// Sets the output size `[oh, ow]` (PyTorch's `output_size`; its leading `N, C`, when
    /// given there, are left out here).
    ///
    /// ```
    /// use ferrite_tensor::Unpool2dParams;
    /// assert_eq!(Unpool2dParams::new(2).with_output_size([5, 5]).output_size, Some([5, 5]));
    /// ```
    pub fn with_output_size(mut self, output_size: [usize; 2]) -> Self {
        self.output_size = Some(output_size);
        self
    }

    /// The output plane for an input plane `input_hw`, as PyTorch's `_unpool_output_size`:
    /// the default `(in − 1) · stride − 2 · padding + kernel_size` per dim, or the explicit
    /// `output_size`, which must lie strictly between `default − stride` and
    /// `default + stride`.
    ///
    /// # Errors
    /// When the default size is negative, or the explicit size is out of that range (names
    /// `max_unpool2d`).
    ///
    /// ```
    /// use ferrite_tensor::Unpool2dParams;
    /// let p = Unpool2dParams::new(3).with_stride(2).with_padding(1);
    /// assert_eq!(p.output_size([3, 3])?, [5, 5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2]) -> Result<[usize; 2]> {
        const OP: &str = "max_unpool2d";
        let mut out = [0; 2];
        for d in 0..2 {
            let (i, s) = (input_hw[d] as i128, self.stride[d] as i128);
            let default = (i - 1) * s - 2 * self.padding[d] as i128 + self.kernel_size[d] as i128;
            let size = match self.output_size {
                None => default,
                Some(o) => {
                    let o = o[d] as i128;
                    if !(default - s < o && o < default + s) {
                        return Err(TensorError::invalid(
                            OP,
                            format!(
                                "invalid output_size {:?}: expected each size strictly between \
                                 the default {:?} minus and plus the stride {:?}",
                                self.output_size.unwrap_or_default(),
                                self.default_sizes(input_hw),
                                self.stride
                            ),
                        ));
                    }
                    o
                }
            };
            out[d] = usize::try_from(size).map_err(|_| {
                TensorError::invalid(
                    OP,
                    format!(
                        "the output size {:?} for input plane {input_hw:?} (kernel_size {:?}, \
                         stride {:?}, padding {:?}) is negative",
                        self.default_sizes(input_hw),
                        self.kernel_size,
                        self.stride,
                        self.padding
                    ),
                )
            })?;
        }
        Ok(out)
    }

    fn default_sizes(&self, input_hw: [usize; 2]) -> [i128; 2] {
        [0, 1].map(|d| {
            (input_hw[d] as i128 - 1) * self.stride[d] as i128 - 2 * self.padding[d] as i128
                + self.kernel_size[d] as i128
        })
    }
}

/// Checks a max-unpooling input and its indices; returns the input plane `[H, W]`.
fn check(op: &'static str, shape: &[usize], indices: &Indices) -> Result<[usize; 2]> {
    let rank_ok = shape.len() == 3 || shape.len() == 4;
    if !rank_ok || shape[1..].contains(&0) {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero sizes after \
                 the first dim, found shape {shape:?}"
            ),
        ));
    }
    if indices.shape() != shape {
        return Err(TensorError::shape(
            op,
            format!(
                "expected indices of the input's shape {shape:?}, found {:?}",
                indices.shape()
            ),
        ));
    }
    Ok([shape[shape.len() - 2], shape[shape.len() - 1]])
}

impl<T: Float> Tensor<T> {
    /// 2-D max unpooling, like `F.max_unpool2d(input, indices, kernel_size, stride, padding,
    /// output_size)`: a zero output of `params.output_size(...)` per `(n, c)` plane, where
    /// each input value is written at the flat position `oh_i · ow + ow_i` its index names
    /// (the indices [`max_pool2d_with_indices`](Tensor::max_pool2d_with_indices) returns).
    /// When two indices of a plane are equal, the later value wins.
    ///
    /// # Shapes
    /// - `self`, `indices`: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or has a zero size after the first dim, the indices
    /// do not have its shape, an index is outside `[0, oh · ow)`, or the output size is
    /// refused by [`Unpool2dParams::output_size`].
    ///
    /// ```
    /// use ferrite_tensor::{Pool2dParams, Tensor, Unpool2dParams, Indices};
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 7.0, 6.0], &[1, 2, 4])?;
    /// let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new(2))?;
    /// let idx = Indices::from_vec(idx.iter().map(|&i| i as i64).collect(), y.shape())?;
    /// let back = y.max_unpool2d(&idx, &Unpool2dParams::new(2))?;
    /// assert_eq!(back.to_vec(), vec![0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_unpool2d(&self, indices: &Indices, params: &Unpool2dParams) -> Result<Tensor<T>> {
        const OP: &str = "max_unpool2d";
        let shape = self.shape();
        let [h, w] = check(OP, shape, indices)?;
        let out_hw = params.output_size([h, w])?;
        let po = out_hw[0].saturating_mul(out_hw[1]);
        let at = indices.to_checked_vec(OP, po)?;
        let mut output_shape = shape[..shape.len() - 2].to_vec();
        output_shape.extend(out_hw);
        let total = checked_numel(OP, &output_shape)?;
        let pi = h * w;
        let x = row_major(self);
        let mut out = buffer::for_overwrite(total);
        let parallel = total.max(x.len()) >= PARALLEL_MIN_WORK;
        for_each_plane(&mut out, po, parallel, |i, o| {
            o.fill(T::zero());
            for (&v, &a) in x[i * pi..(i + 1) * pi]
                .iter()
                .zip(&at[i * pi..(i + 1) * pi])
            {
                o[a] = v;
            }
        });
        Tensor::from_vec(out, &output_shape)
    }
}

/// The gradient of [`Tensor::max_unpool2d`] with respect to its input: each input element
/// gets the output gradient at the position its index names.
///
/// # Shapes
/// - `grad_output`: the forward output's shape
/// - `indices`: the forward input's shape; the result has it too
///
/// # Errors
/// When `grad_output` is not 3-D or 4-D with the leading dims of `indices`, or an index is
/// outside its plane.
///
/// ```
/// use ferrite_tensor::{max_unpool2d_backward, Indices, Tensor};
/// let g = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 4])?;
/// let idx = Indices::from_vec(vec![3, 0], &[1, 1, 2])?;
/// assert_eq!(max_unpool2d_backward(&g, &idx)?.to_vec(), vec![4.0, 1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn max_unpool2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    indices: &Indices,
) -> Result<Tensor<T>> {
    const OP: &str = "max_unpool2d_backward";
    let (gs, is) = (grad_output.shape(), indices.shape());
    let fits = (gs.len() == 3 || gs.len() == 4)
        && is.len() == gs.len()
        && gs[..gs.len() - 2] == is[..is.len() - 2];
    if !fits {
        return Err(TensorError::shape(
            OP,
            format!("grad_output of shape {gs:?} does not fit indices of shape {is:?}"),
        ));
    }
    let po = gs[gs.len() - 2] * gs[gs.len() - 1];
    let pi = is[is.len() - 2] * is[is.len() - 1];
    let at = indices.to_checked_vec(OP, po)?;
    let go = row_major(grad_output);
    let mut gi = buffer::for_overwrite(at.len());
    let parallel = at.len() >= PARALLEL_MIN_WORK;
    for_each_plane(&mut gi, pi, parallel, |i, g| {
        for (d, &a) in g.iter_mut().zip(&at[i * pi..(i + 1) * pi]) {
            *d = go[i * po + a];
        }
    });
    Tensor::from_vec(gi, is)
}
