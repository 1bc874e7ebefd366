//! Resizing images: `torch.nn.functional.interpolate` in modes `"nearest"` (PyTorch's legacy
//! rule) and `"bilinear"`, and its adjoint.
//!
//! Both modes are separable: each output row (column) reads at most two input rows
//! (columns) with fixed weights, so one table per axis is built once per call and an image
//! plane is resized in two passes, along the width into a `[H, W_out]` buffer and then
//! along the height, which is also the order in which PyTorch adds the four terms. The
//! backward pass is the transpose of the same two passes, in reverse. Planes run in
//! parallel; each input element receives its gradient contributions in a fixed order, so the
//! results do not depend on the number of threads.

use rayon::prelude::*;

use crate::{Float, Result, Tensor, TensorError, buffer, checked_numel};

/// How [`Tensor::interpolate`] computes the new pixels, like `F.interpolate`'s `mode=`.
///
/// ```
/// use ferrite_tensor::InterpolateMode;
/// assert_eq!(InterpolateMode::default(), InterpolateMode::Nearest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterpolateMode {
    /// Copy the nearest input pixel by PyTorch's legacy `"nearest"` rule (the default).
    #[default]
    Nearest,
    /// Weighted mean of the 2 x 2 nearest input pixels.
    Bilinear,
}

impl InterpolateMode {
    /// PyTorch's name of the mode.
    ///
    /// ```
    /// use ferrite_tensor::InterpolateMode;
    /// assert_eq!(InterpolateMode::Bilinear.name(), "bilinear");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            InterpolateMode::Nearest => "nearest",
            InterpolateMode::Bilinear => "bilinear",
        }
    }
}

/// A pair of scale factors `[sh, sw]`, given as one number (both) or two.
///
/// ```
/// use ferrite_tensor::ScaleFactor;
/// assert_eq!(ScaleFactor::from(2.0).0, [2.0, 2.0]);
/// assert_eq!(ScaleFactor::from([1.5, 0.5]).0, [1.5, 0.5]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleFactor(pub [f64; 2]);

impl From<f64> for ScaleFactor {
    fn from(s: f64) -> Self {
        ScaleFactor([s, s])
    }
}

impl From<[f64; 2]> for ScaleFactor {
    fn from(s: [f64; 2]) -> Self {
        ScaleFactor(s)
    }
}

/// The arguments of [`Tensor::interpolate`], with `F.interpolate`'s names and defaults:
/// exactly one of `size` and `scale_factor` must be set.
///
/// ```
/// use ferrite_tensor::{InterpolateMode, InterpolateOptions};
/// let o = InterpolateOptions::default().with_scale_factor(2.0).with_mode(InterpolateMode::Bilinear);
/// assert_eq!(o.scale_factor, Some([2.0, 2.0]));
/// assert_eq!((o.size, o.align_corners), (None, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct InterpolateOptions {
    /// The output size `[h, w]`.
    pub size: Option<[usize; 2]>,
    /// Output size `floor(input · scale_factor)`; the mapping then uses `1 / scale_factor`.
    pub scale_factor: Option<[f64; 2]>,
    /// Nearest (default) or bilinear.
    pub mode: InterpolateMode,
    /// Bilinear only: `true` maps the corner pixels' centres onto each other; `None` means
    /// `false`. Must be `None` for nearest.
    pub align_corners: Option<bool>,
}

impl InterpolateOptions {
    /// Sets the output size `[h, w]`.
    ///
    /// ```
    /// use ferrite_tensor::InterpolateOptions;
    /// assert_eq!(InterpolateOptions::default().with_size([4, 5]).size, Some([4, 5]));
    /// ```
    pub fn with_size(mut self, size: [usize; 2]) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets the scale factor (`2.0` or `[2.0, 1.5]`).
    ///
    /// ```
    /// use ferrite_tensor::InterpolateOptions;
    /// let o = InterpolateOptions::default().with_scale_factor([2.0, 1.5]);
    /// assert_eq!(o.scale_factor, Some([2.0, 1.5]));
    /// ```
    pub fn with_scale_factor(mut self, scale_factor: impl Into<ScaleFactor>) -> Self {
        self.scale_factor = Some(scale_factor.into().0);
        self
    }

