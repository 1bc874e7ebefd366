//! 2-D pooling: max and average pooling (parameters, forward and backward kernels), adaptive
//! average and max pooling (`adaptive.rs`) and max unpooling (`unpool.rs`).
//!
//! The kernels follow PyTorch's CPU implementation (`F.max_pool2d`, `F.avg_pool2d` and their
//! backward functions) window by window: the same output-size arithmetic, the same windows at
//! the padded and `ceil_mode` borders, the same divisors, the same choice of argmax on ties and
//! NaN, and the same order of summation. They work on row-major slices, one `(n, c)` plane at
//! a time, and spread the planes over rayon's threads when the work is large enough; a plane is
//! always computed by one thread in a fixed order, so results do not depend on the number of
//! threads.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::checked_numel;
use crate::ops::window::{Pair, Window2d};
use crate::{Float, Result, Tensor, TensorError};

mod adaptive;
mod avg;
mod max;
#[cfg(test)]
mod tests;
mod unpool;

pub use adaptive::{AdaptiveSize, adaptive_avg_pool2d_backward};
pub use avg::avg_pool2d_backward;
pub use max::max_pool2d_backward;
pub use unpool::{Unpool2dParams, max_unpool2d_backward};

/// The hyper-parameters of 2-D pooling, with PyTorch's meaning.
///
/// ```
/// use ferrite_tensor::Pool2dParams;
/// let p = Pool2dParams::new([2, 2]);
/// assert_eq!(p.stride, [2, 2]); // stride defaults to the kernel size
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Window size `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Step `[sh, sw]` (PyTorch's default: the kernel size).
    pub stride: [usize; 2],
    /// Implicit padding `[ph, pw]` on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Spacing between window taps (max pooling only; default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Use ceil instead of floor for the output size.
    pub ceil_mode: bool,
    /// Average pooling: count padded zeros in the divisor (PyTorch's default: true).
    pub count_include_pad: bool,
    /// Average pooling: divide every window's sum by this instead (any non-zero integer,
    /// negative too; default `None`, the count rule).
    pub divisor_override: Option<i64>,
}

impl Pool2dParams {
    /// A window of `kernel_size` (`2` or `[2, 3]`) with stride equal to it, no padding,
    /// floor mode.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// let p = Pool2dParams::new([3, 2]);
    /// assert_eq!((p.stride, p.padding, p.dilation), ([3, 2], [0, 0], [1, 1]));
    /// assert!(!p.ceil_mode && p.count_include_pad);
    /// ```
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        let kernel_size = kernel_size.into().0;
        Pool2dParams {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// Sets the stride (`2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([3, 3]).with_stride([1, 2]).stride, [1, 2]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.stride = stride.into().0;
        self
    }

    /// Sets the implicit padding on both sides (`1` or `[1, 0]`).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([3, 3]).with_padding([1, 0]).padding, [1, 0]);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.padding = padding.into().0;
        self
    }

    /// Sets the dilation (max pooling; `2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([2, 2]).with_dilation([2, 2]).dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.dilation = dilation.into().0;
        self
    }

    /// Sets ceil mode.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert!(Pool2dParams::new([2, 2]).with_ceil_mode(true).ceil_mode);
    /// ```
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    /// Sets whether average pooling counts padding in its divisor.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert!(!Pool2dParams::new([2, 2]).with_count_include_pad(false).count_include_pad);
    /// ```
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    /// Sets the divisor of average pooling (PyTorch's `divisor_override`): every window's sum
    /// is divided by it, whatever the window holds. Zero is refused by the forward.
    ///
    /// ```
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let p = Pool2dParams::new([2, 2]).with_divisor_override(-2);
    /// assert_eq!(Tensor::<f64>::ones(&[1, 2, 2]).avg_pool2d(&p)?.to_vec(), vec![-2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_divisor_override(mut self, divisor: i64) -> Self {
        self.divisor_override = Some(divisor);
        self
    }

    /// The output size `[oh, ow]` of pooling an input of spatial size `input_hw = [h, w]`.
    ///
    /// Per dimension this is PyTorch's formula
    /// `out = floor((in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0)) / stride) + 1`,
    /// and in `ceil_mode` the last window must start inside the input or the left padding:
    /// when `(out - 1) * stride >= in + pad`, `out` is one less. This is
    /// [`Window::output_size`](crate::Window::output_size) of [`Pool2dParams::window`].
    ///
    /// # Shapes
    /// `input_hw = [h, w]` gives `[oh, ow]`.
    ///
    /// # Errors
    /// Errors name `pool2d` (the pooling ops name themselves):
    /// - a kernel size, stride or dilation of zero;
    /// - a kernel size, stride, padding or dilation above `isize::MAX` (PyTorch's are
    ///   64-bit signed integers);
    /// - a padding larger than half the kernel size (`pad > kernel / 2`), as PyTorch refuses it;
    /// - an input dimension of zero;
    /// - a window larger than the padded input (no output position).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// let p = Pool2dParams::new([3, 3]).with_stride([2, 2]);
    /// assert_eq!(p.output_size([8, 8])?, [3, 3]);
    /// assert_eq!(p.with_ceil_mode(true).output_size([8, 8])?, [4, 4]);
    /// // In ceil mode a window may not start in the right padding: 3 windows, not 4.
    /// let q = Pool2dParams::new([2, 2]).with_padding([1, 1]).with_ceil_mode(true);
    /// assert_eq!(q.output_size([5, 5])?, [3, 3]);
    /// assert!(Pool2dParams::new([4, 4]).output_size([3, 3]).is_err());
    /// assert!(Pool2dParams::new([2, 2]).with_padding([2, 0]).output_size([8, 8]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2]) -> Result<[usize; 2]> {
        self.output_size_for("pool2d", input_hw)
    }

    /// The sliding window of these parameters (the padding on both sides of each dimension).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// let w = Pool2dParams::new([3, 3]).with_padding([1, 0]).window();
    /// assert_eq!(w.padding, [[1, 1], [0, 0]]);
    /// assert_eq!(w.stride, [3, 3]);
    /// ```
    pub fn window(&self) -> Window2d {
        let [ph, pw] = self.padding;
        Window2d::new(self.kernel_size)
            .with_stride(self.stride)
            .with_padding([[ph, ph], [pw, pw]])
            .with_dilation(self.dilation)
            .with_ceil_mode(self.ceil_mode)
    }

    /// [`Pool2dParams::output_size`] with errors naming `op`.
    fn output_size_for(&self, op: &'static str, input_hw: [usize; 2]) -> Result<[usize; 2]> {
        self.check(op)?;
        if input_hw.contains(&0) {
            return Err(TensorError::shape(
                op,
                format!("expected a non-empty input plane, found spatial size {input_hw:?}"),
            ));
        }
        self.window().output_size(op, input_hw)
    }

    /// Refuses zero kernel sizes, strides and dilations, values above `isize::MAX` and too
    /// much padding.
    fn check(&self, op: &'static str) -> Result<()> {
        self.window().check(op)?;
        // PyTorch's parameters are 64-bit signed integers; the window arithmetic of the
        // kernels relies on the same bound.
        for (name, value) in [
            ("padding", self.padding),
            ("kernel_size", self.kernel_size),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if value.iter().any(|&v| v > isize::MAX as usize) {
                return Err(TensorError::invalid(
                    op,
                    format!(
                        "{name} should be at most isize::MAX ({}), found {value:?}",
                        isize::MAX
                    ),
                ));
            }
        }
        let [kh, kw] = self.kernel_size;
        let [ph, pw] = self.padding;
        if ph > kh / 2 || pw > kw / 2 {
            return Err(TensorError::invalid(
                op,
                format!(
                    "pad should be at most half of effective kernel size: padding {:?} with \
                     kernel_size {:?} and dilation {:?} (expected padding at most [{}, {}])",
                    self.padding,
                    self.kernel_size,
                    self.dilation,
                    kh / 2,
                    kw / 2
                ),
            ));
        }
        Ok(())
    }

    /// The common `MaxPool2d(2)` / `AvgPool2d(2)` case: 2x2 windows, stride 2, no padding and
    /// no dilation, where every window lies inside the input.
    fn is_2x2_fast_path(&self, g: &Geometry) -> bool {
        self.kernel_size == [2, 2]
            && self.stride == [2, 2]
            && self.padding == [0, 0]
            && self.dilation == [1, 1]
            && 2 * g.oh <= g.h
            && 2 * g.ow <= g.w
    }
}

