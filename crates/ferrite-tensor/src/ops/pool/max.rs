//! Max pooling: the forward kernels (with or without the argmax) and the backward, which
//! sends each output gradient to its window's argmax.

use super::{
    Geometry, PARALLEL_MIN_WORK, Pool2dParams, PoolProblem, for_each_plane, for_each_plane2,
    row_major, split_input,
};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Float, Result, Tensor, TensorError, buffer, checked_numel};

/// Windows processed together by the interior loop of [`max_plane`].
const BLOCK: usize = 64;

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
pub(super) fn pick<T: Float>(m: T, a: usize, v: T, b: usize) -> (T, usize) {
    let take = beats(v, m);
    (if take { v } else { m }, select_usize(take, b, a))
}

/// Max pooling of one plane; writes the argmax of each window to `idx` when `IDX`.
///
/// Each window is scanned in row-major order with [`pick`], as PyTorch does. For the columns
/// whose windows lie inside the input, one row of windows is processed tap by tap across all
/// its windows (the same comparisons in the same order per window, but independent from one
/// window to the next, so they pipeline and vectorise); the border columns are scanned one
/// window at a time.
///
/// Inlined into the per-plane closure: called as a function of its own, LLVM compiled the
/// 2x2 path with about 35% more instructions (W4, callgrind).
#[inline(always)]
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
    // The columns whose windows lie inside the input along the width.
    let (lo, hi) = g.window.axis(1).interior(ow, w);
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
            nan |= max_block::<T, IDX>(x, w, p, (h0, h1), start, maxima, argmax);
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

/// Max pooling of the interior windows `start..start + maxima.len()` of one output row
/// (input rows `h0..h1`, every `dh`-th), tap by tap across the block: the same comparisons
/// in the same order per window as the exact scan, with plain `>`. Returns whether a tap
/// was NaN (the row is then redone exactly).
#[inline(always)]
fn max_block<T: Float, const IDX: bool>(
    x: &[T],
    w: usize,
    p: &Pool2dParams,
    (h0, h1): (usize, usize),
    start: usize,
    maxima: &mut [T],
    argmax: &mut [usize],
) -> bool {
    let (kw, sw, pw) = (p.kernel_size[1], p.stride[1], p.padding[1]);
    let [dh, dw] = p.dilation;
    let mut nan = false;
    let mut taps = [T::zero(); BLOCK];
    let taps = &mut taps[..maxima.len()];
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
    nan
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
///
/// Inlined into [`max_plane`] (and so into the per-plane closure), as it was before the pool
/// split: as a function of its own it ran W4's two pools about 35% slower (0.44 against 0.33 ms
/// for the first, same instructions executed).
#[inline(always)]
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
        let problem = PoolProblem::new("max_pool2d", self.shape(), params)?;
        let (g, total, parallel) = (problem.geom, problem.output_len, problem.parallel);
        let x = row_major(self);
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
        Ok((Tensor::from_vec(out, &problem.output_shape)?, idx))
    }
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
    // `split_input` refuses empty planes, so every index is checked below.
    debug_assert!(plane_in > 0);
    let plane_out = oh * ow;
    let gi = if plane_out > 0 {
        // Each plane is zeroed and its indices checked by the task that fills it (in
        // parallel, while they are in cache), not by serial passes over the whole buffers
        // first: the serial check of W4's indices had cost 1.5% of its step.
        let mut gi = buffer::for_overwrite(total);
        let go = row_major(grad_output);
        let parallel = planes > 1 && total.max(go.len()) >= PARALLEL_MIN_WORK;
        let out_of_plane = AtomicBool::new(false);
        for_each_plane(&mut gi, plane_in, parallel, |i, g| {
            let range = i * plane_out..(i + 1) * plane_out;
            let picks = &indices[range.clone()];
            if picks.iter().fold(0, |m, &at| m.max(at)) >= plane_in {
                out_of_plane.store(true, Ordering::Relaxed);
                return;
            }
            g.fill(T::zero());
            for (&v, &at) in go[range].iter().zip(picks) {
                g[at] += v;
            }
        });
        if out_of_plane.into_inner() {
            return Err(index_outside_plane(indices, [h, w]));
        }
        gi
    } else {
        buffer::zeros(total)
    };
    Tensor::from_vec(gi, input_shape)
}

/// The error for the first of `indices` outside an `h x w` plane (there is one).
fn index_outside_plane(indices: &[usize], [h, w]: [usize; 2]) -> TensorError {
    let plane_in = h * w;
    let (at, bad) = indices
        .iter()
        .enumerate()
        .find(|&(_, &i)| i >= plane_in)
        .map_or((0, 0), |(at, &i)| (at, i));
    TensorError::invalid(
        "max_pool2d_backward",
        format!(
            "index {bad} at position {at} is outside the {h}x{w} input plane \
             (expected below {plane_in})"
        ),
    )
}
