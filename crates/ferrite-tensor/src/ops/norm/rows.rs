//! The kernel shared by layer and group normalisation: each "row" of contiguous elements is
//! normalised with its own mean and biased variance, then scaled and shifted by affine
//! parameters that depend on the position in the row (layer norm: one per element; group
//! norm: one per channel of `inner` consecutive elements).
//!
//! Statistics take two passes per row (the mean, then the squared deviations from it: no
//! cancellation); the backward is the fused closed form, two passes per row. Arithmetic is in
//! the element type, the sums over lanes that vectorise ([`lanes`]); the per-row statistics
//! are kept as `f64` (exactly the element type's values). Rows are independent: large inputs
//! are spread over rayon's threads in blocks of rows of a fixed size, so results do not
//! depend on the number of threads.

use rayon::prelude::*;

use crate::{Float, Result, Tensor, TensorError, buffer, lanes};

/// Elements below which the kernels stay on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;
/// Elements per block of rows given to one task (rounded up to whole rows).
const BLOCK: usize = 1 << 13;

/// How the elements of an input split into rows and how the affine parameters map onto a
/// row: a row is `segs` segments of `inner` consecutive elements, segment `s` of row `r`
/// uses parameter `(r % period) · segs + s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowLayout {
    pub rows: usize,
    pub segs: usize,
    pub inner: usize,
    pub period: usize,
}

impl RowLayout {
    fn len(&self) -> usize {
        self.segs * self.inner
    }
    fn params(&self) -> usize {
        self.period * self.segs
    }
    /// Rows per parallel block (at least one).
    fn block_rows(&self) -> usize {
        (BLOCK / self.len().max(1)).max(1)
    }
    fn parallel(&self) -> bool {
        self.rows > 1 && self.rows * self.len() >= PARALLEL_MIN
    }
}

/// What [`Tensor::layer_norm`] and [`Tensor::group_norm`] compute.
#[derive(Debug, Clone)]
pub struct NormOutput<T: Float> {
    /// The normalised input, in the input's shape.
    pub output: Tensor<T>,
    /// What [`layer_norm_backward`](crate::layer_norm_backward) or
    /// [`group_norm_backward`](crate::group_norm_backward) needs.
    pub saved: NormSaved<T>,
}

/// What the forward of layer or group norm keeps for its backward: the input, the
/// per-row mean and `1 / sqrt(var + eps)`, and the weight (built by the forward only).
#[derive(Debug, Clone)]
pub struct NormSaved<T: Float> {
    pub(super) op: &'static str,
    pub(super) input: Tensor<T>,
    pub(super) layout: RowLayout,
    pub(super) param_shape: Vec<usize>,
    pub(super) mean: Vec<f64>,
    pub(super) rstd: Vec<f64>,
    /// The weight, ones when the forward had none.
    pub(super) weight: Vec<T>,
}

impl<T: Float> NormSaved<T> {
    /// The mean of each normalised row (layer norm: each position of the leading dims;
    /// group norm: each `(n, group)`), as PyTorch's `native_layer_norm` returns it.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 20.0], &[2, 2])?;
    /// let ln = x.layer_norm(&[2], None, None, 1e-5)?;
    /// assert_eq!(ln.saved.mean(), &[2.0, 15.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// `1 / sqrt(var + eps)` of each normalised row (biased variance).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[1, 2])?;
    /// let ln = x.layer_norm(&[2], None, None, 0.0)?;
    /// assert_eq!(ln.saved.rstd(), &[1.0]); // variance 1
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn rstd(&self) -> &[f64] {
        &self.rstd
    }
}

/// Gradients of layer or group norm; a field is `None` when not requested (or, for weight
/// and bias, when the forward had none).
#[derive(Debug, Clone)]
pub struct NormGrads<T: Float> {
    /// Gradient with respect to the input, in the input's shape.
    pub input: Option<Tensor<T>>,
    /// Gradient with respect to the weight, in its shape.
    pub weight: Option<Tensor<T>>,
    /// Gradient with respect to the bias, in its shape.
    pub bias: Option<Tensor<T>>,
}

