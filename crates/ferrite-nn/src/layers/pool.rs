//! PyTorch's 2-D pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`,
//! `AdaptiveMaxPool2d` and `MaxUnpool2d`. Each accepts batched `[N, C, H, W]` and unbatched
//! `[C, H, W]` inputs, as PyTorch does.

use ferrite_autograd::Var;
use ferrite_tensor::{AdaptiveSize, Float, Indices, Pair, Pool2dParams, Result, Unpool2dParams};

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
    return_indices: bool,
}

impl MaxPool2d {
    /// A `kernel_size` window (`2` or `[2, 3]`) with stride equal to it, no padding.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        MaxPool2d {
            params: Pool2dParams::new(kernel_size),
            return_indices: false,
        }
    }
    /// PyTorch's `return_indices`, kept for [`return_indices`](MaxPool2d::return_indices):
    /// [`Module::forward`] returns the output alone (a module has one result), and
    /// [`forward_with_indices`](MaxPool2d::forward_with_indices) both, whatever this flag.
    ///
    /// ```
    /// use ferrite_nn::MaxPool2d;
    /// assert!(MaxPool2d::new(2).with_return_indices(true).return_indices());
    /// ```
    pub fn with_return_indices(mut self, return_indices: bool) -> Self {
        self.return_indices = return_indices;
        self
    }
    /// Whether the layer was built with `return_indices`.
    ///
    /// ```
    /// use ferrite_nn::MaxPool2d;
    /// assert!(!MaxPool2d::new(2).return_indices());
    /// ```
    pub fn return_indices(&self) -> bool {
        self.return_indices
    }
    /// The output and the position `ih · W + iw` of each window's maximum in its unpadded
    /// `(n, c)` plane, like calling `nn.MaxPool2d(..., return_indices=True)`; the indices
    /// are what [`MaxUnpool2d`] takes.
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output and indices: `[N, C, H_out, W_out]` (or `[C, H_out, W_out]`)
    ///
    /// # Errors
    /// As [`Var::max_pool2d`].
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::MaxPool2d;
    /// use ferrite_tensor::Tensor;
    /// let pool = MaxPool2d::new(2).with_dilation(2).with_stride(1).with_return_indices(true);
    /// let x = Var::new(Tensor::<f32>::arange(0.0, 16.0, 1.0)?.reshape(&[1, 4, 4])?);
    /// let (y, idx) = pool.forward_with_indices(&x)?;
    /// assert_eq!(y.value().to_vec(), vec![10.0, 11.0, 14.0, 15.0]);
    /// assert_eq!(idx.to_vec(), vec![10, 11, 14, 15]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward_with_indices<T: Float>(&self, input: &Var<T>) -> Result<(Var<T>, Indices)> {
        input.max_pool2d_with_indices(&self.params)
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
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, H_out, W_out]` (or `[C, ...]`), `H_out = floor((H + 2p − d(k − 1) − 1) / s) + 1`
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
    /// Divides every window's sum by `divisor` instead (PyTorch's `divisor_override`; any
    /// non-zero integer, negative too; 0 is refused by `forward`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{AvgPool2d, Module};
    /// use ferrite_tensor::Tensor;
    /// let pool = AvgPool2d::new(2).with_divisor_override(3);
    /// let y = pool.forward(&Var::new(Tensor::<f64>::ones(&[1, 2, 2])))?;
    /// assert_eq!(y.value().to_vec(), vec![4.0 / 3.0]);
    /// assert!(AvgPool2d::new(2).with_divisor_override(0).forward(&Var::new(Tensor::<f64>::ones(&[1, 2, 2]))).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_divisor_override(mut self, divisor: i64) -> Self {
        self.params = self.params.with_divisor_override(divisor);
        self
    }
    /// The kernel-level parameters.
    pub fn params(&self) -> &Pool2dParams {
        &self.params
    }
}

impl<T: Float> Module<T> for AvgPool2d {
    /// # Shapes
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, H_out, W_out]` (or `[C, ...]`), `H_out = floor((H + 2p − k) / s) + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.avg_pool2d(&self.params)
    }
    fn type_name(&self) -> &'static str {
        "AvgPool2d"
    }
    fn describe(&self) -> String {
        let p = &self.params;
        let divisor = p
            .divisor_override
            .map_or_else(|| "None".to_string(), |d| d.to_string());
        format!(
            "AvgPool2d(kernel_size={:?}, stride={:?}, padding={:?}, ceil_mode={}, count_include_pad={}, divisor_override={divisor})",
            p.kernel_size, p.stride, p.padding, p.ceil_mode, p.count_include_pad
        )
    }
}

/// An output size as PyTorch prints it: `1`, `(3, 2)`, `(None, 7)`.
fn python_size(size: &AdaptiveSize) -> String {
    let show = |v: Option<usize>| v.map_or_else(|| "None".to_string(), |v| v.to_string());
    match size.0 {
        [Some(a), Some(b)] if a == b => a.to_string(),
        [a, b] => format!("({}, {})", show(a), show(b)),
    }
}

/// 2-D adaptive average pooling, like `torch.nn.AdaptiveAvgPool2d(output_size)`: output row
/// `i` of `oh` averages input rows `⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉` (likewise for columns); a
/// `None` size keeps the input's. `AdaptiveAvgPool2d::new(1)` is global average pooling.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{AdaptiveAvgPool2d, Module};
/// use ferrite_tensor::Tensor;
/// let gap = AdaptiveAvgPool2d::new(1);
/// let y = gap.forward(&Var::new(Tensor::<f32>::ones(&[8, 16, 7, 7])))?;
/// assert_eq!(y.shape(), vec![8, 16, 1, 1]);
/// let keep_h = AdaptiveAvgPool2d::new([None, Some(2)]);
/// assert_eq!(keep_h.forward(&Var::new(Tensor::<f32>::ones(&[3, 5, 4])))?.shape(), vec![3, 5, 2]);
/// assert_eq!(Module::<f32>::describe(&keep_h), "AdaptiveAvgPool2d(output_size=(None, 2))");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    output_size: AdaptiveSize,
}

impl AdaptiveAvgPool2d {
    /// Pools to `output_size`: `7`, `[7, 5]` or `[None, Some(5)]`.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveAvgPool2d;
    /// assert_eq!(AdaptiveAvgPool2d::new([3, 2]).output_size().0, [Some(3), Some(2)]);
    /// ```
    pub fn new(output_size: impl Into<AdaptiveSize>) -> Self {
        AdaptiveAvgPool2d {
            output_size: output_size.into(),
        }
    }
    /// The output size.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveAvgPool2d;
    /// assert_eq!(AdaptiveAvgPool2d::new(1).output_size().0, [Some(1), Some(1)]);
    /// ```
    pub fn output_size(&self) -> AdaptiveSize {
        self.output_size
    }
}