    /// Sets the mode.
    ///
    /// ```
    /// use ferrite_tensor::{InterpolateMode, InterpolateOptions};
    /// let o = InterpolateOptions::default().with_mode(InterpolateMode::Bilinear);
    /// assert_eq!(o.mode, InterpolateMode::Bilinear);
    /// ```
    pub fn with_mode(mut self, mode: InterpolateMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `align_corners` (bilinear only).
    ///
    /// ```
    /// use ferrite_tensor::InterpolateOptions;
    /// assert_eq!(InterpolateOptions::default().with_align_corners(true).align_corners, Some(true));
    /// ```
    pub fn with_align_corners(mut self, align_corners: bool) -> Self {
        self.align_corners = Some(align_corners);
        self
    }

    /// The output size `[oh, ow]` for an input plane `[h, w]`: `size`, or
    /// `floor(h · scale_factor)` per dimension.
    ///
    /// # Errors
    /// When both or neither of `size` and `scale_factor` are set, `align_corners` is set with
    /// nearest, or an input or output size is 0 (a negative or non-finite scale factor too).
    ///
    /// ```
    /// use ferrite_tensor::InterpolateOptions;
    /// let o = InterpolateOptions::default().with_scale_factor([1.5, 0.7]);
    /// assert_eq!(o.output_size([4, 6])?, [6, 4]);
    /// assert!(InterpolateOptions::default().output_size([4, 6]).is_err());
    /// assert!(o.with_size([2, 2]).output_size([4, 6]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2]) -> Result<[usize; 2]> {
        const OP: &str = "interpolate";
        if self.mode == InterpolateMode::Nearest && self.align_corners.is_some() {
            return Err(TensorError::invalid(
                OP,
                "align_corners can only be set with mode \"bilinear\", found mode \"nearest\"",
            ));
        }
        let out = match (self.size, self.scale_factor) {
            (Some(size), None) => size,
            (None, Some(scale)) => {
                let mut out = [0; 2];
                for (o, (&n, &s)) in out.iter_mut().zip(input_hw.iter().zip(&scale)) {
                    let v = (n as f64 * s).floor();
                    // Negative and NaN products give 0, refused below.
                    *o = if v >= 1.0 && v < usize::MAX as f64 {
                        v as usize
                    } else {
                        0
                    };
                }
                out
            }
            (Some(_), Some(_)) => {
                return Err(TensorError::invalid(
                    OP,
                    "only one of size or scale_factor should be set, found both",
                ));
            }
            (None, None) => {
                return Err(TensorError::invalid(
                    OP,
                    "either size or scale_factor should be set, found neither",
                ));
            }
        };
        if input_hw.contains(&0) || out.contains(&0) {
            let scale = match self.scale_factor {
                Some(s) => format!(" (scale_factor {s:?})"),
                None => String::new(),
            };
            return Err(TensorError::invalid(
                OP,
                format!(
                    "input and output sizes should be greater than 0, found input {input_hw:?} and output {out:?}{scale}"
                ),
            ));
        }
        Ok(out)
    }
}

/// Where output position `o` of one axis reads: `w0 · x[i0] + w1 · x[i1]` (nearest: `x[i0]`).
#[derive(Debug, Clone, Copy)]
struct Tap<T> {
    i0: usize,
    i1: usize,
    w0: T,
    w1: T,
}

/// The taps of every output position of an axis of `input` elements resized to `output`;
/// `scale` is the user's scale factor of this axis, if one was given.
fn axis_taps<T: Float>(
    input: usize,
    output: usize,
    scale: Option<f64>,
    options: &InterpolateOptions,
) -> Vec<Tap<T>> {
    let nearest = |i: usize| Tap {
        i0: i,
        i1: i,
        w0: T::one(),
        w1: T::zero(),
    };
    match options.mode {
        InterpolateMode::Nearest => {
            // PyTorch's legacy rule, computed in f32 whatever the dtype.
            let s = match scale {
                Some(sf) if sf > 0.0 => (1.0 / sf) as f32,
                _ => input as f32 / output as f32,
            };
            (0..output)
                .map(|o| {
                    nearest(if output == input {
                        o
                    } else if output == 2 * input {
                        o / 2
                    } else {
                        ((o as f32 * s).floor() as usize).min(input - 1)
                    })
                })
                .collect()
        }
        InterpolateMode::Bilinear => {
            let align = options.align_corners.unwrap_or(false);
            let s = if align {
                if output > 1 {
                    (input - 1) as f64 / (output - 1) as f64
                } else {
                    0.0
                }
            } else {
                match scale {
                    Some(sf) if sf > 0.0 => 1.0 / sf,
                    _ => input as f64 / output as f64,
                }
            };
            (0..output)
                .map(|o| {
                    let src = if align {
                        s * o as f64
                    } else {
                        (s * (o as f64 + 0.5) - 0.5).max(0.0)
                    };
                    let i0 = (src.floor() as usize).min(input - 1);
                    let lambda = (src - i0 as f64).clamp(0.0, 1.0);
                    Tap {
                        i0,
                        i1: (i0 + 1).min(input - 1),
                        w0: T::of(1.0 - lambda),
                        w1: T::of(lambda),
                    }
                })
                .collect()
        }
    }
}

