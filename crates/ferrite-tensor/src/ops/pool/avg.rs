//! Average pooling: the forward kernel and the backward, which spreads each output
//! gradient over its window.

use super::{Geometry, Pool2dParams, PoolProblem, for_each_plane, row_major};
use crate::{Float, Result, Tensor, TensorError, buffer, checked_numel};

/// Window `o` of average pooling along one axis, as PyTorch's CPU kernel computes it:
/// `(first, end, span)` with the real input range `first..end` and `span`, the length of the
/// window clipped to the padded input (the divisor when padding counts).
fn avg_taps(o: usize, stride: usize, pad: usize, kernel: usize, n: usize) -> (usize, usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let end = (start + kernel as isize).min((n + pad) as isize);
    let span = (end - start) as usize;
    let first = start.max(0);
    let last = end.min(n as isize).max(first);
    (first as usize, last as usize, span)
}

/// The divisor of a window: `divisor_override` when set, else its size clipped to the padded
/// input (`count_include_pad`) or the number of input elements in it.
#[inline]
fn divisor<T: Float>(p: &Pool2dParams, padded: usize, real: usize) -> T {
    match p.divisor_override {
        Some(d) => T::of(d as f64),
        None if p.count_include_pad => T::of(padded as f64),
        None => T::of(real as f64),
    }
}

/// Average pooling of one plane.
fn avg_plane<T: Float>(x: &[T], g: &Geometry, p: &Pool2dParams, out: &mut [T]) {
    let w = g.w;
    if p.is_2x2_fast_path(g) && p.divisor_override.is_none() {
        let four = T::of(4.0);
        for r in 0..g.oh {
            let top = &x[2 * r * w..2 * r * w + w];
            let bottom = &x[(2 * r + 1) * w..(2 * r + 2) * w];
            let o_row = &mut out[r * g.ow..(r + 1) * g.ow];
            for (c, o) in o_row.iter_mut().enumerate() {
                let j = 2 * c;
                // Same order as the general loop: 0 + a + b + c + d.
                *o = (T::zero() + top[j] + top[j + 1] + bottom[j] + bottom[j + 1]) / four;
            }
        }
        return;
    }
    let [kh, kw] = p.kernel_size;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    for r in 0..g.oh {
        let (h0, h1, span_h) = avg_taps(r, sh, ph, kh, g.h);
        for c in 0..g.ow {
            let (w0, w1, span_w) = avg_taps(c, sw, pw, kw, w);
            let o = &mut out[r * g.ow + c];
            if h0 >= h1 || w0 >= w1 {
                *o = T::zero();
                continue;
            }
            let div = divisor(p, span_h * span_w, (h1 - h0) * (w1 - w0));
            let mut sum = T::zero();
            for ih in h0..h1 {
                for &v in &x[ih * w + w0..ih * w + w1] {
                    sum += v;
                }
            }
            *o = sum / div;
        }
    }
}

/// Average-pooling backward of one plane: adds each output gradient, divided by its window's
/// divisor, to the window's input elements.
fn avg_backward_plane<T: Float>(go: &[T], g: &Geometry, p: &Pool2dParams, gi: &mut [T]) {
    let w = g.w;
    if p.is_2x2_fast_path(g) && p.divisor_override.is_none() {
        let four = T::of(4.0);
        for r in 0..g.oh {
            for c in 0..g.ow {
                // The windows do not overlap: each element receives 0 + delta exactly once.
                let delta = T::zero() + go[r * g.ow + c] / four;
                let (i, j) = (2 * r * w, 2 * c);
                gi[i + j] = delta;
                gi[i + j + 1] = delta;
                gi[i + w + j] = delta;
                gi[i + w + j + 1] = delta;
            }
        }
        return;
    }
    let [kh, kw] = p.kernel_size;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    for r in 0..g.oh {
        let (h0, h1, span_h) = avg_taps(r, sh, ph, kh, g.h);
        for c in 0..g.ow {
            let (w0, w1, span_w) = avg_taps(c, sw, pw, kw, w);
            if h0 >= h1 || w0 >= w1 {
                continue;
            }
            let div = divisor(p, span_h * span_w, (h1 - h0) * (w1 - w0));
            let delta = go[r * g.ow + c] / div;
            for ih in h0..h1 {
                for v in &mut gi[ih * w + w0..ih * w + w1] {
                    *v += delta;
                }
            }
        }
    }
}