impl<T: Float> Module<T> for AdaptiveAvgPool2d {
    /// # Shapes
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.adaptive_avg_pool2d(self.output_size)
    }
    fn type_name(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }
    fn describe(&self) -> String {
        format!(
            "AdaptiveAvgPool2d(output_size={})",
            python_size(&self.output_size)
        )
    }
}

/// 2-D adaptive max pooling, like `torch.nn.AdaptiveMaxPool2d(output_size, return_indices)`:
/// the windows of [`AdaptiveAvgPool2d`], the maximum of each (the first in row-major order on
/// ties, which also receives the gradient).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{AdaptiveMaxPool2d, Module};
/// use ferrite_tensor::Tensor;
/// let pool = AdaptiveMaxPool2d::new([1, 2]).with_return_indices(true);
/// let x = Var::new(Tensor::<f32>::from_vec(vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0], &[1, 2, 3])?);
/// assert_eq!(pool.forward(&x)?.value().to_vec(), vec![5.0, 5.0]);
/// let (_, idx) = pool.forward_with_indices(&x)?;
/// assert_eq!(idx.to_vec(), vec![1, 1]);
/// assert_eq!(Module::<f32>::describe(&pool), "AdaptiveMaxPool2d(output_size=(1, 2))");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveMaxPool2d {
    output_size: AdaptiveSize,
    return_indices: bool,
}