/// The validated shapes and both axes' taps of one resize.
struct ResizePlan<T> {
    /// `[N, C, H, W]`.
    input: [usize; 4],
    /// `[oh, ow]`.
    output: [usize; 2],
    rows: Vec<Tap<T>>,
    cols: Vec<Tap<T>>,
    nearest: bool,
}

impl<T: Float> ResizePlan<T> {
    fn new(op: &'static str, shape: &[usize], options: &InterpolateOptions) -> Result<Self> {
        let &[n, c, h, w] = shape else {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 4-D input [N, C, H, W] (mode \"{}\" resizes 2 spatial dimensions), found shape {shape:?}",
                    options.mode.name()
                ),
            ));
        };
        let [oh, ow] = options.output_size([h, w])?;
        checked_numel(op, &[n, c, oh, ow])?;
        let scale = |dim: usize| options.scale_factor.map(|s| s[dim]);
        Ok(ResizePlan {
            input: [n, c, h, w],
            output: [oh, ow],
            rows: axis_taps(h, oh, scale(0), options),
            cols: axis_taps(w, ow, scale(1), options),
            nearest: options.mode == InterpolateMode::Nearest,
        })
    }

    fn output_shape(&self) -> [usize; 4] {
        let [n, c, _, _] = self.input;
        [n, c, self.output[0], self.output[1]]
    }

    /// One plane: `x` `[H, W]` into `y` `[oh, ow]`, through `tmp` `[H, ow]`.
    fn forward_plane(&self, x: &[T], y: &mut [T], tmp: &mut [T]) {
        let [w, ow] = [self.input[3], self.output[1]];
        for (src, dst) in x.chunks_exact(w).zip(tmp.chunks_exact_mut(ow)) {
            self.blend_row(&self.cols, src, dst);
        }
        for (t, dst) in self.rows.iter().zip(y.chunks_exact_mut(ow)) {
            let r0 = &tmp[t.i0 * ow..(t.i0 + 1) * ow];
            if self.nearest {
                dst.copy_from_slice(r0);
            } else {
                let r1 = &tmp[t.i1 * ow..(t.i1 + 1) * ow];
                for ((d, &a), &b) in dst.iter_mut().zip(r0).zip(r1) {
                    *d = t.w0 * a + t.w1 * b;
                }
            }
        }
    }

    /// `dst[o] = w0 · src[i0] + w1 · src[i1]` (nearest: `src[i0]`) along one row.
    fn blend_row(&self, taps: &[Tap<T>], src: &[T], dst: &mut [T]) {
        if self.nearest {
            for (d, t) in dst.iter_mut().zip(taps) {
                *d = src[t.i0];
            }
        } else {
            for (d, t) in dst.iter_mut().zip(taps) {
                *d = t.w0 * src[t.i0] + t.w1 * src[t.i1];
            }
        }
    }

    /// The adjoint of [`ResizePlan::forward_plane`]: `g` `[oh, ow]` added into `gx` `[H, W]`
    /// (zeroed), through `tmp` `[H, ow]`.
    fn backward_plane(&self, g: &[T], gx: &mut [T], tmp: &mut [T]) {
        let [w, ow] = [self.input[3], self.output[1]];
        tmp.fill(T::zero());
        for (t, row) in self.rows.iter().zip(g.chunks_exact(ow)) {
            axpy(&mut tmp[t.i0 * ow..(t.i0 + 1) * ow], t.w0, row);
            if !self.nearest {
                axpy(&mut tmp[t.i1 * ow..(t.i1 + 1) * ow], t.w1, row);
            }
        }
        for (src, dst) in tmp.chunks_exact(ow).zip(gx.chunks_exact_mut(w)) {
            for (t, &v) in self.cols.iter().zip(src) {
                dst[t.i0] += t.w0 * v;
                if !self.nearest {
                    dst[t.i1] += t.w1 * v;
                }
            }
        }
    }
}

/// `y += a · x`.
fn axpy<T: Float>(y: &mut [T], a: T, x: &[T]) {
    for (d, &v) in y.iter_mut().zip(x) {
        *d += a * v;
    }
}

