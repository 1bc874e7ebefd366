//! Adaptive average and max pooling: the output size is given, and output position `i` of an
//! axis of length `n` pooled to `o` covers input positions `[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)`, as
//! PyTorch's CPU kernels compute them (windows may overlap; the output may be larger than
//! the input).

use super::{PARALLEL_MIN_WORK, for_each_plane, for_each_plane2, max, row_major};
use crate::{Float, Result, Tensor, TensorError, buffer, checked_numel};

/// The output size of an adaptive pool: `[oh, ow]`, where `None` keeps the input's size
/// along that axis (PyTorch's `output_size=(None, 7)`). From `7` (both), `[7, 5]` or
/// `[None, Some(5)]`.
///
/// ```
/// use ferrite_tensor::AdaptiveSize;
/// assert_eq!(AdaptiveSize::from(7).0, [Some(7), Some(7)]);
/// assert_eq!(AdaptiveSize::from([3, 2]).0, [Some(3), Some(2)]);
/// assert_eq!(AdaptiveSize::from([None, Some(5)]).resolve([4, 9]), [4, 5]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveSize(pub [Option<usize>; 2]);

impl AdaptiveSize {
    /// The output size `[oh, ow]` for an input plane `input_hw`: each `None` replaced by the
    /// input's size.
    ///
    /// ```
    /// use ferrite_tensor::AdaptiveSize;
    /// assert_eq!(AdaptiveSize([Some(1), None]).resolve([6, 8]), [1, 8]);
    /// ```
    pub fn resolve(&self, input_hw: [usize; 2]) -> [usize; 2] {
        [0, 1].map(|d| self.0[d].unwrap_or(input_hw[d]))
    }
}

impl From<usize> for AdaptiveSize {
    fn from(v: usize) -> Self {
        AdaptiveSize([Some(v), Some(v)])
    }
}

impl From<[usize; 2]> for AdaptiveSize {
    fn from(v: [usize; 2]) -> Self {
        AdaptiveSize(v.map(Some))
    }
}

impl From<[Option<usize>; 2]> for AdaptiveSize {
    fn from(v: [Option<usize>; 2]) -> Self {
        AdaptiveSize(v)
    }
}

/// The input ranges `[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)` of the `o` output positions of an axis of
/// length `n`.
fn windows(n: usize, o: usize) -> Vec<(usize, usize)> {
    (0..o)
        .map(|i| (i * n / o, ((i + 1) * n).div_ceil(o)))
        .collect()
}

/// The validated sizes of an adaptive pooling call.
struct Adaptive {
    output_shape: Vec<usize>,
    hw: [usize; 2],
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
    parallel: bool,
}