/// Work (element visits) below which a kernel runs on the calling thread only.
const PARALLEL_MIN_WORK: usize = 1 << 15;

/// The sizes of one pooling problem.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    window: Window2d,
}

impl Geometry {
    fn plane_in(&self) -> usize {
        self.h * self.w
    }
    fn plane_out(&self) -> usize {
        self.oh * self.ow
    }
}

/// The validated sizes of one pooling call, from the input shape to the parallel decision:
/// what every pooling entry point but the max backward starts with.
struct PoolProblem {
    geom: Geometry,
    /// `[N, C, oh, ow]` or `[C, oh, ow]`.
    output_shape: Vec<usize>,
    /// Elements of the output.
    output_len: usize,
    /// Whether the work is worth spreading over the threads.
    parallel: bool,
}

impl PoolProblem {
    /// Validates `input_shape` and `params` (errors name `op`) and sizes the output.
    fn new(op: &'static str, input_shape: &[usize], params: &Pool2dParams) -> Result<Self> {
        let (mut output_shape, planes, [h, w]) = split_input(op, input_shape)?;
        let [oh, ow] = params.output_size_for(op, [h, w])?;
        output_shape.extend([oh, ow]);
        let output_len = checked_numel(op, &output_shape)?;
        let [kh, kw] = params.kernel_size;
        let work = output_len.saturating_mul(kh.saturating_mul(kw));
        Ok(PoolProblem {
            geom: Geometry {
                h,
                w,
                oh,
                ow,
                window: params.window(),
            },
            output_shape,
            output_len,
            parallel: planes > 1 && work >= PARALLEL_MIN_WORK,
        })
    }
}

