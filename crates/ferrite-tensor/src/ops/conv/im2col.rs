//! Unrolling receptive fields into columns (im2col) and its adjoint (col2im).
//!
//! Both work on one image and one group: `x` is `[c, h, w]` row-major and `cols` is
//! `[c * kh * kw, oh * ow]` row-major, row `(ci * kh + ki) * kw + kj` holding tap `(ki, kj)` of
//! channel `ci` for every output pixel. Zero padding is implicit (never materialised): for each
//! row only the range of output pixels whose tap lands inside the input is copied
//! ([`WindowAxis::tap_range`](crate::WindowAxis::tap_range)), the rest is zero-filled
//! (im2col) or skipped (col2im).

use crate::Float;
use crate::ops::window::Window2d;

/// One group of one image of a convolution: its channels, the input and output planes, and
/// the sliding window (whose leading padding is the implicit zero rows and columns).
#[derive(Debug, Clone, Copy)]
pub(super) struct ColGeometry {
    /// Input channels of one group.
    pub channels: usize,
    /// Input plane `[h, w]`.
    pub input: [usize; 2],
    /// Output plane `[oh, ow]`.
    pub output: [usize; 2],
    /// Kernel, stride, padding and dilation.
    pub window: Window2d,
}

impl ColGeometry {
    /// Rows of the column matrix: `channels * kh * kw`.
    pub fn rows(&self) -> usize {
        self.channels * self.window.kernel[0] * self.window.kernel[1]
    }