/// An optional affine parameter's values, checked to have shape `want`.
pub(super) fn param<T: Float>(
    op: &'static str,
    name: &str,
    t: Option<&Tensor<T>>,
    want: &[usize],
    input_shape: &[usize],
) -> Result<Option<Vec<T>>> {
    let Some(t) = t else { return Ok(None) };
    if t.shape() != want {
        return Err(TensorError::shape(
            op,
            format!(
                "expected {name} of shape {want:?}, found {:?} (input {input_shape:?})",
                t.shape()
            ),
        ));
    }
    Ok(Some(t.row_major().into_owned()))
}

/// Mean and biased variance of one row: the mean, then the mean squared deviation from it.
fn row_stats<T: Float>(row: &[T]) -> (T, T) {
    if row.is_empty() {
        return (T::nan(), T::nan());
    }
    let n = T::of(row.len() as f64);
    let mean = lanes::sum_map(row, |x| x) / n;
    let var = lanes::sum_map(row, |x| (x - mean) * (x - mean)) / n;
    (mean, var)
}

/// Normalises every row of `x` (contiguous rows of `layout.len()` elements).
pub(super) fn normalize<T: Float>(
    op: &'static str,
    x: &Tensor<T>,
    layout: RowLayout,
    param_shape: Vec<usize>,
    (weight, bias): (Option<Vec<T>>, Option<Vec<T>>),
    eps: f64,
) -> Result<NormOutput<T>> {
    let xs = x.row_major();
    let len = layout.len();
    let mut out = buffer::for_overwrite(xs.len());
    let mut mean = vec![0.0; layout.rows];
    let mut rstd = vec![0.0; layout.rows];
    // Absent parameters as ones and zeros: one loop shape for every case.
    let params = layout.params();
    let weight = weight.unwrap_or_else(|| vec![T::one(); params]);
    let bias = bias.unwrap_or_else(|| vec![T::zero(); params]);
    let block = layout.block_rows();
    let run = |bi: usize, (o, (m, r)): (&mut [T], (&mut [f64], &mut [f64]))| {
        for (k, (o_row, (m, r))) in o.chunks_mut(len).zip(m.iter_mut().zip(r)).enumerate() {
            let row = bi * block + k;
            let x_row = &xs[row * len..(row + 1) * len];
            let (mu, var) = row_stats(x_row);
            let rs = T::one() / (var + T::of(eps)).sqrt();
            (*m, *r) = (mu.as_f64(), rs.as_f64());
            let base = (row % layout.period) * layout.segs;
            let affine = (
                &weight[base..base + layout.segs],
                &bias[base..base + layout.segs],
            );
            normalize_row(x_row, o_row, (mu, rs), affine, layout.inner);
        }
    };
    if len > 0 && layout.parallel() {
        let par = out_par(&mut out, &mut mean, &mut rstd, block, len);
        par.for_each(|(bi, c)| run(bi, c));
    } else if len > 0 {
        let chunks = out
            .chunks_mut(block * len)
            .zip(mean.chunks_mut(block).zip(rstd.chunks_mut(block)));
        chunks.enumerate().for_each(|(bi, c)| run(bi, c));
    }
    Ok(NormOutput {
        output: Tensor::from_vec(out, x.shape())?,
        saved: NormSaved {
            op,
            input: x.clone(),
            layout,
            param_shape,
            mean,
            rstd,
            weight,
        },
    })
}

/// `y = (x − mean) · rstd · w + b` over one row, `w` and `b` per segment of `inner`
/// elements (per element for layer norm, whose loop is then a plain zip).
fn normalize_row<T: Float>(
    x_row: &[T],
    o_row: &mut [T],
    (mu, rs): (T, T),
    (w, b): (&[T], &[T]),
    inner: usize,
) {
    if inner == 1 {
        for (((o, &v), &w), &b) in o_row.iter_mut().zip(x_row).zip(w).zip(b) {
            *o = (v - mu) * rs * w + b;
        }
        return;
    }
    let segments = o_row.chunks_mut(inner).zip(x_row.chunks(inner));
    for ((o_seg, x_seg), (&w, &b)) in segments.zip(w.iter().zip(b)) {
        let scale = rs * w;
        for (o, &v) in o_seg.iter_mut().zip(x_seg) {
            *o = (v - mu) * scale + b;
        }
    }
}

