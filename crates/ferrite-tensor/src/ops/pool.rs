//! 2-D max and average pooling: parameters, forward and backward kernels.

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
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, padding: [usize; 2]) -> Self {
        self.padding = padding;
        self
    }
    /// Sets the dilation (max pooling).
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
        self
    }
    /// Sets ceil mode.
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
    /// Sets whether average pooling counts padding in its divisor.
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }
}