impl<T: Float> Tensor<T> {
    /// 2-D average pooling, like PyTorch's `F.avg_pool2d`.
    ///
    /// Each output element is the sum of the input elements in its window divided by a
    /// divisor, computed exactly as PyTorch does: `params.divisor_override` when set. The window is first clipped to the padded
    /// input (`[-pad, in + pad)`, which matters in `ceil_mode` when the last window hangs over
    /// the edge), then to the input. With `count_include_pad` the divisor is the size of the
    /// window clipped to the padded input; without it, the number of input elements in the
    /// window. Padding adds zeros to the sum.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`, or `[C, H, W]` (treated as `N = 1`, the output is 3-D too)
    /// - output: `[N, C, oh, ow]` with `[oh, ow]` from [`Pool2dParams::output_size`]
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or has an empty plane, when `params.dilation` is not
    /// `[1, 1]` (average pooling has no dilation), `divisor_override` is 0, or for the parameter errors of
    /// [`Pool2dParams::output_size`].
    ///
    /// ```
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Tensor::<f64>::ones(&[1, 1, 3, 3]);
    /// let p = Pool2dParams::new([3, 3]).with_stride([1, 1]).with_padding([1, 1]);
    /// // Corner window: 4 ones among 9 taps when padding counts, 4 of 4 when it does not.
    /// assert_eq!(x.avg_pool2d(&p)?.to_vec()[0], 4.0 / 9.0);
    /// assert_eq!(x.avg_pool2d(&p.with_count_include_pad(false))?.to_vec()[0], 1.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn avg_pool2d(&self, params: &Pool2dParams) -> Result<Tensor<T>> {
        let problem = PoolProblem::new(
            "avg_pool2d",
            self.shape(),
            no_dilation("avg_pool2d", params)?,
        )?;
        let (g, total, parallel) = (problem.geom, problem.output_len, problem.parallel);
        let x = row_major(self);
        let (pi, po) = (g.plane_in(), g.plane_out());
        let mut out = buffer::zeros(total);
        for_each_plane(&mut out, po, parallel, |i, o| {
            avg_plane(&x[i * pi..(i + 1) * pi], &g, params, o)
        });
        Tensor::from_vec(out, &problem.output_shape)
    }
}

/// `params`, refused when it has a dilation (average pooling has none) or a zero
/// `divisor_override`.
fn no_dilation<'a>(op: &'static str, params: &'a Pool2dParams) -> Result<&'a Pool2dParams> {
    if params.divisor_override == Some(0) {
        return Err(TensorError::invalid(
            op,
            "divisor_override must not be zero, found 0",
        ));
    }
    if params.dilation != [1, 1] {
        return Err(TensorError::invalid(
            op,
            format!(
                "average pooling has no dilation: expected dilation [1, 1], found {:?}",
                params.dilation
            ),
        ));
    }
    Ok(params)
}

/// The gradient of [`Tensor::avg_pool2d`] with respect to its input: each output gradient,
/// divided by its window's divisor, is added to every input element of the window.
///
/// # Shapes
/// - `grad_output`: `[N, C, oh, ow]` (or `[C, oh, ow]`), the forward output's shape
/// - `input_shape`: `[N, C, H, W]` (or `[C, H, W]`); the result has this shape
///
/// # Errors
/// When `input_shape` or `params` are refused by [`Tensor::avg_pool2d`], `input_shape` has
/// more elements than memory can hold (see [`checked_numel`]), or
/// `grad_output` does not have the shape of the forward output.
///
/// ```
/// use ferrite_tensor::{avg_pool2d_backward, Pool2dParams, Tensor};
/// let p = Pool2dParams::new([2, 2]);
/// let gy = Tensor::<f64>::from_vec(vec![4.0, 8.0], &[1, 1, 1, 2])?;
/// let gx = avg_pool2d_backward(&gy, &[1, 1, 2, 4], &p)?;
/// assert_eq!(gx.to_vec(), vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// assert!(avg_pool2d_backward(&gy, &[1, 1, 4, 4], &p).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn avg_pool2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
    params: &Pool2dParams,
) -> Result<Tensor<T>> {
    const OP: &str = "avg_pool2d_backward";
    let problem = PoolProblem::new(OP, input_shape, no_dilation(OP, params)?)?;
    let total = checked_numel(OP, input_shape)?;
    if grad_output.shape() != problem.output_shape.as_slice() {
        return Err(TensorError::shape(
            OP,
            format!(
                "expected grad_output of shape {:?} (the output for input shape \
                 {input_shape:?}), found {:?}",
                problem.output_shape,
                grad_output.shape()
            ),
        ));
    }
    let (g, parallel) = (problem.geom, problem.parallel);
    let go = row_major(grad_output);
    let (pi, po) = (g.plane_in(), g.plane_out());
    let mut gi = buffer::zeros(total);
    for_each_plane(&mut gi, pi, parallel, |i, gp| {
        avg_backward_plane(&go[i * po..(i + 1) * po], &g, params, gp)
    });
    Tensor::from_vec(gi, input_shape)
}