impl<T: Float> Tensor<T> {
    /// Resizes the images of an `[N, C, H, W]` batch like `torch.nn.functional.interpolate`
    /// (modes `"nearest"` and `"bilinear"`, `recompute_scale_factor` and `antialias` at their
    /// defaults).
    ///
    /// The output size is `size`, or `floor(in · scale_factor)`; the source coordinate of an
    /// output pixel uses the scale `1 / scale_factor` when a scale factor was given, `in / out`
    /// otherwise. **Nearest** is PyTorch's legacy rule: `i = o` when `out = in`, `o / 2` when
    /// `out = 2 · in`, else `min(floor(o · scale), in − 1)` computed in `f32`. **Bilinear**
    /// reads `src = scale · o` with `align_corners` (scale `(in − 1)/(out − 1)`, the scale
    /// factor ignored) or `max(scale · (o + ½) − ½, 0)` without, and blends the two
    /// neighbours of `src` along each axis.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`
    /// - result: `[N, C, oh, ow]`
    ///
    /// # Errors
    /// When the input is not 4-D, and as [`InterpolateOptions::output_size`].
    ///
    /// ```
    /// use ferrite_tensor::{InterpolateMode, InterpolateOptions, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2])?;
    /// let up = x.interpolate(&InterpolateOptions::default().with_scale_factor(2.0))?;
    /// assert_eq!(up.shape(), &[1, 1, 4, 4]);
    /// assert_eq!(up.to_vec()[..8], [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    /// let bilinear = InterpolateOptions::default()
    ///     .with_size([3, 3])
    ///     .with_mode(InterpolateMode::Bilinear)
    ///     .with_align_corners(true);
    /// assert_eq!(x.interpolate(&bilinear)?.to_vec()[..3], [1.0, 1.5, 2.0]);
    /// assert!(x.interpolate(&InterpolateOptions::default()).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn interpolate(&self, options: &InterpolateOptions) -> Result<Tensor<T>> {
        let plan = ResizePlan::<T>::new("interpolate", self.shape(), options)?;
        let [_, _, h, w] = plan.input;
        let [oh, ow] = plan.output;
        let shape = plan.output_shape();
        let mut out = buffer::for_overwrite(checked_numel("interpolate", &shape)?);
        if !out.is_empty() {
            let x = self.row_major();
            out.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each_init(
                    || vec![T::zero(); h * ow],
                    |tmp, (y, x)| plan.forward_plane(x, y, tmp),
                );
        }
        Tensor::from_vec(out, &shape)
    }
}