/// Splits a pooling input shape `[N, C, H, W]` or `[C, H, W]` into its leading dims, the
/// number of planes and `[H, W]`.
fn split_input(op: &'static str, shape: &[usize]) -> Result<(Vec<usize>, usize, [usize; 2])> {
    let valid_rank = shape.len() == 3 || shape.len() == 4;
    // As PyTorch: every dim after the first non-zero (N of an empty batch, or C of an
    // unbatched input, may be 0).
    if !valid_rank || shape[1..].contains(&0) {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero sizes after \
                 the first dim, found shape {shape:?}"
            ),
        ));
    }
    let lead = shape[..shape.len() - 2].to_vec();
    let planes = checked_numel(op, &lead)?;
    Ok((
        lead,
        planes,
        [shape[shape.len() - 2], shape[shape.len() - 1]],
    ))
}

/// The elements of `t` in row-major order, borrowed when the buffer already is.
fn row_major<T: Float>(t: &Tensor<T>) -> Cow<'_, [T]> {
    match t.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_vec()),
    }
}

/// Calls `f(plane, out_chunk)` for every plane, on several threads when `parallel`.
fn for_each_plane<A: Send>(
    out: &mut [A],
    chunk: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [A]) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    if parallel {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// Calls `f(plane, out_chunk, idx_chunk)` for every plane, on several threads when `parallel`.
fn for_each_plane2<A: Send, B: Send>(
    out: &mut [A],
    idx: &mut [B],
    chunk: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    if parallel {
        out.par_chunks_mut(chunk)
            .zip(idx.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(i, (o, x))| f(i, o, x));
    } else {
        out.chunks_mut(chunk)
            .zip(idx.chunks_mut(chunk))
            .enumerate()
            .for_each(|(i, (o, x))| f(i, o, x));
    }
}
