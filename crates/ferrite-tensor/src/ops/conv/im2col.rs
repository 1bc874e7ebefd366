//! Unrolling receptive fields into columns (im2col) and its adjoint (col2im).
//!
//! Both work on one image and one group: `x` is `[c, h, w]` row-major and `cols` is
//! `[c * kh * kw, oh * ow]` row-major, row `(ci * kh + ki) * kw + kj` holding tap `(ki, kj)` of
//! channel `ci` for every output pixel. Zero padding is implicit (never materialised): for each
//! row only the range of output pixels whose tap lands inside the input is copied, the rest is
//! zero-filled (im2col) or skipped (col2im).

use crate::Float;

/// The geometry of a convolution on an already (mode-)padded input: the input plane of one
/// group, the kernel, and the implicit zero padding before the first row and column.
#[derive(Debug, Clone, Copy)]
pub(super) struct ColGeometry {
    /// Channels of one group.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Implicit zero rows above the input.
    pub pt: usize,
    /// Implicit zero columns left of the input.
    pub pl: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ColGeometry {
    /// Rows of the column matrix: `c * kh * kw`.
    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the column matrix: `oh * ow`.
    pub fn cols(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the column matrix is the input itself (1x1 kernel, stride 1, no padding).
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.pt == 0
            && self.pl == 0
            && self.oh == self.h
            && self.ow == self.w
    }
}

/// The output positions `o` in `lo..hi` (within `0..out_len`) for which the tap at
/// `o * stride + tap - pad` falls inside `0..in_len`.
///
/// Computed in `i128` so that no padding the caller accepted can overflow.
fn valid_range(
    out_len: usize,
    stride: usize,
    tap: usize,
    pad: usize,
    in_len: usize,
) -> (usize, usize) {
    let off = tap as i128 - pad as i128;
    let s = stride as i128;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let room = in_len as i128 - off;
    let hi = if room <= 0 { 0 } else { (room + s - 1) / s };
    let hi = hi.min(out_len as i128);
    let lo = lo.min(hi);
    (lo as usize, hi as usize)
}

/// A half-open range `(lo, hi)` of output positions.
type Range = (usize, usize);

/// For each kernel row and each kernel column, the range of output rows (columns) whose tap
/// falls inside the input: `(lo, hi)` as in [`valid_range`].
fn tap_ranges(g: &ColGeometry) -> (Vec<Range>, Vec<Range>) {
    let rows = (0..g.kh)
        .map(|ki| valid_range(g.oh, g.sh, ki * g.dh, g.pt, g.h))
        .collect();
    let cols = (0..g.kw)
        .map(|kj| valid_range(g.ow, g.sw, kj * g.dw, g.pl, g.w))
        .collect();
    (rows, cols)
}

/// Fills `cols` (`[g.rows(), g.cols()]`) with the receptive fields of `x` (`[g.c, g.h, g.w]`).
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
    let l = g.cols();
    let plane = g.h * g.w;
    debug_assert_eq!(x.len(), g.c * plane);
    debug_assert!(g.rows() == 0 || cols.len() >= (g.rows() - 1) * row_stride + l);
    if l == 0 {
        return;
    }
    // Row `r` of the matrix.
    let span = |r: usize| r * row_stride..r * row_stride + l;
    if plane == 0 {
        // An empty input plane: every tap reads padding.
        for r in 0..g.rows() {
            cols[span(r)].fill(T::zero());
        }
        return;
    }
    let mut r = 0;
    // The valid output ranges of each tap, the same for every channel.
    let (rows_of, cols_of) = tap_ranges(g);
    for xc in x.chunks_exact(plane) {
        for (ki, &(ylo, yhi)) in rows_of.iter().enumerate() {
            for (kj, &(xlo, xhi)) in cols_of.iter().enumerate() {
                let dst = &mut cols[span(r)];
                r += 1;
                dst[..ylo * g.ow].fill(T::zero());
                dst[yhi * g.ow..].fill(T::zero());
                if xlo == xhi {
                    dst[ylo * g.ow..yhi * g.ow].fill(T::zero());
                    continue;
                }
                let ix0 = xlo * g.sw + kj * g.dw - g.pl;
                if g.sw == 1 && g.sh * g.w == g.ow && ylo < yhi {
                    // Consecutive output rows read consecutive input rows at a fixed offset
                    // (the usual stride-1 "same" convolution): the valid block is one copy,
                    // after which the columns whose tap falls in the padding (and picked up
                    // a neighbouring row's values) are zeroed.
                    let first = ylo * g.ow + xlo;
                    let last = (yhi - 1) * g.ow + xhi;
                    let src0 = (ylo * g.sh + ki * g.dh - g.pt) * g.w + ix0;
                    dst[first..last].copy_from_slice(&xc[src0..src0 + (last - first)]);
                    // Column by column (usually one on each side): a strided loop, not one
                    // tiny memset call per row.
                    let block = &mut dst[ylo * g.ow..yhi * g.ow];
                    for col in (0..xlo).chain(xhi..g.ow) {
                        for v in block[col..].iter_mut().step_by(g.ow) {
                            *v = T::zero();
                        }
                    }
                    continue;
                }
                for oy in ylo..yhi {
                    let iy = oy * g.sh + ki * g.dh - g.pt;
                    let src = &xc[iy * g.w..(iy + 1) * g.w];
                    let d = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    d[..xlo].fill(T::zero());
                    d[xhi..].fill(T::zero());
                    if g.sw == 1 {
                        d[xlo..xhi].copy_from_slice(&src[ix0..ix0 + (xhi - xlo)]);
                    } else {
                        for (t, s) in d[xlo..xhi].iter_mut().zip(src[ix0..].iter().step_by(g.sw)) {
                            *t = *s;
                        }
                    }
                }
            }
        }
    }
}

