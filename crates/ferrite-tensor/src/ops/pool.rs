//! 2-D max and average pooling: parameters, forward and backward kernels.
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
use crate::{Float, Result, Tensor, TensorError, buffer};

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
}

impl Pool2dParams {
    /// A window of `kernel_size` with stride equal to it, no padding, floor mode.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// let p = Pool2dParams::new([3, 2]);
    /// assert_eq!((p.stride, p.padding, p.dilation), ([3, 2], [0, 0], [1, 1]));
    /// assert!(!p.ceil_mode && p.count_include_pad);
    /// ```
    pub fn new(kernel_size: [usize; 2]) -> Self {
        Pool2dParams {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
        }
    }

    /// Sets the stride.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([3, 3]).with_stride([1, 2]).stride, [1, 2]);
    /// ```
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([3, 3]).with_padding([1, 0]).padding, [1, 0]);
    /// ```
    pub fn with_padding(mut self, padding: [usize; 2]) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation (max pooling).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// assert_eq!(Pool2dParams::new([2, 2]).with_dilation([2, 2]).dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
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

    /// The output size `[oh, ow]` of pooling an input of spatial size `input_hw = [h, w]`.
    ///
    /// Per dimension this is PyTorch's formula
    /// `out = floor((in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0)) / stride) + 1`,
    /// and in `ceil_mode` the last window must start inside the input or the left padding:
    /// when `(out - 1) * stride >= in + pad`, `out` is one less.
    ///
    /// `op` names the operation in error messages.
    ///
    /// # Shapes
    /// `input_hw = [h, w]` gives `[oh, ow]`.
    ///
    /// # Errors
    /// - a kernel size, stride or dilation of zero;
    /// - a kernel size, stride, padding or dilation above `isize::MAX` (PyTorch's are
    ///   64-bit signed integers);
    /// - a padding larger than half the kernel size (`pad > kernel / 2`), as PyTorch refuses it;
    /// - an input dimension of zero;
    /// - an output size below 1 (the kernel does not fit the padded input).
    ///
    /// ```
    /// use ferrite_tensor::Pool2dParams;
    /// let p = Pool2dParams::new([3, 3]).with_stride([2, 2]);
    /// assert_eq!(p.output_size("max_pool2d", [8, 8])?, [3, 3]);
    /// assert_eq!(p.with_ceil_mode(true).output_size("max_pool2d", [8, 8])?, [4, 4]);
    /// // In ceil mode a window may not start in the right padding: 3 windows, not 4.
    /// let q = Pool2dParams::new([2, 2]).with_padding([1, 1]).with_ceil_mode(true);
    /// assert_eq!(q.output_size("max_pool2d", [5, 5])?, [3, 3]);
    /// assert!(Pool2dParams::new([4, 4]).output_size("max_pool2d", [3, 3]).is_err());
    /// assert!(Pool2dParams::new([2, 2]).with_padding([2, 0]).output_size("max_pool2d", [8, 8]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, op: &'static str, input_hw: [usize; 2]) -> Result<[usize; 2]> {
        self.check(op)?;
        if input_hw.contains(&0) {
            return Err(TensorError::shape(
                op,
                format!("expected a non-empty input plane, found spatial size {input_hw:?}"),
            ));
        }
        let mut out = [0i128; 2];
        for (i, o) in out.iter_mut().enumerate() {
            let n = input_hw[i] as i128;
            let k = self.kernel_size[i] as i128;
            let s = self.stride[i] as i128;
            let p = self.padding[i] as i128;
            let d = self.dilation[i] as i128;
            let slack = if self.ceil_mode { s - 1 } else { 0 };
            let mut size = (n + 2 * p - d * (k - 1) - 1 + slack).div_euclid(s) + 1;
            if self.ceil_mode && (size - 1) * s >= n + p {
                size -= 1;
            }
            *o = size;
        }
        if out[0] < 1 || out[1] < 1 {
            return Err(TensorError::shape(
                op,
                format!(
                    "output size is too small: input size {input_hw:?} with kernel_size {:?}, \
                     stride {:?}, padding {:?}, dilation {:?} and ceil_mode {} gives output size \
                     [{}, {}] (expected at least [1, 1])",
                    self.kernel_size,
                    self.stride,
                    self.padding,
                    self.dilation,
                    self.ceil_mode,
                    out[0],
                    out[1]
                ),
            ));
        }
        Ok([out[0] as usize, out[1] as usize])
    }

    /// Refuses zero kernel sizes, strides and dilations and too much padding.
    fn check(&self, op: &'static str) -> Result<()> {
        let positive = [
            ("kernel_size", self.kernel_size),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ];
        for (name, value) in positive {
            if value.contains(&0) {
                return Err(TensorError::invalid(
                    op,
                    format!("{name} should be greater than zero, found {value:?}"),
                ));
            }
        }
        // PyTorch's parameters are 64-bit signed integers; the window arithmetic of the
        // kernels relies on the same bound.
        for (name, value) in [("padding", self.padding)].into_iter().chain(positive) {
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
    /// Number of `(n, c)` planes.
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Geometry {
    fn plane_in(&self) -> usize {
        self.h * self.w
    }
    fn plane_out(&self) -> usize {
        self.oh * self.ow
    }
}

/// Splits a pooling input shape `[N, C, H, W]` or `[C, H, W]` into its leading dims, the
/// number of planes and `[H, W]`.
fn split_input(op: &'static str, shape: &[usize]) -> Result<(Vec<usize>, usize, [usize; 2])> {
    let valid_rank = shape.len() == 3 || shape.len() == 4;
    // N may be 0 (an empty batch), as in PyTorch; C, H and W may not.
    if !valid_rank || shape[shape.len() - 3..].contains(&0) {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero C, H and W, \
                 found shape {shape:?}"
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

/// Real taps of max-pooling window `o` along one axis, as PyTorch's CPU kernel finds them:
/// `(first, end)` where `first` is the first tap at or after 0 (on the dilation grid) and `end`
/// bounds the window by the input; the taps are `first, first + d, ...` below `end`, none when
/// `first >= end`.
fn max_taps(
    o: usize,
    stride: usize,
    pad: usize,
    kernel: usize,
    dil: usize,
    n: usize,
) -> (usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let end = (start + ((kernel - 1) * dil) as isize + 1).min(n as isize);
    let mut first = start;
    if first < 0 {
        let d = dil as isize;
        first += (-first + d - 1) / d * d;
    }
    (first as usize, end.max(first) as usize)
}

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

/// `v` replaces the running maximum `m` when it is larger or NaN (PyTorch propagates NaN; the
/// first maximum wins ties).
#[inline(always)]
fn beats<T: Float>(v: T, m: T) -> bool {
    (v > m) | v.is_nan()
}

/// The winner of `(m, a)` against a later tap `(v, b)`: `v` when it beats `m`. Written as
/// selects (the index one with a mask) so that the compiler emits no data-dependent branch,
/// which random data would mispredict half of the time.
#[inline(always)]
fn pick<T: Float>(m: T, a: usize, v: T, b: usize) -> (T, usize) {
    let take = beats(v, m);
    (if take { v } else { m }, select_usize(take, b, a))
}

/// Windows processed together by the interior loop of [`max_plane`].
const BLOCK: usize = 64;

/// The output columns `lo..hi` whose windows lie entirely inside the input along the width
/// (no padding, no clipping), given `kernel`, `stride`, `pad` and `dil` along it.
fn interior_columns(
    ow: usize,
    w: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dil: usize,
) -> (usize, usize) {
    let lo = pad.div_ceil(stride).min(ow);
    let reach = (kernel - 1) * dil;
    let hi = if w + pad > reach {
        ((w - 1 + pad - reach) / stride + 1).min(ow)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Max pooling of one plane; writes the argmax of each window to `idx` when `IDX`.
///
/// Each window is scanned in row-major order with [`pick`], as PyTorch does. For the columns
/// whose windows lie inside the input, one row of windows is processed tap by tap across all
/// its windows (the same comparisons in the same order per window, but independent from one
/// window to the next, so they pipeline and vectorise); the border columns are scanned one
/// window at a time.
fn max_plane<T: Float, const IDX: bool>(
    x: &[T],
    g: &Geometry,
    p: &Pool2dParams,
    out: &mut [T],
    idx: &mut [usize],
) {
    if p.is_2x2_fast_path(g) {
        max_plane_2x2::<T, IDX>(x, g, out, idx);
        return;
    }
    let (w, ow) = (g.w, g.ow);
    let [kh, kw] = p.kernel_size;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let [dh, dw] = p.dilation;
    let (lo, hi) = interior_columns(ow, w, kw, sw, pw, dw);
    for r in 0..g.oh {
        let (h0, h1) = max_taps(r, sh, ph, kh, dh, g.h);
        // An all -inf window answers its first tap, as PyTorch does; a window without any
        // input element (possible only with dilation) answers -inf and that tap clamped into
        // the plane.
        let first_row = h0.min(g.h - 1) * w;
        let o_row = &mut out[r * ow..(r + 1) * ow];
        let i_row: &mut [usize] = if IDX {
            &mut idx[r * ow..(r + 1) * ow]
        } else {
            &mut []
        };
        // Interior columns, tap by tap across a block of windows, with plain `>` (selects
        // that vectorise, no data-dependent branch); a NaN sends the row to the exact scan.
        let mut nan = false;
        for start in (lo..hi).step_by(BLOCK) {
            let n = BLOCK.min(hi - start);
            let maxima = &mut o_row[start..start + n];
            maxima.fill(T::neg_infinity());
            let argmax: &mut [usize] = if IDX {
                &mut i_row[start..start + n]
            } else {
                &mut []
            };
            for (k, a) in argmax.iter_mut().enumerate() {
                *a = first_row + (start + k) * sw - pw;
            }
            let mut taps = [T::zero(); BLOCK];
            let taps = &mut taps[..n];
            for ih in (h0..h1).step_by(dh) {
                let row = &x[ih * w..(ih + 1) * w];
                for j in 0..kw {
                    // Window c reads column c * sw + j * dw - pw, inside the row.
                    let col0 = start * sw + j * dw - pw;
                    for (k, t) in taps.iter_mut().enumerate() {
                        *t = row[col0 + k * sw];
                    }
                    if IDX {
                        let at0 = ih * w + col0;
                        let slots = maxima.iter_mut().zip(argmax.iter_mut());
                        for (k, ((m, a), &v)) in slots.zip(taps.iter()).enumerate() {
                            let take = v > *m;
                            nan |= v.is_nan();
                            *m = if take { v } else { *m };
                            *a = select_usize(take, at0 + k * sw, *a);
                        }
                    } else {
                        for (m, &v) in maxima.iter_mut().zip(taps.iter()) {
                            nan |= v.is_nan();
                            *m = if v > *m { v } else { *m };
                        }
                    }
                }
            }
        }
        // Border columns (and all columns of a row with a NaN), one window at a time.
        for c in (0..ow).filter(|&c| nan || c < lo || c >= hi) {
            let (w0, w1) = max_taps(c, sw, pw, kw, dw, w);
            let (mut m, mut a) = (T::neg_infinity(), first_row + w0.min(w - 1));
            for ih in (h0..h1).step_by(dh) {
                let row = &x[ih * w..(ih + 1) * w];
                for iw in (w0..w1).step_by(dw) {
                    (m, a) = pick(m, a, row[iw], ih * w + iw);
                }
            }
            o_row[c] = m;
            if IDX {
                i_row[c] = a;
            }
        }
    }
}

/// `if cond { b } else { a }` on indices, computed with a mask so that no branch is emitted.
#[inline(always)]
fn select_usize(cond: bool, b: usize, a: usize) -> usize {
    let mask = 0usize.wrapping_sub(usize::from(cond));
    a ^ ((a ^ b) & mask)
}

/// The 2x2, stride 2 fast path of [`max_plane`].
///
/// Rows without NaN (the common case) are done as a tournament with plain `>` comparisons:
/// left against right in each row of the window, then the top winner against the bottom one,
/// keeping the earlier tap on ties, which is the row-major scan's first maximum. Written as
/// selects on `>` (which compile to `max` instructions and masks instead of branches that
/// random data would mispredict), and vectorisable. A row of windows holding a NaN is redone
/// with the exact scan, which picks the last NaN.
fn max_plane_2x2<T: Float, const IDX: bool>(
    x: &[T],
    g: &Geometry,
    out: &mut [T],
    idx: &mut [usize],
) {
    let (w, ow) = (g.w, g.ow);
    for r in 0..g.oh {
        let base = 2 * r * w;
        let top = &x[base..base + 2 * ow];
        let bottom = &x[base + w..base + w + 2 * ow];
        let o_row = &mut out[r * ow..(r + 1) * ow];
        let mut nan = false;
        if IDX {
            let i_row = &mut idx[r * ow..(r + 1) * ow];
            for c in 0..ow {
                let j = 2 * c;
                let (t0, t1, b0, b1) = (top[j], top[j + 1], bottom[j], bottom[j + 1]);
                let right_t = t1 > t0;
                let mt = if right_t { t1 } else { t0 };
                let right_b = b1 > b0;
                let mb = if right_b { b1 } else { b0 };
                let lower = mb > mt;
                o_row[c] = if lower { mb } else { mt };
                nan |= t0.is_nan() | t1.is_nan() | b0.is_nan() | b1.is_nan();
                let at = j + usize::from(right_t);
                let ab = w + j + usize::from(right_b);
                i_row[c] = base + select_usize(lower, ab, at);
            }
        } else {
            let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (o, (t, b)) in o_row.iter_mut().zip(pairs) {
                let (t0, t1, b0, b1) = (t[0], t[1], b[0], b[1]);
                let mt = if t1 > t0 { t1 } else { t0 };
                let mb = if b1 > b0 { b1 } else { b0 };
                *o = if mb > mt { mb } else { mt };
                nan |= t0.is_nan() | t1.is_nan() | b0.is_nan() | b1.is_nan();
            }
        }
        if nan {
            for (c, o) in o_row.iter_mut().enumerate() {
                let j = base + 2 * c;
                let (mut m, mut a) = (x[j], j);
                for at in [j + 1, j + w, j + w + 1] {
                    (m, a) = pick(m, a, x[at], at);
                }
                *o = m;
                if IDX {
                    idx[r * ow + c] = a;
                }
            }
        }
    }
}

/// Average pooling of one plane.
fn avg_plane<T: Float>(x: &[T], g: &Geometry, p: &Pool2dParams, out: &mut [T]) {
    let w = g.w;
    if p.is_2x2_fast_path(g) {
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
            let divisor = if p.count_include_pad {
                span_h * span_w
            } else {
                (h1 - h0) * (w1 - w0)
            };
            let mut sum = T::zero();
            for ih in h0..h1 {
                for &v in &x[ih * w + w0..ih * w + w1] {
                    sum += v;
                }
            }
            *o = sum / T::of(divisor as f64);
        }
    }
}

/// Average-pooling backward of one plane: adds each output gradient, divided by its window's
/// divisor, to the window's input elements.
fn avg_backward_plane<T: Float>(go: &[T], g: &Geometry, p: &Pool2dParams, gi: &mut [T]) {
    let w = g.w;
    if p.is_2x2_fast_path(g) {
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
            let divisor = if p.count_include_pad {
                span_h * span_w
            } else {
                (h1 - h0) * (w1 - w0)
            };
            let delta = go[r * g.ow + c] / T::of(divisor as f64);
            for ih in h0..h1 {
                for v in &mut gi[ih * w + w0..ih * w + w1] {
                    *v += delta;
                }
            }
        }
    }
}

impl<T: Float> Tensor<T> {
    /// 2-D max pooling that also returns where each maximum was, like PyTorch's
    /// `F.max_pool2d(x, ..., return_indices=True)`.
    ///
    /// Each output element is the maximum of its window (`kernel_size` taps spaced by
    /// `dilation`, moved by `stride`); the implicit padding is `-inf`. Its index is the flat
    /// position `h * W + w` of that maximum within its `(n, c)` plane. On ties the first
    /// maximum in row-major window order wins; NaN counts as larger than everything (the
    /// output is NaN and the index is that of the window's last NaN, as in PyTorch).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`, or `[C, H, W]` (treated as `N = 1`, the output is 3-D too)
    /// - output: `[N, C, oh, ow]` with `[oh, ow]` from [`Pool2dParams::output_size`]
    /// - indices: one per output element, in the output's row-major order
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or has an empty plane, or for the parameter errors of
    /// [`Pool2dParams::output_size`] (zero kernel, stride or dilation, padding above half the
    /// kernel, window larger than the padded input).
    ///
    /// ```
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Tensor::<f32>::from_vec(
    ///     vec![1.0, 5.0, 2.0, 0.0,
    ///          3.0, 4.0, 7.0, 7.0,
    ///          0.0, 0.0, 1.0, 1.0,
    ///          9.0, 0.0, 1.0, 2.0],
    ///     &[1, 1, 4, 4],
    /// )?;
    /// let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new([2, 2]))?;
    /// assert_eq!(y.shape(), &[1, 1, 2, 2]);
    /// assert_eq!(y.to_vec(), vec![5.0, 7.0, 9.0, 2.0]);
    /// assert_eq!(idx, vec![1, 6, 12, 15]); // the tie 7, 7 goes to the first
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_pool2d_with_indices(
        &self,
        params: &Pool2dParams,
    ) -> Result<(Tensor<T>, Vec<usize>)> {
        self.max_pool2d_impl::<true>(params)
    }

    /// 2-D max pooling, like PyTorch's `F.max_pool2d` (see
    /// [`max_pool2d_with_indices`](Tensor::max_pool2d_with_indices) for the semantics; this
    /// variant does not record the argmax).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`max_pool2d_with_indices`](Tensor::max_pool2d_with_indices).
    ///
    /// ```
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Tensor::<f64>::arange(0.0, 25.0, 1.0)?.reshape(&[1, 5, 5])?;
    /// let p = Pool2dParams::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]);
    /// let y = x.max_pool2d(&p)?;
    /// assert_eq!(y.shape(), &[1, 3, 3]);
    /// assert_eq!(y.to_vec(), vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_pool2d(&self, params: &Pool2dParams) -> Result<Tensor<T>> {
        Ok(self.max_pool2d_impl::<false>(params)?.0)
    }

    fn max_pool2d_impl<const IDX: bool>(
        &self,
        params: &Pool2dParams,
    ) -> Result<(Tensor<T>, Vec<usize>)> {
        const OP: &str = "max_pool2d";
        let (mut shape, planes, [h, w]) = split_input(OP, self.shape())?;
        let [oh, ow] = params.output_size(OP, [h, w])?;
        shape.extend([oh, ow]);
        let g = Geometry {
            planes,
            h,
            w,
            oh,
            ow,
        };
        let total = checked_numel(OP, &shape)?;
        let x = row_major(self);
        let work =
            total.saturating_mul(params.kernel_size[0].saturating_mul(params.kernel_size[1]));
        let parallel = g.planes > 1 && work >= PARALLEL_MIN_WORK;
        let (pi, po) = (g.plane_in(), g.plane_out());
        // Every window writes its output (and argmax).
        let mut out = buffer::for_overwrite(total);
        let mut idx = buffer::for_overwrite(if IDX { total } else { 0 });
        if IDX {
            for_each_plane2(&mut out, &mut idx, po, parallel, |i, o, ix| {
                max_plane::<T, true>(&x[i * pi..(i + 1) * pi], &g, params, o, ix)
            });
        } else {
            for_each_plane(&mut out, po, parallel, |i, o| {
                max_plane::<T, false>(&x[i * pi..(i + 1) * pi], &g, params, o, &mut [])
            });
        }
        Ok((Tensor::from_vec(out, &shape)?, idx))
    }

    /// 2-D average pooling, like PyTorch's `F.avg_pool2d` (without `divisor_override`).
    ///
    /// Each output element is the sum of the input elements in its window divided by a
    /// divisor, computed exactly as PyTorch does. The window is first clipped to the padded
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
    /// `[1, 1]` (average pooling has no dilation), or for the parameter errors of
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
        const OP: &str = "avg_pool2d";
        let (mut shape, planes, [h, w]) = split_input(OP, self.shape())?;
        let [oh, ow] = avg_output_size(OP, params, [h, w])?;
        shape.extend([oh, ow]);
        let g = Geometry {
            planes,
            h,
            w,
            oh,
            ow,
        };
        let total = checked_numel(OP, &shape)?;
        let x = row_major(self);
        let work =
            total.saturating_mul(params.kernel_size[0].saturating_mul(params.kernel_size[1]));
        let parallel = g.planes > 1 && work >= PARALLEL_MIN_WORK;
        let (pi, po) = (g.plane_in(), g.plane_out());
        let mut out = buffer::zeros(total);
        for_each_plane(&mut out, po, parallel, |i, o| {
            avg_plane(&x[i * pi..(i + 1) * pi], &g, params, o)
        });
        Tensor::from_vec(out, &shape)
    }
}

/// [`Pool2dParams::output_size`] for average pooling, which refuses any dilation.
fn avg_output_size(op: &'static str, params: &Pool2dParams, hw: [usize; 2]) -> Result<[usize; 2]> {
    if params.dilation != [1, 1] {
        return Err(TensorError::invalid(
            op,
            format!(
                "average pooling has no dilation: expected dilation [1, 1], found {:?}",
                params.dilation
            ),
        ));
    }
    params.output_size(op, hw)
}

/// Checks that `grad_output` has the leading dims of `input_shape` and returns its `[oh, ow]`.
fn check_grad_output<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    input_shape: &[usize],
) -> Result<[usize; 2]> {
    let gs = grad_output.shape();
    let lead = &input_shape[..input_shape.len() - 2];
    if gs.len() != input_shape.len() || &gs[..lead.len()] != lead {
        return Err(TensorError::shape(
            op,
            format!(
                "grad_output of shape {gs:?} does not fit input shape {input_shape:?} \
                 (expected {}-D [{}, oh, ow])",
                input_shape.len(),
                lead.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok([gs[gs.len() - 2], gs[gs.len() - 1]])
}

/// The gradient of [`Tensor::max_pool2d_with_indices`] with respect to its input: each output
/// gradient is added to the input element its window's maximum came from (the first maximum on
/// ties), everything else gets zero.
///
/// `indices` is the second result of the forward call (flat positions within each plane);
/// `input_shape` is the shape of the forward input.
///
/// # Shapes
/// - `grad_output`: `[N, C, oh, ow]` (or `[C, oh, ow]` for a 3-D input)
/// - `indices`: `N * C * oh * ow` positions in `0..H * W`
/// - `input_shape`: `[N, C, H, W]` (or `[C, H, W]`); the result has this shape
///
/// # Errors
/// When `input_shape` is not a valid pooling input or has more elements than memory can hold
/// (see [`checked_numel`]), `grad_output` does not have its rank and
/// leading dims, `indices` has not one entry per element of `grad_output`, or an index is
/// outside the `H * W` plane.
///
/// ```
/// use ferrite_tensor::{max_pool2d_backward, Pool2dParams, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 7.0, 7.0], &[1, 1, 2, 4])?;
/// let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new([2, 2]))?;
/// let gy = Tensor::<f64>::from_vec(vec![10.0, 20.0], y.shape())?;
/// let gx = max_pool2d_backward(&gy, &idx, x.shape())?;
/// assert_eq!(gx.to_vec(), vec![0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]);
/// assert!(max_pool2d_backward(&gy, &idx[..1], x.shape()).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn max_pool2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    indices: &[usize],
    input_shape: &[usize],
) -> Result<Tensor<T>> {
    const OP: &str = "max_pool2d_backward";
    let (_, planes, [h, w]) = split_input(OP, input_shape)?;
    let total = checked_numel(OP, input_shape)?;
    let [oh, ow] = check_grad_output(OP, grad_output, input_shape)?;
    if indices.len() != grad_output.numel() {
        return Err(TensorError::shape(
            OP,
            format!(
                "expected one index per element of grad_output {:?} ({}), found {} indices",
                grad_output.shape(),
                grad_output.numel(),
                indices.len()
            ),
        ));
    }
    let plane_in = h * w;
    if let Some((at, &bad)) = indices.iter().enumerate().find(|&(_, &i)| i >= plane_in) {
        return Err(TensorError::invalid(
            OP,
            format!(
                "index {bad} at position {at} is outside the {h}x{w} input plane \
                 (expected below {plane_in})"
            ),
        ));
    }
    let plane_out = oh * ow;
    let gi = if plane_out > 0 {
        // Each plane is zeroed by the task that fills it (in parallel, while it is in
        // cache), not by one serial pass over the whole buffer first.
        let mut gi = buffer::for_overwrite(total);
        let go = row_major(grad_output);
        let parallel = planes > 1 && total.max(go.len()) >= PARALLEL_MIN_WORK;
        for_each_plane(&mut gi, plane_in, parallel, |i, g| {
            g.fill(T::zero());
            let range = i * plane_out..(i + 1) * plane_out;
            for (&v, &at) in go[range.clone()].iter().zip(&indices[range]) {
                g[at] += v;
            }
        });
        gi
    } else {
        buffer::zeros(total)
    };
    Tensor::from_vec(gi, input_shape)
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
    let (mut expected, planes, [h, w]) = split_input(OP, input_shape)?;
    let total = checked_numel(OP, input_shape)?;
    let [oh, ow] = avg_output_size(OP, params, [h, w])?;
    expected.extend([oh, ow]);
    if grad_output.shape() != expected.as_slice() {
        return Err(TensorError::shape(
            OP,
            format!(
                "expected grad_output of shape {expected:?} (the output for input shape \
                 {input_shape:?}), found {:?}",
                grad_output.shape()
            ),
        ));
    }
    let g = Geometry {
        planes,
        h,
        w,
        oh,
        ow,
    };
    let go = row_major(grad_output);
    let work = go
        .len()
        .saturating_mul(params.kernel_size[0].saturating_mul(params.kernel_size[1]));
    let parallel = planes > 1 && work >= PARALLEL_MIN_WORK;
    let (pi, po) = (g.plane_in(), g.plane_out());
    let mut gi = buffer::zeros(total);
    for_each_plane(&mut gi, pi, parallel, |i, gp| {
        avg_backward_plane(&go[i * po..(i + 1) * po], &g, params, gp)
    });
    Tensor::from_vec(gi, input_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use rand::Rng as _;
    use rand::seq::SliceRandom;

    #[test]
    fn parameters_above_isize_max_are_refused() {
        // Before: (kernel - 1) * dilation wrapped when cast to isize and the only window
        // came out empty (-inf).
        let x = Tensor::<f32>::from_vec(vec![5.0], &[1, 1, 1, 1]).unwrap();
        let p = Pool2dParams::new([usize::MAX, 1]).with_padding([usize::MAX / 2, 0]);
        assert_eq!(
            x.max_pool2d(&p).unwrap_err().to_string(),
            "max_pool2d: kernel_size should be at most isize::MAX (9223372036854775807), \
             found [18446744073709551615, 1]"
        );
        let p = Pool2dParams::new([1, 1]).with_stride([1, usize::MAX]);
        assert!(x.avg_pool2d(&p).unwrap_err().to_string().contains("stride"));
        // The largest accepted kernel still finds the one element.
        let big = isize::MAX as usize;
        let p = Pool2dParams::new([big, 1]).with_padding([big / 2, 0]);
        assert_eq!(x.max_pool2d(&p).unwrap().to_vec(), vec![5.0]);
    }

    #[test]
    fn backward_refuses_an_input_shape_beyond_memory() {
        let g = Tensor::<f32>::zeros(&[1, 1, 1, 1]);
        let shape = [1, 1, 1 << 31, 1 << 31];
        let err = max_pool2d_backward(&g, &[0], &shape).unwrap_err();
        assert!(
            err.to_string().contains("[1, 1, 2147483648, 2147483648]"),
            "{err}"
        );
        let p = Pool2dParams::new([1 << 31, 1 << 31]);
        let err = avg_pool2d_backward(&g, &shape, &p).unwrap_err();
        assert!(
            err.to_string().contains("[1, 1, 2147483648, 2147483648]"),
            "{err}"
        );
    }

    /// Number of windows along one axis, counted one window at a time: in floor mode a window
    /// must lie inside the padded input; in ceil mode it may hang over the end by less than a
    /// stride, but must start inside the input or the left padding.
    fn naive_len(n: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> usize {
        let (n, k, s, p, d) = (n as i64, k as i64, s as i64, p as i64, d as i64);
        let span = d * (k - 1) + 1;
        let padded = n + 2 * p;
        let mut count = 0;
        loop {
            let start = count * s; // in padded coordinates
            let fits = if ceil {
                start + span < padded + s && start < n + p
            } else {
                start + span <= padded
            };
            if !fits {
                return count as usize;
            }
            count += 1;
        }
    }

    /// A tap-by-tap reference: every window tap is checked against the input bounds.
    fn naive_pool(
        x: &[f64],
        shape: &[usize],
        p: &Pool2dParams,
        max: bool,
    ) -> (Vec<f64>, Vec<usize>, [usize; 2]) {
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let planes: usize = shape[..shape.len() - 2].iter().product();
        let d = if max { p.dilation } else { [1, 1] };
        let oh = naive_len(
            h,
            p.kernel_size[0],
            p.stride[0],
            p.padding[0],
            d[0],
            p.ceil_mode,
        );
        let ow = naive_len(
            w,
            p.kernel_size[1],
            p.stride[1],
            p.padding[1],
            d[1],
            p.ceil_mode,
        );
        let (mut out, mut idx) = (Vec::new(), Vec::new());
        for plane in 0..planes {
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            for r in 0..oh {
                for c in 0..ow {
                    let y0 = (r * p.stride[0]) as i64 - p.padding[0] as i64;
                    let x0 = (c * p.stride[1]) as i64 - p.padding[1] as i64;
                    let (mut best, mut arg) = (f64::NEG_INFINITY, None::<usize>);
                    let (mut sum, mut real, mut padded) = (0.0, 0usize, 0usize);
                    for i in 0..p.kernel_size[0] {
                        for j in 0..p.kernel_size[1] {
                            let y = y0 + (i * d[0]) as i64;
                            let xx = x0 + (j * d[1]) as i64;
                            let pad = [p.padding[0] as i64, p.padding[1] as i64];
                            if y >= -pad[0]
                                && y < h as i64 + pad[0]
                                && xx >= -pad[1]
                                && xx < w as i64 + pad[1]
                            {
                                padded += 1;
                            }
                            if y < 0 || xx < 0 || y >= h as i64 || xx >= w as i64 {
                                continue;
                            }
                            let at = y as usize * w + xx as usize;
                            let v = xp[at];
                            real += 1;
                            sum += v;
                            if arg.is_none() {
                                arg = Some(at); // the first real tap, even if it is -inf
                            }
                            if v > best || v.is_nan() {
                                best = v;
                                arg = Some(at);
                            }
                        }
                    }
                    if max {
                        let fallback = || {
                            let (mut y, mut xx) = (y0, x0);
                            while y < 0 {
                                y += d[0] as i64;
                            }
                            while xx < 0 {
                                xx += d[1] as i64;
                            }
                            (y as usize).min(h - 1) * w + (xx as usize).min(w - 1)
                        };
                        out.push(best);
                        idx.push(arg.unwrap_or_else(fallback));
                    } else {
                        let divisor = if p.count_include_pad { padded } else { real };
                        out.push(if real == 0 { 0.0 } else { sum / divisor as f64 });
                    }
                }
            }
        }
        (out, idx, [oh, ow])
    }

    const SPECIAL: [f64; 5] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0];

    /// The bit patterns of a tensor's elements (NaN equals NaN, -0.0 differs from 0.0).
    fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
        t.to_vec().iter().map(|v| v.as_f64().to_bits()).collect()
    }

    fn bits64(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn random_params(rng: &mut crate::Rng, max: bool) -> Pool2dParams {
        if rng.random_range(0..5) == 0 {
            return Pool2dParams::new([2, 2]).with_ceil_mode(rng.random());
        }
        let k = [rng.random_range(1..=4), rng.random_range(1..=4)];
        let s = [rng.random_range(1..=3), rng.random_range(1..=3)];
        let pad = [
            rng.random_range(0..=k[0] / 2),
            rng.random_range(0..=k[1] / 2),
        ];
        let d = if max {
            [rng.random_range(1..=3), rng.random_range(1..=3)]
        } else {
            [1, 1]
        };
        Pool2dParams::new(k)
            .with_stride(s)
            .with_padding(pad)
            .with_dilation(d)
            .with_ceil_mode(rng.random())
            .with_count_include_pad(rng.random())
    }

    fn random_shape(rng: &mut crate::Rng) -> Vec<usize> {
        let (h, w) = (rng.random_range(1..=9), rng.random_range(1..=9));
        if rng.random_range(0..4) == 0 {
            vec![rng.random_range(1..=3), h, w]
        } else {
            vec![rng.random_range(1..=2), rng.random_range(1..=3), h, w]
        }
    }

    #[test]
    fn forward_matches_the_tap_by_tap_reference() {
        let mut rng = seeded_rng(7);
        let mut checked = [0usize; 2];
        for case in 0..3000 {
            let max = case % 2 == 0;
            let p = random_params(&mut rng, max);
            let shape = random_shape(&mut rng);
            // Integer-valued inputs make ties common; some inputs get NaN, infinities and
            // signed zeros.
            let mut v = Tensor::<f64>::randn(&shape, &mut rng).to_vec();
            if rng.random() {
                v.iter_mut().for_each(|e| *e = (*e * 2.0).round());
            }
            if rng.random_range(0..3) == 0 {
                for _ in 0..rng.random_range(1..=3) {
                    let at = rng.random_range(0..v.len());
                    v[at] = SPECIAL[rng.random_range(0..SPECIAL.len())];
                }
            }
            let x = Tensor::from_vec(v, &shape).unwrap();
            let (want, want_idx, [oh, ow]) = naive_pool(&x.to_vec(), &shape, &p, max);
            let hw = [shape[shape.len() - 2], shape[shape.len() - 1]];
            let ctx = format!("{p:?} on {shape:?}");
            if oh == 0 || ow == 0 {
                assert!(p.output_size("t", hw).is_err(), "{ctx}");
                let got = if max {
                    x.max_pool2d(&p)
                } else {
                    x.avg_pool2d(&p)
                };
                assert!(got.is_err(), "{ctx}");
                continue;
            }
            assert_eq!(p.output_size("t", hw).unwrap(), [oh, ow], "{ctx}");
            let mut out_shape = shape[..shape.len() - 2].to_vec();
            out_shape.extend([oh, ow]);
            if max {
                let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
                assert_eq!(y.shape(), out_shape.as_slice(), "{ctx}");
                assert_eq!(bits(&y), bits64(&want), "{ctx}");
                assert_eq!(idx, want_idx, "{ctx}");
                assert_eq!(bits(&x.max_pool2d(&p).unwrap()), bits(&y), "{ctx}");
                // f32 takes the same path: same values, same indices.
                let (y32, idx32) = x.cast::<f32>().max_pool2d_with_indices(&p).unwrap();
                assert_eq!(bits(&y32), bits(&y.cast::<f32>()), "{ctx}");
                assert_eq!(idx32, idx, "{ctx}");
            } else {
                let y = x.avg_pool2d(&p).unwrap();
                assert_eq!(y.shape(), out_shape.as_slice(), "{ctx}");
                // Same summation order as the reference: bit-identical.
                assert_eq!(bits(&y), bits64(&want), "{ctx}");
            }
            checked[usize::from(max)] += 1;
        }
        assert!(checked[0] > 900 && checked[1] > 900, "{checked:?}");
    }

    /// `<f(x), g> = <x, f'(g)>` for the linear map of average pooling and for max pooling
    /// with its argmax fixed.
    #[test]
    fn backward_is_the_adjoint_of_forward() {
        let mut rng = seeded_rng(11);
        for case in 0..2000 {
            let max = case % 2 == 0;
            let p = random_params(&mut rng, max);
            let shape = random_shape(&mut rng);
            let x = Tensor::<f64>::randn(&shape, &mut rng);
            let (y, gx, g) = if max {
                let Ok((y, idx)) = x.max_pool2d_with_indices(&p) else {
                    continue;
                };
                if !y.all_finite() {
                    continue; // a window without input elements
                }
                let g = Tensor::<f64>::randn(y.shape(), &mut rng);
                (y, max_pool2d_backward(&g, &idx, &shape).unwrap(), g)
            } else {
                let Ok(y) = x.avg_pool2d(&p) else { continue };
                let g = Tensor::<f64>::randn(y.shape(), &mut rng);
                (y, avg_pool2d_backward(&g, &shape, &p).unwrap(), g)
            };
            assert_eq!(gx.shape(), shape.as_slice());
            let lhs: f64 = y.to_vec().iter().zip(g.to_vec()).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.to_vec().iter().zip(gx.to_vec()).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-10 * (1.0 + lhs.abs()),
                "{p:?} {shape:?}: {lhs} vs {rhs}"
            );
        }
    }

    /// Central differences of `sum(pool(x) * g)` against the backward kernels.
    fn check_finite_differences(x: &Tensor<f64>, p: &Pool2dParams, max: bool, seed: u64) {
        let forward = |t: &Tensor<f64>| {
            if max {
                t.max_pool2d(p).unwrap()
            } else {
                t.avg_pool2d(p).unwrap()
            }
        };
        let y = forward(x);
        let g = Tensor::<f64>::randn(y.shape(), &mut seeded_rng(seed));
        let analytic = if max {
            let (_, idx) = x.max_pool2d_with_indices(p).unwrap();
            max_pool2d_backward(&g, &idx, x.shape()).unwrap()
        } else {
            avg_pool2d_backward(&g, x.shape(), p).unwrap()
        };
        let loss = |t: &Tensor<f64>| -> f64 {
            forward(t)
                .to_vec()
                .iter()
                .zip(g.to_vec())
                .map(|(a, b)| a * b)
                .sum()
        };
        let eps = 1e-6;
        let base = x.to_vec();
        for (i, &want) in analytic.to_vec().iter().enumerate() {
            let mut plus = base.clone();
            plus[i] += eps;
            let mut minus = base.clone();
            minus[i] -= eps;
            let fp = loss(&Tensor::from_vec(plus, x.shape()).unwrap());
            let fm = loss(&Tensor::from_vec(minus, x.shape()).unwrap());
            let numeric = (fp - fm) / (2.0 * eps);
            assert!(
                (numeric - want).abs() < 1e-6,
                "{p:?} element {i}: numeric {numeric} vs analytic {want}"
            );
        }
    }

    #[test]
    fn avg_backward_matches_finite_differences() {
        let configs = [
            Pool2dParams::new([2, 2]),
            Pool2dParams::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1]),
            Pool2dParams::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_ceil_mode(true),
            Pool2dParams::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_ceil_mode(true)
                .with_count_include_pad(false),
            Pool2dParams::new([3, 2])
                .with_stride([2, 1])
                .with_padding([1, 0]),
        ];
        for (i, p) in configs.iter().enumerate() {
            let x = Tensor::<f64>::randn(&[2, 2, 6, 7], &mut seeded_rng(i as u64));
            check_finite_differences(&x, p, false, 100 + i as u64);
        }
    }

    #[test]
    fn max_backward_matches_finite_differences_without_ties() {
        let configs = [
            Pool2dParams::new([2, 2]),
            Pool2dParams::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1]),
            Pool2dParams::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_ceil_mode(true),
            Pool2dParams::new([2, 3])
                .with_stride([1, 2])
                .with_dilation([2, 2]),
            Pool2dParams::new([2, 2]).with_ceil_mode(true),
        ];
        for (i, p) in configs.iter().enumerate() {
            // Distinct values 0.1 apart: no ties, and eps never changes the argmax.
            let mut v: Vec<f64> = (0..2 * 2 * 7 * 7).map(|k| k as f64 * 0.1 - 5.0).collect();
            v.shuffle(&mut seeded_rng(i as u64));
            let x = Tensor::from_vec(v, &[2, 2, 7, 7]).unwrap();
            check_finite_differences(&x, p, true, 200 + i as u64);
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum() {
        let x = Tensor::<f64>::from_vec(
            vec![
                1.0, 3.0, 3.0, 3.0, //
                3.0, 3.0, 0.0, 3.0, //
                2.0, 2.0, 5.0, 5.0, //
                2.0, 2.0, 5.0, 5.0,
            ],
            &[1, 1, 4, 4],
        )
        .unwrap();
        // Fast path (2x2, stride 2) and general path (3x3, stride 1) both keep the first.
        let (y, idx) = x
            .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
            .unwrap();
        assert_eq!(y.to_vec(), vec![3.0, 3.0, 2.0, 5.0]);
        assert_eq!(idx, vec![1, 2, 8, 10]);
        let g = Tensor::<f64>::ones(&[1, 1, 2, 2]);
        let gx = max_pool2d_backward(&g, &idx, x.shape()).unwrap();
        assert_eq!(
            gx.to_vec(),
            vec![
                0., 1., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.
            ]
        );
        let p = Pool2dParams::new([3, 3]).with_stride([1, 1]);
        let (_, idx) = x.max_pool2d_with_indices(&p).unwrap();
        assert_eq!(idx, vec![10, 10, 10, 10]);
        // A constant input with padding: every window answers its first real tap.
        let c = Tensor::<f32>::full(&[1, 3, 3], -2.0);
        let p = Pool2dParams::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]);
        let (y, idx) = c.max_pool2d_with_indices(&p).unwrap();
        assert_eq!(y.shape(), &[1, 3, 3]);
        assert_eq!(y.to_vec(), vec![-2.0; 9]);
        assert_eq!(idx, vec![0, 0, 1, 0, 0, 1, 3, 3, 4]);
        // All -inf: the first tap too.
        let m = Tensor::<f32>::full(&[1, 1, 2, 2], f32::NEG_INFINITY);
        let (y, idx) = m
            .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
            .unwrap();
        assert_eq!((y.to_vec(), idx), (vec![f32::NEG_INFINITY], vec![0]));
    }

    #[test]
    fn nan_propagates_like_pytorch() {
        let x = Tensor::<f32>::from_vec(
            vec![1.0, f32::NAN, f32::NAN, 2.0, 0.0, 0.0, 0.0, 7.0],
            &[1, 2, 4],
        )
        .unwrap();
        for p in [
            Pool2dParams::new([2, 2]),
            Pool2dParams::new([2, 2]).with_padding([1, 1]),
        ] {
            let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
            let y = y.to_vec();
            assert!(y[0].is_nan() || y[1].is_nan(), "{p:?}: {y:?}");
            for (v, &i) in y.iter().zip(&idx) {
                if v.is_nan() {
                    assert!(i == 1 || i == 2, "{p:?}");
                }
            }
        }
        // Within one window, the last NaN is recorded (PyTorch's `val > max || isnan(val)`).
        let (y, idx) = x
            .max_pool2d_with_indices(&Pool2dParams::new([2, 4]))
            .unwrap();
        assert!(y.to_vec()[0].is_nan());
        assert_eq!(idx, vec![2]);
        assert!(x.avg_pool2d(&Pool2dParams::new([2, 2])).unwrap().to_vec()[0].is_nan());
    }

    #[test]
    fn windows_without_input_elements_do_not_panic() {
        // Taps at -1 and 1 of a 1-pixel input: PyTorch answers -inf.
        let x = Tensor::<f64>::full(&[1, 1, 1, 1], 3.0);
        let p = Pool2dParams::new([2, 2])
            .with_padding([1, 1])
            .with_dilation([2, 2]);
        let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
        assert_eq!(y.to_vec(), vec![f64::NEG_INFINITY]);
        assert_eq!(idx, vec![0]);
        let gx =
            max_pool2d_backward(&Tensor::<f64>::ones(&[1, 1, 1, 1]), &idx, &[1, 1, 1, 1]).unwrap();
        assert_eq!(gx.shape(), &[1, 1, 1, 1]);
    }

    #[test]
    fn strided_inputs_and_empty_batches() {
        let x = Tensor::<f64>::randn(&[2, 3, 6, 5], &mut seeded_rng(3));
        // [2, 3, 5, 6] with swapped strides: not row-major.
        let t = Tensor::from_array(x.into_array().permuted_axes(ndarray::IxDyn(&[0, 1, 3, 2])));
        assert!(t.as_slice().is_none());
        let p = Pool2dParams::new([3, 2])
            .with_stride([1, 2])
            .with_padding([1, 1]);
        assert_eq!(
            t.max_pool2d(&p).unwrap(),
            t.contiguous().max_pool2d(&p).unwrap()
        );
        assert_eq!(
            t.avg_pool2d(&p).unwrap(),
            t.contiguous().avg_pool2d(&p).unwrap()
        );
        let e = Tensor::<f32>::zeros(&[0, 3, 4, 4]);
        let (y, idx) = e
            .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
            .unwrap();
        assert_eq!((y.shape(), idx.len()), (&[0, 3, 2, 2][..], 0));
        assert_eq!(
            e.avg_pool2d(&Pool2dParams::new([2, 2])).unwrap().shape(),
            &[0, 3, 2, 2]
        );
        let g = max_pool2d_backward(&y, &idx, &[0, 3, 4, 4]).unwrap();
        assert_eq!(g.shape(), &[0, 3, 4, 4]);
    }

    /// Runs `f` on a pool of `threads` threads.
    fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut v = Tensor::<f32>::randn(&[4, 16, 32, 31], &mut seeded_rng(5)).to_vec();
        for at in [7, 4000, 4001, 20_000] {
            v[at] = f32::NAN; // exercises the NaN fallbacks inside the parallel kernels
        }
        let x = Tensor::from_vec(v, &[4, 16, 32, 31]).unwrap();
        for p in [
            Pool2dParams::new([2, 2]),
            Pool2dParams::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_ceil_mode(true),
        ] {
            let run = || {
                let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
                let gy = y.map(|v| v * 0.5 + 0.25);
                let gmax = max_pool2d_backward(&gy, &idx, x.shape()).unwrap();
                let a = x.avg_pool2d(&p).unwrap();
                let gavg = avg_pool2d_backward(&a, x.shape(), &p).unwrap();
                (bits(&y), idx, bits(&gmax), bits(&a), bits(&gavg))
            };
            let one = with_threads(1, run);
            let four = with_threads(4, run);
            assert!(one == four, "{p:?}");
            // And the parallel result is the reference's.
            let (want, want_idx, _) = naive_pool(&x.cast::<f64>().to_vec(), x.shape(), &p, true);
            let want: Vec<u64> = want
                .iter()
                .map(|&v| (v as f32).as_f64().to_bits())
                .collect();
            assert!(four.0 == want && four.1 == want_idx, "{p:?}");
        }
    }

    fn message<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn refuses_bad_inputs_and_parameters() {
        let x = Tensor::<f32>::zeros(&[1, 1, 4, 4]);
        let p = Pool2dParams::new([2, 2]);
        let m = message(Tensor::<f32>::zeros(&[4, 4]).max_pool2d(&p));
        assert!(
            m.starts_with("max_pool2d: expected a 3-D") && m.contains("[4, 4]"),
            "{m}"
        );
        let m = message(Tensor::<f32>::zeros(&[1, 1, 1, 4, 4]).avg_pool2d(&p));
        assert!(
            m.starts_with("avg_pool2d: expected a 3-D") && m.contains("[1, 1, 1, 4, 4]"),
            "{m}"
        );
        let m = message(Tensor::<f32>::zeros(&[1, 0, 4, 4]).max_pool2d(&p));
        assert!(m.contains("[1, 0, 4, 4]"), "{m}");
        let m = message(x.max_pool2d(&Pool2dParams::new([0, 2])));
        assert_eq!(
            m,
            "max_pool2d: kernel_size should be greater than zero, found [0, 2]"
        );
        let m = message(x.avg_pool2d(&p.with_stride([2, 0])));
        assert_eq!(
            m,
            "avg_pool2d: stride should be greater than zero, found [2, 0]"
        );
        let m = message(x.max_pool2d(&p.with_dilation([0, 1])));
        assert_eq!(
            m,
            "max_pool2d: dilation should be greater than zero, found [0, 1]"
        );
        let m = message(x.max_pool2d(&Pool2dParams::new([3, 3]).with_padding([2, 1])));
        assert!(
            m.starts_with("max_pool2d: pad should be at most half of effective kernel size"),
            "{m}"
        );
        assert!(m.contains("[2, 1]") && m.contains("[1, 1])"), "{m}");
        // Dilation does not relax the limit (PyTorch checks pad <= kernel / 2).
        assert!(
            x.max_pool2d(&p.with_padding([2, 0]).with_dilation([3, 1]))
                .is_err()
        );
        let m = message(x.max_pool2d(&Pool2dParams::new([5, 2])));
        assert!(
            m.starts_with("max_pool2d: output size is too small") && m.contains("[0, 2]"),
            "{m}"
        );
        let m = message(x.avg_pool2d(&p.with_dilation([2, 2])));
        assert!(
            m.starts_with("avg_pool2d: average pooling has no dilation"),
            "{m}"
        );
        let m = message(p.output_size("max_pool2d", [0, 3]));
        assert!(m.contains("[0, 3]"), "{m}");

        let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
        let m = message(max_pool2d_backward(&y, &idx[..3], x.shape()));
        assert!(
            m.starts_with("max_pool2d_backward: expected one index per element")
                && m.contains("found 3"),
            "{m}"
        );
        let mut bad = idx.clone();
        bad[2] = 16;
        let m = message(max_pool2d_backward(&y, &bad, x.shape()));
        assert!(
            m.starts_with("max_pool2d_backward: index 16 at position 2"),
            "{m}"
        );
        let m = message(max_pool2d_backward(&y, &idx, &[1, 2, 4, 4]));
        assert!(
            m.starts_with("max_pool2d_backward: grad_output of shape [1, 1, 2, 2]"),
            "{m}"
        );
        let m = message(max_pool2d_backward(&y, &idx, &[1, 4, 4]));
        assert!(m.contains("expected 3-D [1, oh, ow]"), "{m}");
        assert!(max_pool2d_backward(&y, &idx, &[4, 4]).is_err());
        let m = message(avg_pool2d_backward(&y, &[1, 1, 6, 6], &p));
        assert!(
            m.starts_with("avg_pool2d_backward: expected grad_output of shape [1, 1, 3, 3]")
                && m.ends_with("found [1, 1, 2, 2]"),
            "{m}"
        );
        assert!(avg_pool2d_backward(&y, &[1, 1, 4, 4], &p.with_stride([0, 1])).is_err());
        assert!(avg_pool2d_backward(&y, &[1, 1, 4, 4], &p).is_ok());
    }

    #[test]
    fn output_size_follows_pytorch() {
        let size = |p: Pool2dParams, hw| p.output_size("t", hw).unwrap();
        assert_eq!(size(Pool2dParams::new([2, 2]), [28, 27]), [14, 13]);
        assert_eq!(
            size(Pool2dParams::new([2, 2]).with_ceil_mode(true), [28, 27]),
            [14, 14]
        );
        // ceil_mode may give one window even when the kernel overhangs the input...
        let p = Pool2dParams::new([4, 4])
            .with_stride([2, 2])
            .with_ceil_mode(true);
        assert_eq!(size(p, [3, 3]), [1, 1]);
        assert!(p.with_ceil_mode(false).output_size("t", [3, 3]).is_err());
        // ...but the last window must start inside the input or the left padding.
        let p = Pool2dParams::new([2, 2])
            .with_padding([1, 1])
            .with_ceil_mode(true);
        assert_eq!(size(p, [5, 4]), [3, 3]);
        let p = Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_dilation([2, 1]);
        assert_eq!(size(p, [9, 9]), [3, 4]);
    }
}
