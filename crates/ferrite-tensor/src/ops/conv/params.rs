//! The hyper-parameters of a 2-D convolution and its output-size arithmetic.

use crate::ops::window::{Pair, Window2d};
use crate::{Result, TensorError};

/// How much zero padding a convolution adds, like PyTorch's `padding=` argument.
///
/// ```
/// use ferrite_tensor::Padding;
/// let p = Padding::Explicit([1, 1]);
/// assert_ne!(p, Padding::Same);
/// assert_eq!(Padding::from(2), Padding::Explicit([2, 2]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// `[ph, pw]` added on both sides of each spatial dimension.
    Explicit([usize; 2]),
    /// PyTorch's `"same"`: output size equals input size (stride must be 1); an odd total
    /// padding puts the extra row/column at the bottom/right.
    Same,
    /// PyTorch's `"valid"`: no padding.
    Valid,
}

impl From<usize> for Padding {
    /// `1` means `Padding::Explicit([1, 1])`, as PyTorch's `padding=1`.
    fn from(p: usize) -> Self {
        Padding::Explicit([p, p])
    }
}

impl From<[usize; 2]> for Padding {
    /// `[ph, pw]` means `Padding::Explicit([ph, pw])`.
    fn from(p: [usize; 2]) -> Self {
        Padding::Explicit(p)
    }
}

/// What the padded border of a convolution *layer* holds, like `nn.Conv2d`'s
/// `padding_mode=`.
///
/// The convolution kernel itself only pads with zeros (like `F.conv2d`); for another mode
/// the layer pads its input first with [`Tensor::pad`](crate::Tensor::pad) and then
/// convolves without padding, as PyTorch's `Conv2d._conv_forward` does.
///
/// ```
/// use ferrite_tensor::{PadMode, PaddingMode};
/// assert_eq!(PaddingMode::default(), PaddingMode::Zeros);
/// assert_eq!(PadMode::from(PaddingMode::Reflect), PadMode::Reflect);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// Zeros (the default).
    #[default]
    Zeros,
    /// Mirror without repeating the edge: `[a b c]` padded by 1 gives `[b a b c b]`.
    Reflect,
    /// Repeat the edge: `[a b c]` padded by 1 gives `[a a b c c]`.
    Replicate,
    /// Wrap around: `[a b c]` padded by 1 gives `[c a b c a]`.
    Circular,
}