    /// Columns of the column matrix (output pixels): `oh * ow`.
    pub fn cols(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// True when the column matrix is the input itself (1x1 kernel, stride 1, no leading
    /// padding, output plane = input plane).
    pub fn is_pointwise(&self) -> bool {
        let w = &self.window;
        w.kernel == [1, 1]
            && w.stride == [1, 1]
            && w.padding[0][0] == 0
            && w.padding[1][0] == 0
            && self.output == self.input
    }

    /// For each kernel row and each kernel column, the range of output rows (columns) whose
    /// tap falls inside the input.
    fn tap_ranges(&self) -> (Vec<Range>, Vec<Range>) {
        let (rows, cols) = (self.window.axis(0), self.window.axis(1));
        let row_ranges = (0..self.window.kernel[0])
            .map(|ki| rows.tap_range(ki, self.output[0], self.input[0]))
            .collect();
        let col_ranges = (0..self.window.kernel[1])
            .map(|kj| cols.tap_range(kj, self.output[1], self.input[1]))
            .collect();
        (row_ranges, col_ranges)
    }
}

/// A half-open range `(lo, hi)` of output positions.
type Range = (usize, usize);

/// Fills `cols` (`[g.rows(), g.cols()]`) with the receptive fields of `x`
/// (`[g.channels, h, w]`).
pub(super) fn im2col<T: Float>(x: &[T], g: &ColGeometry, cols: &mut [T]) {
    im2col_strided(x, g, cols, g.cols());
}

/// [`im2col`] into the first `g.cols()` columns of a row-major matrix whose rows are
/// `row_stride` apart (the column block of one image in a matrix of several images).
pub(super) fn im2col_strided<T: Float>(
    x: &[T],
    g: &ColGeometry,
    cols: &mut [T],
    row_stride: usize,
) {
    let [h, w] = g.input;
    let out_w = g.output[1];
    let [stride_h, stride_w] = g.window.stride;
    let [dil_h, dil_w] = g.window.dilation;
    let (pad_top, pad_left) = (g.window.padding[0][0], g.window.padding[1][0]);
    let out_pixels = g.cols();
    let plane = h * w;
    debug_assert_eq!(x.len(), g.channels * plane);
    debug_assert!(g.rows() == 0 || cols.len() >= (g.rows() - 1) * row_stride + out_pixels);
    if out_pixels == 0 {
        return;
    }
    // Row `r` of the matrix.
    let span = |r: usize| r * row_stride..r * row_stride + out_pixels;
    if plane == 0 {
        // An empty input plane: every tap reads padding.
        for r in 0..g.rows() {
            cols[span(r)].fill(T::zero());
        }
        return;
    }
    let mut r = 0;
    // The valid output ranges of each tap, the same for every channel.
    let (rows_of, cols_of) = g.tap_ranges();
    for xc in x.chunks_exact(plane) {
        for (ki, &(ylo, yhi)) in rows_of.iter().enumerate() {
            for (kj, &(xlo, xhi)) in cols_of.iter().enumerate() {
                let dst = &mut cols[span(r)];
                r += 1;
                dst[..ylo * out_w].fill(T::zero());
                dst[yhi * out_w..].fill(T::zero());
                if xlo == xhi {
                    dst[ylo * out_w..yhi * out_w].fill(T::zero());
                    continue;
                }
                let ix0 = xlo * stride_w + kj * dil_w - pad_left;
                if stride_w == 1 && stride_h * w == out_w && ylo < yhi {
                    // Consecutive output rows read consecutive input rows at a fixed offset
                    // (the usual stride-1 "same" convolution): the valid block is one copy,
                    // after which the columns whose tap falls in the padding (and picked up
                    // a neighbouring row's values) are zeroed.
                    let first = ylo * out_w + xlo;
                    let last = (yhi - 1) * out_w + xhi;
                    let src0 = (ylo * stride_h + ki * dil_h - pad_top) * w + ix0;
                    dst[first..last].copy_from_slice(&xc[src0..src0 + (last - first)]);
                    // Column by column (usually one on each side): a strided loop, not one
                    // tiny memset call per row.
                    let block = &mut dst[ylo * out_w..yhi * out_w];
                    for col in (0..xlo).chain(xhi..out_w) {
                        for v in block[col..].iter_mut().step_by(out_w) {
                            *v = T::zero();
                        }
                    }
                    continue;
                }
                for oy in ylo..yhi {
                    let iy = oy * stride_h + ki * dil_h - pad_top;
                    let src = &xc[iy * w..(iy + 1) * w];
                    let d = &mut dst[oy * out_w..(oy + 1) * out_w];
                    copy_row(d, src, (xlo, xhi), ix0, stride_w);
                }
            }
        }
    }
}

/// One output row of an im2col row: zeros outside the valid columns `xlo..xhi`, inside
/// them the input row `src` read from `ix0` every `stride` elements.
#[inline(always)]
fn copy_row<T: Float>(d: &mut [T], src: &[T], (xlo, xhi): Range, ix0: usize, stride: usize) {
    d[..xlo].fill(T::zero());
    d[xhi..].fill(T::zero());
    if stride == 1 {
        d[xlo..xhi].copy_from_slice(&src[ix0..ix0 + (xhi - xlo)]);
    } else {
        for (t, s) in d[xlo..xhi]
            .iter_mut()
            .zip(src[ix0..].iter().step_by(stride))
        {
            *t = *s;
        }
    }
}

/// Adds the columns `cols` (`[g.rows(), g.cols()]`) back onto the input positions they were
/// read from: `x += col2im(cols)`, the adjoint of [`im2col`].
///
/// Every input element receives its contributions in a fixed order (row by row of `cols`).
pub(super) fn col2im<T: Float>(cols: &[T], g: &ColGeometry, x: &mut [T]) {
    let [h, w] = g.input;
    let out_w = g.output[1];
    let [stride_h, stride_w] = g.window.stride;
    let [dil_h, dil_w] = g.window.dilation;
    let (pad_top, pad_left) = (g.window.padding[0][0], g.window.padding[1][0]);
    let out_pixels = g.cols();
    let plane = h * w;
    debug_assert_eq!(x.len(), g.channels * plane);
    debug_assert_eq!(cols.len(), g.rows() * out_pixels);
    if out_pixels == 0 || plane == 0 {
        return;
    }
    let mut rows = cols.chunks_exact(out_pixels);
    // The valid output ranges of each tap, the same for every channel.
    let (rows_of, cols_of) = g.tap_ranges();
    for xc in x.chunks_exact_mut(plane) {
        for (ki, &(ylo, yhi)) in rows_of.iter().enumerate() {
            for (kj, &(xlo, xhi)) in cols_of.iter().enumerate() {
                let src = rows.next().expect("one row per channel and tap");
                if xlo == xhi {
                    continue;
                }
                let ix0 = xlo * stride_w + kj * dil_w - pad_left;
                for oy in ylo..yhi {
                    let iy = oy * stride_h + ki * dil_h - pad_top;
                    let d = &mut xc[iy * w..(iy + 1) * w];
                    let s = &src[oy * out_w + xlo..oy * out_w + xhi];
                    if stride_w == 1 {
                        for (t, v) in d[ix0..ix0 + (xhi - xlo)].iter_mut().zip(s) {
                            *t += *v;
                        }
                    } else {
                        for (t, v) in d[ix0..].iter_mut().step_by(stride_w).zip(s) {
                            *t += *v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = ColGeometry {
            channels: 2,
            input: [5, 6],
            output: [3, 3],
            window: Window2d::new([3, 2])
                .with_stride([2, 3])
                .with_dilation([1, 2])
                .with_padding([[1, 1], [2, 2]]),
        };
        let x: Vec<f64> = (0..g.channels * 30)
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        let y: Vec<f64> = (0..g.rows() * g.cols())
            .map(|i| (i as f64 * 0.71).cos())
            .collect();
        let mut cols = vec![f64::NAN; g.rows() * g.cols()];
        im2col(&x, &g, &mut cols);
        let mut back = vec![0.0; x.len()];
        col2im(&y, &g, &mut back);
        let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!(cols.iter().all(|v| v.is_finite()), "every entry is written");
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
