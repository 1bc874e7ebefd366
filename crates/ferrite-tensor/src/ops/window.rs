//! The geometry of a sliding window, shared by convolution and pooling.
//!
//! A window of `kernel` taps spaced by `dilation` moves by `stride` over an input padded by
//! `padding` before and after each dimension. Along one dimension of size `n` it spans
//! `dilation * (kernel - 1) + 1` elements and gives
//!
//! ```text
//! out = floor((n + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride) + 1
//! ```
//!
//! positions (the formula `docs/conv1.md` derives). In `ceil_mode` (pooling) the division
//! rounds up instead, but the last window must still start inside the input or the leading
//! padding. [`Window`] holds these settings for any number of dimensions ([`Window2d`] for
//! `conv2d` and the 2-D pools, [`Window1d`] for their 1-D siblings) and [`WindowAxis`] one
//! dimension of it, with the index arithmetic the kernels share.

use crate::{Result, TensorError};

/// A sliding window over `D` spatial dimensions: kernel, stride, padding, dilation and
/// rounding mode, with PyTorch's meaning.
///
/// ```
/// use ferrite_tensor::Window2d;
/// let w = Window2d::new([3, 3]).with_stride([2, 2]).with_padding([[1, 1], [1, 1]]);
/// assert_eq!(w.output_size("conv2d", [28, 28])?, [14, 14]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<const D: usize> {
    /// Taps per dimension.
    pub kernel: [usize; D],
    /// Step per dimension.
    pub stride: [usize; D],
    /// Implicit padding `[before, after]` per dimension (`[[top, bottom], [left, right]]` in
    /// 2-D).
    pub padding: [[usize; 2]; D],
    /// Spacing between taps per dimension.
    pub dilation: [usize; D],
    /// Round the output size up instead of down (pooling's `ceil_mode`).
    pub ceil_mode: bool,
}

/// A window over height and width, as conv2d and the 2-D pools use it.
pub type Window2d = Window<2>;

/// A window over one dimension, as conv1d and the 1-D pools use it.
pub type Window1d = Window<1>;