/// The blocks of rows of the output and of the per-row statistics, as a parallel iterator.
#[allow(clippy::type_complexity)]
fn out_par<'a, T: Float>(
    out: &'a mut [T],
    mean: &'a mut [f64],
    rstd: &'a mut [f64],
    block: usize,
    len: usize,
) -> impl ParallelIterator<Item = (usize, (&'a mut [T], (&'a mut [f64], &'a mut [f64])))> {
    out.par_chunks_mut(block * len)
        .zip(mean.par_chunks_mut(block).zip(rstd.par_chunks_mut(block)))
        .enumerate()
}

/// Per-block partial sums of the parameter gradients: `Σ g · x̂` and `Σ g`.
type Partial<T> = (Vec<T>, Vec<T>);

/// The fused backward of [`normalize`]: per row, with `g' = g · weight` and
/// `x̂ = (x − mean) · rstd`, `dx = rstd · (g' − mean(g') − x̂ · mean(g' · x̂))`; per parameter
/// `dweight = Σ g · x̂` and `dbias = Σ g` over the elements that use it.
pub(super) fn backward<T: Float>(
    grad_output: &Tensor<T>,
    saved: &NormSaved<T>,
    needs: [bool; 3],
) -> Result<NormGrads<T>> {
    let shape = saved.input.shape();
    if grad_output.shape() != shape {
        return Err(TensorError::shape(
            saved.op,
            format!(
                "grad_output has shape {:?} but the input had shape {shape:?}",
                grad_output.shape()
            ),
        ));
    }
    let layout = saved.layout;
    let (len, block) = (layout.len(), layout.block_rows());
    let (gs, xs) = (grad_output.row_major(), saved.input.row_major());
    let mut dx = buffer::for_overwrite(if needs[0] { xs.len() } else { 0 });
    let params = needs[1] || needs[2];
    let run = |bi: usize, dx_block: &mut [T]| -> Partial<T> {
        let p = if params { layout.params() } else { 0 };
        let mut partial = (vec![T::zero(); p], vec![T::zero(); p]);
        let rows = (bi * block)..((bi + 1) * block).min(layout.rows);
        for (k, row) in rows.enumerate() {
            let range = row * len..(row + 1) * len;
            let dx_row = dx_block.get_mut(k * len..(k + 1) * len);
            backward_row(
                saved,
                row,
                (&gs[range.clone()], &xs[range]),
                dx_row,
                &mut partial,
            );
        }
        partial
    };
    let blocks = layout.rows.div_ceil(block);
    let partials: Vec<Partial<T>> = if len == 0 {
        Vec::new()
    } else if needs[0] {
        if layout.parallel() {
            let it = dx.par_chunks_mut(block * len).enumerate();
            it.map(|(bi, d)| run(bi, d)).collect()
        } else {
            let it = dx.chunks_mut(block * len).enumerate();
            it.map(|(bi, d)| run(bi, d)).collect()
        }
    } else if layout.parallel() {
        (0..blocks)
            .into_par_iter()
            .map(|bi| run(bi, &mut []))
            .collect()
    } else {
        (0..blocks).map(|bi| run(bi, &mut [])).collect()
    };
    let total = |pick: fn(&Partial<T>) -> &Vec<T>| -> Result<Tensor<T>> {
        let mut sum = vec![0.0; layout.params()];
        for part in &partials {
            sum.iter_mut()
                .zip(pick(part))
                .for_each(|(s, v)| *s += v.as_f64());
        }
        Tensor::from_vec(sum.into_iter().map(T::of).collect(), &saved.param_shape)
    };
    Ok(NormGrads {
        input: needs[0].then(|| Tensor::from_vec(dx, shape)).transpose()?,
        weight: needs[1].then(|| total(|p| &p.0)).transpose()?,
        bias: needs[2].then(|| total(|p| &p.1)).transpose()?,
    })
}

/// One row of [`backward`]: the segment sums (added to `partial` when it has room for the
/// parameters), then `dx` when `dx_row` is given.
fn backward_row<T: Float>(
    saved: &NormSaved<T>,
    row: usize,
    (g_row, x_row): (&[T], &[T]),
    dx_row: Option<&mut [T]>,
    partial: &mut Partial<T>,
) {
    let layout = saved.layout;
    let (mu, rs) = (T::of(saved.mean[row]), T::of(saved.rstd[row]));
    let base = (row % layout.period) * layout.segs;
    let w = &saved.weight[base..base + layout.segs];
    let inner = layout.inner;
    if inner == 1 {
        let (pw, pb) = (&mut partial.0, &mut partial.1);
        let part = (!pw.is_empty()).then(|| {
            let range = base..base + layout.segs;
            (&mut pw[range.clone()], &mut pb[range])
        });
        return backward_row_elementwise((mu, rs), w, (g_row, x_row), dx_row, part);
    }
    // Σ g' and Σ g' · x̂ over the row, from the per-segment Σ g and Σ g · x̂.
    let (mut sum_g, mut sum_gx) = (T::zero(), T::zero());
    let segments = g_row.chunks(inner).zip(x_row.chunks(inner));
    for (s, ((g_seg, x_seg), &ws)) in segments.zip(w).enumerate() {
        let db = lanes::sum_map(g_seg, |g| g);
        let ds = lanes::sum_zip(g_seg, x_seg, |g, x| g * (x - mu)) * rs;
        sum_g += ws * db;
        sum_gx += ws * ds;
        if let (Some(pw), Some(pb)) = (partial.0.get_mut(base + s), partial.1.get_mut(base + s)) {
            *pw += ds;
            *pb += db;
        }
    }
    let Some(dx_row) = dx_row else { return };
    let n = T::of(layout.len() as f64);
    let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
    let segments = dx_row.chunks_mut(inner).zip(g_row.chunks(inner));
    for ((d_seg, g_seg), (x_seg, &ws)) in segments.zip(x_row.chunks(inner).zip(w)) {
        for ((d, &g), &x) in d_seg.iter_mut().zip(g_seg).zip(x_seg) {
            let xhat = (x - mu) * rs;
            *d = rs * (ws * g - mean_g - xhat * mean_gx);
        }
    }
}

/// [`backward_row`] for a parameter per element (layer norm, group norm without spatial
/// dims): plain zipped loops; `partial` holds the row's slices of the parameter sums.
fn backward_row_elementwise<T: Float>(
    (mu, rs): (T, T),
    w: &[T],
    (g_row, x_row): (&[T], &[T]),
    dx_row: Option<&mut [T]>,
    partial: Option<(&mut [T], &mut [T])>,
) {
    let (sum_g, sum_gx) = lanes::sum2_zip3(g_row, x_row, w, |g, x, w| {
        let gw = g * w;
        (gw, gw * (x - mu))
    });
    let n = T::of(g_row.len() as f64);
    let (mean_g, mean_gx) = (sum_g / n, sum_gx * rs / n);
    let dx = |g: T, x: T, w: T| rs * (w * g - mean_g - (x - mu) * rs * mean_gx);
    match (partial, dx_row) {
        // One pass for both when both are wanted.
        (Some((pw, pb)), Some(dx_row)) => {
            let outs = dx_row.iter_mut().zip(pw.iter_mut().zip(pb.iter_mut()));
            for ((d, (pw, pb)), ((&g, &x), &w)) in outs.zip(g_row.iter().zip(x_row).zip(w)) {
                *pw += g * (x - mu) * rs;
                *pb += g;
                *d = dx(g, x, w);
            }
        }
        (Some((pw, pb)), None) => {
            let sums = pw.iter_mut().zip(pb.iter_mut());
            for ((pw, pb), (&g, &x)) in sums.zip(g_row.iter().zip(x_row)) {
                *pw += g * (x - mu) * rs;
                *pb += g;
            }
        }
        (None, Some(dx_row)) => {
            for (((d, &g), &x), &w) in dx_row.iter_mut().zip(g_row).zip(x_row).zip(w) {
                *d = dx(g, x, w);
            }
        }
        (None, None) => {}
    }
}