/// Adds the columns `cols` (`[g.rows(), g.cols()]`) back onto the input positions they were
/// read from: `x += col2im(cols)`, the adjoint of [`im2col`].
///
/// Every input element receives its contributions in a fixed order (row by row of `cols`).
pub(super) fn col2im<T: Float>(cols: &[T], g: &ColGeometry, x: &mut [T]) {
    let l = g.cols();
    let plane = g.h * g.w;
    debug_assert_eq!(x.len(), g.c * plane);
    debug_assert_eq!(cols.len(), g.rows() * l);
    if l == 0 || plane == 0 {
        return;
    }
    let mut rows = cols.chunks_exact(l);
    // The valid output ranges of each tap, the same for every channel.
    let (rows_of, cols_of) = tap_ranges(g);
    for xc in x.chunks_exact_mut(plane) {
        for (ki, &(ylo, yhi)) in rows_of.iter().enumerate() {
            for (kj, &(xlo, xhi)) in cols_of.iter().enumerate() {
                let src = rows.next().expect("one row per channel and tap");
                if xlo == xhi {
                    continue;
                }
                let ix0 = xlo * g.sw + kj * g.dw - g.pl;
                for oy in ylo..yhi {
                    let iy = oy * g.sh + ki * g.dh - g.pt;
                    let d = &mut xc[iy * g.w..(iy + 1) * g.w];
                    let s = &src[oy * g.ow + xlo..oy * g.ow + xhi];
                    if g.sw == 1 {
                        for (t, v) in d[ix0..ix0 + (xhi - xlo)].iter_mut().zip(s) {
                            *t += *v;
                        }
                    } else {
                        for (t, v) in d[ix0..].iter_mut().step_by(g.sw).zip(s) {
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
    fn valid_range_matches_brute_force() {
        for out_len in 0..6 {
            for stride in 1..4 {
                for tap in 0..5 {
                    for pad in 0..5 {
                        for in_len in 0..7 {
                            let ok: Vec<usize> = (0..out_len)
                                .filter(|&o| {
                                    let i = (o * stride + tap) as isize - pad as isize;
                                    i >= 0 && (i as usize) < in_len
                                })
                                .collect();
                            let (lo, hi) = valid_range(out_len, stride, tap, pad, in_len);
                            let got: Vec<usize> = (lo..hi).collect();
                            assert_eq!(got, ok, "{out_len} {stride} {tap} {pad} {in_len}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = ColGeometry {
            c: 2,
            h: 5,
            w: 6,
            kh: 3,
            kw: 2,
            sh: 2,
            sw: 3,
            dh: 1,
            dw: 2,
            pt: 1,
            pl: 2,
            oh: 3,
            ow: 3,
        };
        let x: Vec<f64> = (0..g.c * g.h * g.w)
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