impl<const D: usize> Window<D> {
    /// A window of `kernel` taps with stride 1, no padding, no dilation, floor mode.
    ///
    /// ```
    /// use ferrite_tensor::Window1d;
    /// let w = Window1d::new([3]);
    /// assert_eq!((w.stride, w.padding, w.dilation), ([1], [[0, 0]], [1]));
    /// assert_eq!(w.output_size("conv1d", [10])?, [8]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new(kernel: [usize; D]) -> Self {
        Window {
            kernel,
            stride: [1; D],
            padding: [[0, 0]; D],
            dilation: [1; D],
            ceil_mode: false,
        }
    }

    /// Sets the stride.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// assert_eq!(Window2d::new([3, 3]).with_stride([2, 1]).stride, [2, 1]);
    /// ```
    pub fn with_stride(mut self, stride: [usize; D]) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding, `[before, after]` per dimension.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// let w = Window2d::new([3, 3]).with_padding([[1, 2], [0, 0]]);
    /// assert_eq!(w.padding[0], [1, 2]);
    /// ```
    pub fn with_padding(mut self, padding: [[usize; 2]; D]) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// assert_eq!(Window2d::new([3, 3]).with_dilation([2, 2]).dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: [usize; D]) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets ceil mode.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// assert!(Window2d::new([2, 2]).with_ceil_mode(true).ceil_mode);
    /// ```
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    /// Dimension `dim` of the window on its own.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// let w = Window2d::new([3, 5]).with_padding([[1, 1], [2, 0]]);
    /// assert_eq!(w.axis(1).kernel, 5);
    /// assert_eq!(w.axis(1).padding, [2, 0]);
    /// ```
    pub fn axis(&self, dim: usize) -> WindowAxis {
        WindowAxis {
            kernel: self.kernel[dim],
            stride: self.stride[dim],
            padding: self.padding[dim],
            dilation: self.dilation[dim],
            ceil_mode: self.ceil_mode,
        }
    }

    /// Refuses a zero kernel size, stride or dilation; errors name `op`.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// assert!(Window2d::new([3, 3]).check("conv2d").is_ok());
    /// let err = Window2d::new([3, 3]).with_stride([0, 1]).check("conv2d").unwrap_err();
    /// assert_eq!(err.to_string(), "conv2d: stride must be positive, found [0, 1]");
    /// ```
    pub fn check(&self, op: &'static str) -> Result<()> {
        for (name, value) in [
            ("kernel_size", self.kernel),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if value.contains(&0) {
                return Err(TensorError::invalid(
                    op,
                    format!("{name} must be positive, found {value:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The number of window positions along each dimension of an `input` of that size:
    /// `floor((n + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride) + 1`, or
    /// with the division rounded up in `ceil_mode`, where the last window must still start
    /// inside the input or the leading padding (one position less otherwise).
    ///
    /// # Shapes
    /// `input`: the `D` spatial sizes (before padding); the result has `D` sizes too.
    ///
    /// # Errors
    /// Errors name `op`: a zero kernel size, stride or dilation ([`Window::check`]); a
    /// size that overflows `usize`; a window larger than the padded input (in `ceil_mode`,
    /// larger than the padded input plus `stride - 1`), which leaves no output position.
    ///
    /// ```
    /// use ferrite_tensor::Window2d;
    /// let w = Window2d::new([3, 3]).with_stride([2, 2]);
    /// assert_eq!(w.output_size("max_pool2d", [8, 8])?, [3, 3]);
    /// assert_eq!(w.with_ceil_mode(true).output_size("max_pool2d", [8, 8])?, [4, 4]);
    /// let err = Window2d::new([3, 3]).output_size("conv2d", [2, 2]).unwrap_err();
    /// assert!(err.to_string().contains("is larger than the padded input [2, 2]"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, op: &'static str, input: [usize; D]) -> Result<[usize; D]> {
        self.check(op)?;
        let overflow = || {
            TensorError::invalid(
                op,
                format!(
                    "sizes overflow: input {input:?}, kernel_size {:?}, padding {:?}, dilation {:?}",
                    self.kernel, self.padding, self.dilation
                ),
            )
        };
        let mut out = [0; D];
        let mut padded = [0; D];
        let mut span = [0; D];
        let mut fits = true;
        for dim in 0..D {
            let axis = self.axis(dim);
            padded[dim] = axis.padded_len(input[dim]).ok_or_else(overflow)?;
            span[dim] = axis.span().ok_or_else(overflow)?;
            match axis.output_len(input[dim]) {
                Some(Some(len)) => out[dim] = len,
                Some(None) => fits = false,
                None => return Err(overflow()),
            }
        }
        if !fits {
            let slack = if self.ceil_mode {
                format!(
                    "; ceil_mode lets the last window overhang by stride - 1 with stride {:?}",
                    self.stride
                )
            } else {
                String::new()
            };
            return Err(TensorError::shape(
                op,
                format!(
                    "kernel {:?} (spanning {span:?} with dilation {:?}) is larger than the padded \
                     input {padded:?} (input {input:?}, padding [before, after] per dimension \
                     {:?}{slack})",
                    self.kernel, self.dilation, self.padding
                ),
            ));
        }
        Ok(out)
    }
}

/// A `[h, w]` pair given as one number (both) or two, as PyTorch's `_pair` reads
/// `kernel_size=2` or `stride=(2, 1)`: `2.into()` is `[2, 2]`.
///
/// ```
/// use ferrite_tensor::Pair;
/// assert_eq!(Pair::from(2).0, [2, 2]);
/// assert_eq!(Pair::from([1, 3]).0, [1, 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair(pub [usize; 2]);

impl From<usize> for Pair {
    fn from(v: usize) -> Self {
        Pair([v, v])
    }
}

impl From<[usize; 2]> for Pair {
    fn from(v: [usize; 2]) -> Self {
        Pair(v)
    }
}

/// One dimension of a [`Window`]: where its taps land, and which output positions see only
/// real input.
///
/// ```
/// use ferrite_tensor::Window1d;
/// let axis = Window1d::new([3]).with_padding([[1, 1]]).axis(0);
/// assert_eq!(axis.output_len(5), Some(Some(5)));
/// // Tap 0 reads position o - 1: inside 0..5 for o in 1..5 (o = 0 reads the padding).
/// assert_eq!(axis.tap_range(0, 5, 5), (1, 5));
/// assert_eq!(axis.interior(5, 5), (1, 4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAxis {
    /// Taps.
    pub kernel: usize,
    /// Step.
    pub stride: usize,
    /// Implicit padding `[before, after]`.
    pub padding: [usize; 2],
    /// Spacing between taps.
    pub dilation: usize,
    /// Round the output length up.
    pub ceil_mode: bool,
}

impl WindowAxis {
    /// The elements one window covers, `dilation * (kernel - 1) + 1` (`None` on overflow;
    /// the kernel must not be empty).
    pub fn span(&self) -> Option<usize> {
        self.dilation
            .checked_mul(self.kernel.saturating_sub(1))?
            .checked_add(1)
    }

    /// `input_len + pad_before + pad_after` (`None` on overflow).
    pub fn padded_len(&self, input_len: usize) -> Option<usize> {
        input_len
            .checked_add(self.padding[0])?
            .checked_add(self.padding[1])
    }

    /// The number of window positions over `input_len` elements (see
    /// [`Window::output_size`]): `None` when a size overflows, `Some(None)` when not even one
    /// window fits. Expects a positive kernel, stride and dilation ([`Window::check`]).
    pub fn output_len(&self, input_len: usize) -> Option<Option<usize>> {
        let padded = self.padded_len(input_len)?;
        let slack = if self.ceil_mode { self.stride - 1 } else { 0 };
        let reach = padded.checked_add(slack)?;
        let span = self.span()?;
        if span > reach {
            return Some(None);
        }
        let mut len = (reach - span) / self.stride + 1;
        // In ceil mode the last window must start inside the input or the leading padding.
        if self.ceil_mode && (len - 1) * self.stride >= input_len + self.padding[0] {
            len -= 1;
        }
        Some((len > 0).then_some(len))
    }

    /// The output positions `lo..hi` (within `0..out_len`) whose tap number `tap` lands
    /// inside the input `0..input_len`, that is `o * stride + tap * dilation - pad_before` in
    /// range. The range is empty (`lo == hi`) when no position qualifies.
    ///
    /// im2col and col2im copy exactly these positions and treat the others as padding.
    pub fn tap_range(&self, tap: usize, out_len: usize, input_len: usize) -> (usize, usize) {
        // In i128 so that no padding a caller accepted can overflow.
        let offset = (tap as i128) * (self.dilation as i128) - self.padding[0] as i128;
        let stride = self.stride as i128;
        let lo = if offset >= 0 {
            0
        } else {
            (-offset + stride - 1) / stride
        };
        let room = input_len as i128 - offset;
        let hi = if room <= 0 {
            0
        } else {
            (room + stride - 1) / stride
        };
        let hi = hi.min(out_len as i128);
        let lo = lo.min(hi);
        (lo as usize, hi as usize)
    }

    /// The output positions `lo..hi` whose whole window lies inside the input (no tap in
    /// the padding): those where both the first and the last tap land inside. Empty
    /// (`lo == hi`) when there are none.
    ///
    /// The pooling kernels run their vectorised loop over exactly these positions.
    pub fn interior(&self, out_len: usize, input_len: usize) -> (usize, usize) {
        let (first_lo, first_hi) = self.tap_range(0, out_len, input_len);
        let (last_lo, last_hi) = self.tap_range(self.kernel - 1, out_len, input_len);
        let lo = first_lo.max(last_lo);
        (lo, first_hi.min(last_hi).max(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(kernel: usize, stride: usize, pad: usize, dilation: usize) -> WindowAxis {
        Window1d::new([kernel])
            .with_stride([stride])
            .with_padding([[pad, pad]])
            .with_dilation([dilation])
            .axis(0)
    }

    #[test]
    fn tap_range_matches_brute_force() {
        for out_len in 0..6 {
            for stride in 1..4 {
                for tap in 0..3 {
                    for dilation in 1..3 {
                        for pad in 0..5 {
                            for in_len in 0..7 {
                                let a = axis(3, stride, pad, dilation);
                                let ok: Vec<usize> = (0..out_len)
                                    .filter(|&o| {
                                        let i =
                                            (o * stride + tap * dilation) as isize - pad as isize;
                                        i >= 0 && (i as usize) < in_len
                                    })
                                    .collect();
                                let (lo, hi) = a.tap_range(tap, out_len, in_len);
                                let got: Vec<usize> = (lo..hi).collect();
                                assert_eq!(got, ok, "{out_len} {stride} {tap} {pad} {in_len}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn interior_matches_brute_force() {
        for kernel in 1..4 {
            for stride in 1..4 {
                for dilation in 1..3 {
                    for pad in 0..3 {
                        for in_len in 1..8 {
                            let a = axis(kernel, stride, pad, dilation);
                            let Some(Some(out_len)) = a.output_len(in_len) else {
                                continue;
                            };
                            let inside = |o: usize| {
                                (0..kernel).all(|t| {
                                    let i = (o * stride + t * dilation) as isize - pad as isize;
                                    i >= 0 && (i as usize) < in_len
                                })
                            };
                            let ok: Vec<usize> = (0..out_len).filter(|&o| inside(o)).collect();
                            let (lo, hi) = a.interior(out_len, in_len);
                            assert_eq!((lo..hi).collect::<Vec<_>>(), ok);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn output_len_follows_pytorch_formula() {
        // floor((n + 2p - d(k - 1) - 1) / s) + 1, and in ceil mode the same rounded up,
        // minus one when the last window would start in the trailing padding.
        for kernel in 1..5 {
            for stride in 1..4 {
                for pad in 0..3 {
                    for dilation in 1..3 {
                        for in_len in 1..12 {
                            for ceil in [false, true] {
                                let a = WindowAxis {
                                    ceil_mode: ceil,
                                    ..axis(kernel, stride, pad, dilation)
                                };
                                let num = in_len as i64 + 2 * pad as i64
                                    - dilation as i64 * (kernel as i64 - 1)
                                    - 1;
                                let s = stride as i64;
                                let mut want = if ceil {
                                    (num + s - 1).div_euclid(s) + 1
                                } else {
                                    num.div_euclid(s) + 1
                                };
                                if ceil && (want - 1) * s >= in_len as i64 + pad as i64 {
                                    want -= 1;
                                }
                                let got = a.output_len(in_len).unwrap();
                                let want = (want > 0).then_some(want as usize);
                                assert_eq!(
                                    got, want,
                                    "{kernel} {stride} {pad} {dilation} {in_len}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn errors_name_the_op_and_the_sizes() {
        let w = Window2d::new([3, 3]);
        let err = w.output_size("conv2d", [2, 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conv2d: kernel [3, 3] (spanning [3, 3] with dilation [1, 1]) is larger than the \
             padded input [2, 5] (input [2, 5], padding [before, after] per dimension \
             [[0, 0], [0, 0]])"
        );
        let huge = w.with_padding([[usize::MAX, 1], [0, 0]]);
        assert!(
            huge.output_size("conv2d", [2, 5])
                .unwrap_err()
                .to_string()
                .contains("overflow")
        );
        let err = w
            .with_dilation([1, 0])
            .output_size("max_pool2d", [5, 5])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_pool2d: dilation must be positive, found [1, 0]"
        );
    }
}