/// The hyper-parameters of a 2-D convolution, with PyTorch's defaults (those of
/// `F.conv2d`: the padding is zeros).
///
/// ```
/// use ferrite_tensor::{Conv2dParams, Padding};
/// let p = Conv2dParams::default().with_stride([2, 2]).with_padding(Padding::Explicit([1, 1]));
/// assert_eq!(p.stride, [2, 2]);
/// assert_eq!(p.groups, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step of the sliding window, `[sh, sw]` (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Zero padding (default `Explicit([0, 0])`).
    pub padding: Padding,
    /// Spacing between kernel taps, `[dh, dw]` (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Number of blocked connections from input to output channels (default 1).
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Sets the stride (`2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::Conv2dParams;
    /// assert_eq!(Conv2dParams::default().with_stride([2, 1]).stride, [2, 1]);
    /// assert_eq!(Conv2dParams::default().with_stride(2).stride, [2, 2]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.stride = stride.into().0;
        self
    }

    /// Sets the padding (`1`, `[1, 2]`, `Padding::Same` or `Padding::Valid`).
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// assert_eq!(Conv2dParams::default().with_padding(1).padding, Padding::Explicit([1, 1]));
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }

    /// Sets the dilation (`2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::Conv2dParams;
    /// assert_eq!(Conv2dParams::default().with_dilation(2).dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.dilation = dilation.into().0;
        self
    }

    /// Sets the number of groups.
    ///
    /// ```
    /// use ferrite_tensor::Conv2dParams;
    /// assert_eq!(Conv2dParams::default().with_groups(4).groups, 4);
    /// ```
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The padding actually applied for a kernel of size `kernel = [kh, kw]`, as
    /// `[top, bottom, left, right]`.
    ///
    /// `Explicit([ph, pw])` gives `[ph, ph, pw, pw]` and `Valid` gives zeros. `Same` pads a
    /// total of `dilation * (kernel - 1)` per dimension, `total / 2` before and the rest after
    /// (the extra row/column goes to the bottom/right), exactly like PyTorch.
    ///
    /// # Shapes
    /// - `kernel`: `[kh, kw]`
    /// - result: `[top, bottom, left, right]`
    ///
    /// # Errors
    /// When the kernel size, stride or dilation has a zero, or `Same` is combined with a
    /// stride other than 1 (PyTorch: "padding='same' is not supported for strided convolutions").
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// let same = Conv2dParams::default().with_padding(Padding::Same);
    /// assert_eq!(same.resolve_padding([3, 4])?, [1, 1, 1, 2]);
    /// let dilated = same.with_dilation([2, 1]);
    /// assert_eq!(dilated.resolve_padding([3, 3])?, [2, 2, 1, 1]);
    /// let explicit = Conv2dParams::default().with_padding(Padding::Explicit([1, 2]));
    /// assert_eq!(explicit.resolve_padding([3, 3])?, [1, 1, 2, 2]);
    /// assert!(same.with_stride([2, 2]).resolve_padding([3, 3]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn resolve_padding(&self, kernel: [usize; 2]) -> Result<[usize; 4]> {
        let [[top, bottom], [left, right]] = self.window_for("conv2d", kernel)?.padding;
        Ok([top, bottom, left, right])
    }

    /// The output size `[oh, ow]` of a convolution of an `input_hw = [h, w]` input by a
    /// `kernel = [kh, kw]` kernel: per dimension
    /// `floor((h + pad_before + pad_after - dilation * (k - 1) - 1) / stride) + 1`
    /// ([`Window::output_size`](crate::Window::output_size)).
    ///
    /// # Shapes
    /// - `input_hw`: `[h, w]` (before padding)
    /// - `kernel`: `[kh, kw]`
    /// - result: `[oh, ow]`
    ///
    /// # Errors
    /// When the stride or dilation has a zero, the kernel has a zero size, `Same` padding is
    /// used with a stride other than 1, the dilated kernel is larger than the padded input, or
    /// a size overflows `usize`. The messages name `conv2d`.
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// let p = Conv2dParams::default().with_stride([2, 2]);
    /// assert_eq!(p.output_size([9, 9], [3, 3])?, [4, 4]);
    /// let p = Conv2dParams::default().with_padding(Padding::Explicit([1, 0])).with_dilation([2, 2]);
    /// assert_eq!(p.output_size([7, 8], [3, 3])?, [5, 4]);
    /// let err = Conv2dParams::default().output_size([2, 2], [3, 3]).unwrap_err();
    /// assert!(err.to_string().starts_with("conv2d: "));
    /// assert!(Conv2dParams::default().with_stride([0, 1]).output_size([5, 5], [3, 3]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2], kernel: [usize; 2]) -> Result<[usize; 2]> {
        self.window_for("conv2d", kernel)?
            .output_size("conv2d", input_hw)
    }

    /// The sliding window of a `kernel = [kh, kw]` kernel under these parameters, with the
    /// padding resolved ([`Conv2dParams::resolve_padding`]).
    ///
    /// # Errors
    /// As [`Conv2dParams::resolve_padding`].
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// let w = Conv2dParams::default().with_padding(Padding::Same).window([3, 4])?;
    /// assert_eq!(w.padding, [[1, 1], [1, 2]]);
    /// assert_eq!(w.output_size("conv2d", [6, 7])?, [6, 7]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn window(&self, kernel: [usize; 2]) -> Result<Window2d> {
        self.window_for("conv2d", kernel)
    }

    /// [`Conv2dParams::window`] with errors naming `op`.
    pub(super) fn window_for(&self, op: &'static str, kernel: [usize; 2]) -> Result<Window2d> {
        let window = Window2d::new(kernel)
            .with_stride(self.stride)
            .with_dilation(self.dilation);
        window.check(op)?;
        let padding = match self.padding {
            Padding::Explicit([ph, pw]) => [[ph, ph], [pw, pw]],
            Padding::Valid => [[0, 0]; 2],
            Padding::Same => {
                if self.stride != [1, 1] {
                    return Err(TensorError::invalid(
                        op,
                        format!(
                            "padding='same' is not supported for strided convolutions (stride {:?})",
                            self.stride
                        ),
                    ));
                }
                let mut padding = [[0, 0]; 2];
                for (dim, pad) in padding.iter_mut().enumerate() {
                    let total = window.axis(dim).span().ok_or_else(|| {
                        TensorError::invalid(
                            op,
                            format!(
                                "kernel {kernel:?} with dilation {:?} is too large",
                                self.dilation
                            ),
                        )
                    })? - 1;
                    *pad = [total / 2, total - total / 2];
                }
                padding
            }
        };
        Ok(window.with_padding(padding))
    }
}