impl AdaptiveMaxPool2d {
    /// Pools to `output_size`: `7`, `[7, 5]` or `[None, Some(5)]`.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveMaxPool2d;
    /// assert_eq!(AdaptiveMaxPool2d::new(4).output_size().0, [Some(4), Some(4)]);
    /// ```
    pub fn new(output_size: impl Into<AdaptiveSize>) -> Self {
        AdaptiveMaxPool2d {
            output_size: output_size.into(),
            return_indices: false,
        }
    }
    /// PyTorch's `return_indices`, kept for [`return_indices`](AdaptiveMaxPool2d::return_indices):
    /// [`Module::forward`] returns the output alone, and
    /// [`forward_with_indices`](AdaptiveMaxPool2d::forward_with_indices) both.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveMaxPool2d;
    /// assert!(AdaptiveMaxPool2d::new(2).with_return_indices(true).return_indices());
    /// ```
    pub fn with_return_indices(mut self, return_indices: bool) -> Self {
        self.return_indices = return_indices;
        self
    }
    /// Whether the layer was built with `return_indices`.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveMaxPool2d;
    /// assert!(!AdaptiveMaxPool2d::new(2).return_indices());
    /// ```
    pub fn return_indices(&self) -> bool {
        self.return_indices
    }
    /// The output size.
    ///
    /// ```
    /// use ferrite_nn::AdaptiveMaxPool2d;
    /// assert_eq!(AdaptiveMaxPool2d::new([None, Some(3)]).output_size().0, [None, Some(3)]);
    /// ```
    pub fn output_size(&self) -> AdaptiveSize {
        self.output_size
    }
    /// The output and the position `ih · W + iw` of each maximum in its `(n, c)` plane.
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output and indices: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`Var::adaptive_max_pool2d`].
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::AdaptiveMaxPool2d;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::arange(0.0, 4.0, 1.0)?.reshape(&[1, 1, 2, 2])?);
    /// let (y, idx) = AdaptiveMaxPool2d::new(1).forward_with_indices(&x)?;
    /// assert_eq!((y.value().to_vec(), idx.to_vec()), (vec![3.0], vec![3]));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward_with_indices<T: Float>(&self, input: &Var<T>) -> Result<(Var<T>, Indices)> {
        input.adaptive_max_pool2d_with_indices(self.output_size)
    }
}

impl<T: Float> Module<T> for AdaptiveMaxPool2d {
    /// # Shapes
    /// - input: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.adaptive_max_pool2d(self.output_size)
    }
    fn type_name(&self) -> &'static str {
        "AdaptiveMaxPool2d"
    }
    fn describe(&self) -> String {
        format!(
            "AdaptiveMaxPool2d(output_size={})",
            python_size(&self.output_size)
        )
    }
}

/// 2-D max unpooling, like `torch.nn.MaxUnpool2d(kernel_size, stride=None, padding=0)`: puts
/// each value back at the position its index (from [`MaxPool2d::forward_with_indices`])
/// names, zeros elsewhere.
///
/// It takes two inputs (the values and the indices), so it is not a [`Module`] (whose
/// `forward` takes one): call [`forward`](MaxUnpool2d::forward) or
/// [`forward_with_output_size`](MaxUnpool2d::forward_with_output_size) directly.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{MaxPool2d, MaxUnpool2d};
/// use ferrite_tensor::Tensor;
/// let x = Var::new(Tensor::<f32>::arange(0.0, 16.0, 1.0)?.reshape(&[1, 1, 4, 4])?);
/// let (y, idx) = MaxPool2d::new(2).forward_with_indices(&x)?;
/// let unpool = MaxUnpool2d::new(2);
/// let z = unpool.forward(&y, &idx)?;
/// assert_eq!(z.value().to_vec()[5], 5.0); // the maximum of the first window, back in place
/// // An odd input size is lost by pooling: ask for it back.
/// let x = Var::new(Tensor::<f32>::arange(0.0, 20.0, 1.0)?.reshape(&[1, 1, 4, 5])?);
/// let (y, idx) = MaxPool2d::new(2).forward_with_indices(&x)?;
/// assert_eq!(unpool.forward_with_output_size(&y, &idx, [4, 5])?.shape(), vec![1, 1, 4, 5]);
/// assert_eq!(unpool.describe(), "MaxUnpool2d(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0])");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxUnpool2d {
    params: Unpool2dParams,
}