impl Adaptive {
    fn new(op: &'static str, shape: &[usize], size: AdaptiveSize) -> Result<Self> {
        // As PyTorch: 3-D or 4-D, every dim but the batch non-zero (dim 0 of a 3-D input
        // included, which PyTorch's check skips but which holds no plane anyway).
        let rank_ok = shape.len() == 3 || shape.len() == 4;
        if !rank_ok || shape[1..].contains(&0) {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero sizes \
                     after the first dim, found shape {shape:?}"
                ),
            ));
        }
        let hw = [shape[shape.len() - 2], shape[shape.len() - 1]];
        let [oh, ow] = size.resolve(hw);
        let mut output_shape = shape[..shape.len() - 2].to_vec();
        output_shape.extend([oh, ow]);
        let total = checked_numel(op, &output_shape)?;
        // Each output reads about (h / oh + 1) · (w / ow + 1) inputs.
        let per = (hw[0] / oh.max(1) + 1).saturating_mul(hw[1] / ow.max(1) + 1);
        Ok(Adaptive {
            hw,
            rows: windows(hw[0], oh),
            cols: windows(hw[1], ow),
            parallel: total.saturating_mul(per) >= PARALLEL_MIN_WORK,
            output_shape,
        })
    }

    fn plane_in(&self) -> usize {
        self.hw[0] * self.hw[1]
    }

    fn plane_out(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

/// Adaptive average pooling of one plane: each window's sum divided by its height, then by
/// its width (PyTorch's order).
fn avg_plane<T: Float>(x: &[T], a: &Adaptive, out: &mut [T]) {
    let w = a.hw[1];
    let ow = a.cols.len();
    for (r, &(h0, h1)) in a.rows.iter().enumerate() {
        for (c, &(w0, w1)) in a.cols.iter().enumerate() {
            let mut sum = T::zero();
            for ih in h0..h1 {
                for &v in &x[ih * w + w0..ih * w + w1] {
                    sum += v;
                }
            }
            out[r * ow + c] = sum / T::of((h1 - h0) as f64) / T::of((w1 - w0) as f64);
        }
    }
}

/// Adaptive max pooling of one plane, with the argmax (`ih · W + iw`) of each window: the
/// first maximum in row-major order, NaN winning (the last NaN), as PyTorch.
fn max_plane<T: Float>(x: &[T], a: &Adaptive, out: &mut [T], idx: &mut [usize]) {
    let w = a.hw[1];
    let ow = a.cols.len();
    for (r, &(h0, h1)) in a.rows.iter().enumerate() {
        for (c, &(w0, w1)) in a.cols.iter().enumerate() {
            let (mut m, mut at) = (T::neg_infinity(), h0 * w + w0);
            for ih in h0..h1 {
                for (iw, &v) in x[ih * w + w0..ih * w + w1].iter().enumerate() {
                    (m, at) = max::pick(m, at, v, ih * w + w0 + iw);
                }
            }
            out[r * ow + c] = m;
            idx[r * ow + c] = at;
        }
    }
}

impl<T: Float> Tensor<T> {
    /// 2-D adaptive average pooling, like `F.adaptive_avg_pool2d(input, output_size)`.
    ///
    /// Output row `i` of `oh` averages input rows `⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉` (likewise for
    /// columns), so windows may overlap and the output may be larger than the input.
    /// `output_size` `1` is global average pooling.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`), a `None` in `output_size` keeping `H` or `W`
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D, or has a zero size after the first dim.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::arange(0.0, 6.0, 1.0)?.reshape(&[1, 2, 3])?;
    /// // Columns [0, 2) and [1, 3): overlapping windows.
    /// let y = x.adaptive_avg_pool2d([1, 2])?;
    /// assert_eq!(y.to_vec(), vec![2.0, 3.0]);
    /// assert_eq!(x.adaptive_avg_pool2d([None, Some(1)])?.shape(), &[1, 2, 1]);
    /// assert!(Tensor::<f64>::zeros(&[4, 4]).adaptive_avg_pool2d(2).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_avg_pool2d(&self, output_size: impl Into<AdaptiveSize>) -> Result<Tensor<T>> {
        let a = Adaptive::new("adaptive_avg_pool2d", self.shape(), output_size.into())?;
        let x = row_major(self);
        let (pi, po) = (a.plane_in(), a.plane_out());
        let mut out = buffer::for_overwrite(checked_numel("adaptive_avg_pool2d", &a.output_shape)?);
        for_each_plane(&mut out, po, a.parallel, |i, o| {
            avg_plane(&x[i * pi..(i + 1) * pi], &a, o)
        });
        Tensor::from_vec(out, &a.output_shape)
    }

    /// 2-D adaptive max pooling with the position of each maximum, like
    /// `F.adaptive_max_pool2d(input, output_size, return_indices=True)`: the windows of
    /// [`adaptive_avg_pool2d`](Tensor::adaptive_avg_pool2d), the maximum of each (the first
    /// in row-major order on ties; NaN propagates) and its flat position `ih · W + iw` in its
    /// `(n, c)` plane. The gradient is [`max_pool2d_backward`](crate::max_pool2d_backward)
    /// with these positions.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`); one index per output element
    ///
    /// # Errors
    /// As [`adaptive_avg_pool2d`](Tensor::adaptive_avg_pool2d).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 7.0, 7.0, 2.0, 0.0, 3.0], &[1, 2, 3])?;
    /// let (y, idx) = x.adaptive_max_pool2d_with_indices([1, 2])?;
    /// assert_eq!(y.to_vec(), vec![7.0, 7.0]);
    /// assert_eq!(idx, vec![1, 1]); // both windows hold column 1: its 7 comes first
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_max_pool2d_with_indices(
        &self,
        output_size: impl Into<AdaptiveSize>,
    ) -> Result<(Tensor<T>, Vec<usize>)> {
        const OP: &str = "adaptive_max_pool2d";
        let a = Adaptive::new(OP, self.shape(), output_size.into())?;
        let x = row_major(self);
        let (pi, po) = (a.plane_in(), a.plane_out());
        let total = checked_numel(OP, &a.output_shape)?;
        let mut out = buffer::for_overwrite(total);
        let mut idx = buffer::for_overwrite(total);
        for_each_plane2(&mut out, &mut idx, po, a.parallel, |i, o, ix| {
            max_plane(&x[i * pi..(i + 1) * pi], &a, o, ix)
        });
        Ok((Tensor::from_vec(out, &a.output_shape)?, idx))
    }

    /// 2-D adaptive max pooling, like `F.adaptive_max_pool2d(input, output_size)` (see
    /// [`adaptive_max_pool2d_with_indices`](Tensor::adaptive_max_pool2d_with_indices)).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`adaptive_avg_pool2d`](Tensor::adaptive_avg_pool2d).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f32>::arange(0.0, 16.0, 1.0)?.reshape(&[1, 1, 4, 4])?;
    /// assert_eq!(x.adaptive_max_pool2d(2)?.to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_max_pool2d(&self, output_size: impl Into<AdaptiveSize>) -> Result<Tensor<T>> {
        Ok(self.adaptive_max_pool2d_with_indices(output_size)?.0)
    }
}

