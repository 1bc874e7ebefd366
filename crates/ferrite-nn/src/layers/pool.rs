//! `MaxPool2d` and `AvgPool2d`: PyTorch's pooling layers.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Pair, Pool2dParams, Result};

use crate::Module;

/// 2-D max pooling, like `torch.nn.MaxPool2d`: stride defaults to the kernel size; the
/// gradient of each window goes to its first maximum (row-major order).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{MaxPool2d, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let pool = MaxPool2d::new(2);
/// let y = pool.forward(&Var::new(Tensor::<f32>::zeros(&[64, 16, 28, 28])))?;
/// assert_eq!(y.shape(), vec![64, 16, 14, 14]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    params: Pool2dParams,
}

impl MaxPool2d {
    /// A `kernel_size` window (`2` or `[2, 3]`) with stride equal to it, no padding.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        MaxPool2d {
            params: Pool2dParams::new(kernel_size),
        }
    }
    /// Sets the stride.
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the implicit (−∞) padding.
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.params = self.params.with_dilation(dilation);
        self
    }
    /// Uses ceil instead of floor for the output size.
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.params = self.params.with_ceil_mode(ceil_mode);
        self
    }
    /// The kernel-level parameters.
    pub fn params(&self) -> &Pool2dParams {
        &self.params
    }
}

impl<T: Float> Module<T> for MaxPool2d {
    /// # Shapes
    /// - input: `[N, C, H, W]`
    /// - output: `[N, C, H_out, W_out]`, `H_out = floor((H + 2p − d(k − 1) − 1) / s) + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.max_pool2d(&self.params)
    }
    fn type_name(&self) -> &'static str {
        "MaxPool2d"
    }
    fn describe(&self) -> String {
        let p = &self.params;
        format!(
            "MaxPool2d(kernel_size={:?}, stride={:?}, padding={:?}, dilation={:?}, ceil_mode={})",
            p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode
        )
    }
}

/// 2-D average pooling, like `torch.nn.AvgPool2d` (`count_include_pad` defaults to true).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{AvgPool2d, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let pool = AvgPool2d::new(2);
/// let y = pool.forward(&Var::new(Tensor::<f32>::ones(&[1, 1, 4, 4])))?;
/// assert_eq!(y.value().to_vec(), vec![1.0; 4]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    params: Pool2dParams,
}

impl AvgPool2d {
    /// A `kernel_size` window with stride equal to it, no padding.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        AvgPool2d {
            params: Pool2dParams::new(kernel_size),
        }
    }
    /// Sets the stride.
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the implicit zero padding.
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// Uses ceil instead of floor for the output size.
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.params = self.params.with_ceil_mode(ceil_mode);
        self
    }
    /// Whether padded zeros count in the divisor.
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.params = self.params.with_count_include_pad(count_include_pad);
        self
    }
    /// The kernel-level parameters.
    pub fn params(&self) -> &Pool2dParams {
        &self.params
    }
}

impl<T: Float> Module<T> for AvgPool2d {
    /// # Shapes
    /// - input: `[N, C, H, W]`
    /// - output: `[N, C, H_out, W_out]`, `H_out = floor((H + 2p − k) / s) + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.avg_pool2d(&self.params)
    }
    fn type_name(&self) -> &'static str {
        "AvgPool2d"
    }
    fn describe(&self) -> String {
        let p = &self.params;
        format!(
            "AvgPool2d(kernel_size={:?}, stride={:?}, padding={:?}, ceil_mode={}, count_include_pad={})",
            p.kernel_size, p.stride, p.padding, p.ceil_mode, p.count_include_pad
        )
    }
}