impl MaxUnpool2d {
    /// Inverts a `kernel_size` max pooling (`2` or `[2, 3]`), stride equal to it, no padding.
    ///
    /// ```
    /// use ferrite_nn::MaxUnpool2d;
    /// assert_eq!(MaxUnpool2d::new(3).params().stride, [3, 3]);
    /// ```
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        MaxUnpool2d {
            params: Unpool2dParams::new(kernel_size),
        }
    }
    /// Sets the stride of the pooling inverted.
    ///
    /// ```
    /// use ferrite_nn::MaxUnpool2d;
    /// assert_eq!(MaxUnpool2d::new(3).with_stride(2).params().stride, [2, 2]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the padding of the pooling inverted.
    ///
    /// ```
    /// use ferrite_nn::MaxUnpool2d;
    /// assert_eq!(MaxUnpool2d::new(3).with_padding(1).params().padding, [1, 1]);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// The kernel-level parameters.
    ///
    /// ```
    /// use ferrite_nn::MaxUnpool2d;
    /// assert_eq!(MaxUnpool2d::new(2).params().kernel_size, [2, 2]);
    /// ```
    pub fn params(&self) -> &Unpool2dParams {
        &self.params
    }
    /// Unpools to the default size `(in − 1) · stride − 2 · padding + kernel_size`.
    ///
    /// # Shapes
    /// - input, indices: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`Var::max_unpool2d`] (an index outside the output plane, indices of another shape).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::MaxUnpool2d;
    /// use ferrite_tensor::{Indices, Tensor};
    /// let y = Var::new(Tensor::<f32>::from_vec(vec![7.0], &[1, 1, 1])?);
    /// let idx = Indices::from_vec(vec![3], &[1, 1, 1])?;
    /// assert_eq!(MaxUnpool2d::new(2).forward(&y, &idx)?.value().to_vec(), vec![0.0, 0.0, 0.0, 7.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, indices: &Indices) -> Result<Var<T>> {
        input.max_unpool2d(indices, &self.params)
    }
    /// Unpools to `output_size` `[oh, ow]` (PyTorch's `output_size` argument of `forward`),
    /// which must lie strictly within a stride of the default size.
    ///
    /// # Shapes
    /// - input, indices: `[N, C, H, W]` or `[C, H, W]`
    /// - output: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`forward`](MaxUnpool2d::forward), and an `output_size` out of that range.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::MaxUnpool2d;
    /// use ferrite_tensor::{Indices, Tensor};
    /// let y = Var::new(Tensor::<f32>::from_vec(vec![7.0], &[1, 1, 1])?);
    /// let idx = Indices::from_vec(vec![4], &[1, 1, 1])?;
    /// let z = MaxUnpool2d::new(2).forward_with_output_size(&y, &idx, [3, 3])?;
    /// assert_eq!(z.value().to_vec()[4], 7.0);
    /// assert!(MaxUnpool2d::new(2).forward_with_output_size(&y, &idx, [4, 4]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward_with_output_size<T: Float>(
        &self,
        input: &Var<T>,
        indices: &Indices,
        output_size: [usize; 2],
    ) -> Result<Var<T>> {
        input.max_unpool2d(indices, &self.params.with_output_size(output_size))
    }
    /// A one-line description, as the pooling layers' `describe`.
    ///
    /// ```
    /// use ferrite_nn::MaxUnpool2d;
    /// assert!(MaxUnpool2d::new(2).describe().starts_with("MaxUnpool2d(kernel_size=[2, 2]"));
    /// ```
    pub fn describe(&self) -> String {
        let p = &self.params;
        format!(
            "MaxUnpool2d(kernel_size={:?}, stride={:?}, padding={:?})",
            p.kernel_size, p.stride, p.padding
        )
    }
}