/// The gradient of [`Tensor::adaptive_avg_pool2d`] with respect to its input: each output
/// gradient, divided by its window's height and then width, is added to every element of
/// the window.
///
/// # Shapes
/// - `grad_output`: the forward output's shape
/// - `input_shape`: `[N, C, H, W]` (or `[C, H, W]`); the result has this shape
///
/// # Errors
/// When `input_shape` is refused by the forward, or `grad_output` has neither its leading
/// dims nor 3-D / 4-D rank.
///
/// ```
/// use ferrite_tensor::{adaptive_avg_pool2d_backward, Tensor};
/// let g = Tensor::<f64>::from_vec(vec![2.0, 4.0], &[1, 1, 2])?;
/// let gx = adaptive_avg_pool2d_backward(&g, &[1, 1, 3])?;
/// assert_eq!(gx.to_vec(), vec![1.0, 3.0, 2.0]); // windows [0, 2) and [1, 3)
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn adaptive_avg_pool2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
) -> Result<Tensor<T>> {
    const OP: &str = "adaptive_avg_pool2d_backward";
    let gs = grad_output.shape();
    let lead = input_shape.len().saturating_sub(2);
    if gs.len() != input_shape.len() || gs.len() < 3 || gs[..lead] != input_shape[..lead] {
        return Err(TensorError::shape(
            OP,
            format!("grad_output of shape {gs:?} does not fit input shape {input_shape:?}"),
        ));
    }
    let size = AdaptiveSize::from([gs[gs.len() - 2], gs[gs.len() - 1]]);
    let a = Adaptive::new(OP, input_shape, size)?;
    let (pi, po) = (a.plane_in(), a.plane_out());
    let go = row_major(grad_output);
    let w = a.hw[1];
    let mut gi = buffer::zeros(checked_numel(OP, input_shape)?);
    for_each_plane(&mut gi, pi, a.parallel, |i, g| {
        let go = &go[i * po..(i + 1) * po];
        for (r, &(h0, h1)) in a.rows.iter().enumerate() {
            for (c, &(w0, w1)) in a.cols.iter().enumerate() {
                let delta =
                    go[r * a.cols.len() + c] / T::of((h1 - h0) as f64) / T::of((w1 - w0) as f64);
                for ih in h0..h1 {
                    for v in &mut g[ih * w + w0..ih * w + w1] {
                        *v += delta;
                    }
                }
            }
        }
    });
    Tensor::from_vec(gi, input_shape)
}
