//! 2-D convolution: parameters, output-size arithmetic, forward and backward kernels.

/// How much zero (or mode) padding a convolution adds, like PyTorch's `padding=` argument.
///
/// ```
/// use ferrite_tensor::Padding;
/// let p = Padding::Explicit([1, 1]);
/// assert_ne!(p, Padding::Same);
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

/// What the padded border holds, like PyTorch's `padding_mode=`.
///
/// ```
/// use ferrite_tensor::PaddingMode;
/// assert_eq!(PaddingMode::default(), PaddingMode::Zeros);
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

/// The hyper-parameters of a 2-D convolution, with PyTorch's defaults.
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
    /// Padding (default `Explicit([0, 0])`).
    pub padding: Padding,
    /// Spacing between kernel taps, `[dh, dw]` (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Number of blocked connections from input to output channels (default 1).
    pub groups: usize,
    /// What the padded border holds (default zeros).
    pub padding_mode: PaddingMode,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        }
    }
}

impl Conv2dParams {
    /// Sets the stride.
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
        self
    }
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// Sets the padding mode.
    pub fn with_padding_mode(mut self, padding_mode: PaddingMode) -> Self {
        self.padding_mode = padding_mode;
        self
    }
}