/// The gradient of [`Tensor::interpolate`] with respect to its input: every output
/// gradient element added back onto the input pixels it was computed from, with the same
/// weights (the transpose of the resize).
///
/// # Shapes
/// - `grad_output`: `[N, C, oh, ow]`, the output's shape
/// - `input_shape`: `[N, C, H, W]`, the input's shape and the result's
///
/// # Errors
/// As [`Tensor::interpolate`] (named `interpolate_backward`), and when `grad_output` does not
/// have the output's shape.
///
/// ```
/// use ferrite_tensor::{interpolate_backward, InterpolateOptions, Tensor};
/// let g = Tensor::<f64>::ones(&[1, 1, 4, 4]);
/// let opts = InterpolateOptions::default().with_scale_factor(2.0);
/// // Each input pixel was copied into a 2x2 block.
/// assert_eq!(interpolate_backward(&g, &[1, 1, 2, 2], &opts)?.to_vec(), vec![4.0; 4]);
/// assert!(interpolate_backward(&g, &[1, 1, 3, 3], &opts).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn interpolate_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
    options: &InterpolateOptions,
) -> Result<Tensor<T>> {
    const OP: &str = "interpolate_backward";
    let plan = ResizePlan::<T>::new(OP, input_shape, options)?;
    if grad_output.shape() != plan.output_shape() {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but the output has shape {:?} (input {input_shape:?})",
                grad_output.shape(),
                plan.output_shape()
            ),
        ));
    }
    let [_, _, h, w] = plan.input;
    let [oh, ow] = plan.output;
    let mut gx = buffer::for_overwrite(checked_numel(OP, input_shape)?);
    if !gx.is_empty() {
        let g = grad_output.row_major();
        gx.par_chunks_mut(h * w)
            .zip(g.par_chunks(oh * ow))
            .for_each_init(
                || vec![T::zero(); h * ow],
                |tmp, (gx, g)| {
                    gx.fill(T::zero());
                    plan.backward_plane(g, gx, tmp);
                },
            );
    }
    Tensor::from_vec(gx, input_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resize as a dense matrix, one row per output pixel of a single plane, from the
    /// rules written out directly.
    fn naive(x: &[f64], [h, w]: [usize; 2], o: &InterpolateOptions) -> Vec<f64> {
        let [oh, ow] = o.output_size([h, w]).unwrap();
        let rows: Vec<Tap<f64>> = axis_taps(h, oh, o.scale_factor.map(|s| s[0]), o);
        let cols: Vec<Tap<f64>> = axis_taps(w, ow, o.scale_factor.map(|s| s[1]), o);
        let mut y = Vec::new();
        for r in &rows {
            for c in &cols {
                let at = |i: usize, j: usize| x[i * w + j];
                y.push(
                    r.w0 * (c.w0 * at(r.i0, c.i0) + c.w1 * at(r.i0, c.i1))
                        + r.w1 * (c.w0 * at(r.i1, c.i0) + c.w1 * at(r.i1, c.i1)),
                );
            }
        }
        y
    }

    fn options() -> Vec<InterpolateOptions> {
        let b = InterpolateOptions::default().with_mode(InterpolateMode::Bilinear);
        vec![
            InterpolateOptions::default().with_size([5, 7]),
            InterpolateOptions::default().with_scale_factor([1.5, 0.7]),
            InterpolateOptions::default().with_size([8, 2]),
            b.with_size([5, 7]),
            b.with_size([2, 3]).with_align_corners(true),
            b.with_scale_factor([1.7, 2.3]),
            b.with_size([1, 1]).with_align_corners(true),
        ]
    }

    #[test]
    fn forward_matches_the_per_pixel_rule_and_backward_is_its_transpose() {
        let (h, w) = (4, 5);
        for o in options() {
            let x: Vec<f64> = (0..2 * h * w).map(|i| (i as f64 * 0.37).sin()).collect();
            let t = Tensor::from_vec(x.clone(), &[1, 2, h, w]).unwrap();
            let y = t.interpolate(&o).unwrap();
            let plane = y.shape()[2] * y.shape()[3];
            for c in 0..2 {
                let want = naive(&x[c * h * w..(c + 1) * h * w], [h, w], &o);
                let got = &y.to_vec()[c * plane..(c + 1) * plane];
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-12, "{o:?}: {a} vs {b}");
                }
            }
            // <resize(x), g> = <x, resize^T(g)>
            let g: Vec<f64> = (0..y.numel()).map(|i| (i as f64 * 0.71).cos()).collect();
            let gt = Tensor::from_vec(g.clone(), y.shape()).unwrap();
            let gx = interpolate_backward(&gt, &[1, 2, h, w], &o)
                .unwrap()
                .to_vec();
            let lhs: f64 = y.to_vec().iter().zip(&g).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-12, "{o:?}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn nearest_uses_pytorch_legacy_indices() {
        // out = 2 * in halves; otherwise floor(o * s) in f32 with s = 1 / scale_factor.
        let o = InterpolateOptions::default().with_scale_factor([2.2, 1.3]);
        let rows: Vec<Tap<f32>> = axis_taps(3, 6, Some(2.2), &o);
        assert_eq!(
            rows.iter().map(|t| t.i0).collect::<Vec<_>>(),
            [0, 0, 1, 1, 2, 2]
        );
        let cols: Vec<Tap<f32>> = axis_taps(4, 5, Some(1.3), &o);
        assert_eq!(
            cols.iter().map(|t| t.i0).collect::<Vec<_>>(),
            [0, 0, 1, 2, 3]
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        let x = Tensor::<f32>::zeros(&[1, 1, 4, 4]);
        let nearest = InterpolateOptions::default();
        for (o, needle) in [
            (nearest, "neither"),
            (nearest.with_size([2, 2]).with_scale_factor(2.0), "both"),
            (
                nearest.with_size([2, 2]).with_align_corners(true),
                "align_corners",
            ),
            (nearest.with_scale_factor(0.2), "greater than 0"),
            (nearest.with_scale_factor(-1.0), "greater than 0"),
            (nearest.with_size([0, 3]), "greater than 0"),
        ] {
            let err = x.interpolate(&o).unwrap_err().to_string();
            assert!(
                err.starts_with("interpolate: ") && err.contains(needle),
                "{err}"
            );
        }
        let err = Tensor::<f32>::zeros(&[1, 4, 4])
            .interpolate(&nearest.with_size([2, 2]))
            .unwrap_err();
        assert!(err.to_string().contains("4-D"), "{err}");
    }
}
