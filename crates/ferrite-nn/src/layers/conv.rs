//! `Conv2d`: the convolution layer, PyTorch's `nn.Conv2d`.

use ferrite_autograd::Var;
use ferrite_tensor::{Conv2dParams, Float, Padding, PaddingMode, Result, Rng, TensorError};

use crate::Module;
use crate::init::default_weight_and_bias;
use ferrite_tensor::checked_numel;

/// The settings of a [`Conv2d`], with PyTorch's argument names and defaults.
///
/// ```
/// use ferrite_nn::Conv2dConfig;
/// use ferrite_tensor::Padding;
/// let c = Conv2dConfig::new(1, 16, 3).with_padding(1);
/// assert_eq!(c.kernel_size, [3, 3]);
/// assert_eq!(c.padding, Padding::Explicit([1, 1]));
/// assert!(c.bias);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output (number of filters).
    pub out_channels: usize,
    /// Filter size `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Step `[sh, sw]` (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Padding (default none).
    pub padding: Padding,
    /// Spacing between filter taps (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Channel groups (default 1).
    pub groups: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// What the padded border holds (default zeros).
    pub padding_mode: PaddingMode,
}

impl Conv2dConfig {
    /// `in_channels -> out_channels` with a square `kernel_size` filter, PyTorch's defaults
    /// elsewhere.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel_size: [kernel_size, kernel_size],
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
            bias: true,
            padding_mode: PaddingMode::Zeros,
        }
    }
    /// Sets a non-square kernel size.
    pub fn with_kernel_size(mut self, kernel_size: [usize; 2]) -> Self {
        self.kernel_size = kernel_size;
        self
    }
    /// Sets the stride (`2` or `[2, 1]`).
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.stride = stride.into().0;
        self
    }
    /// Sets the padding (`1`, `[1, 2]`, `Padding::Same` or `Padding::Valid`).
    pub fn with_padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }
    /// Sets the dilation (`2` or `[2, 1]`).
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.dilation = dilation.into().0;
        self
    }
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// Removes (`false`) or keeps (`true`) the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    /// Sets the padding mode.
    pub fn with_padding_mode(mut self, padding_mode: PaddingMode) -> Self {
        self.padding_mode = padding_mode;
        self
    }
    /// The kernel-level parameters of this layer.
    pub fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
            padding_mode: self.padding_mode,
        }
    }
}

/// A `[h, w]` pair given as one number (both) or two: `2.into()` is `[2, 2]`.
///
/// ```
/// use ferrite_nn::Pair;
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

/// A 2-D convolution layer, like `torch.nn.Conv2d`, initialised as PyTorch does
/// (weight and bias `U(-1/√fan_in, 1/√fan_in)`, `fan_in = in_channels / groups · kh · kw`).
///
/// Parameters: `weight` `[out_channels, in_channels / groups, kh, kw]` and `bias`
/// `[out_channels]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Conv2d, Conv2dConfig, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// // The seed's example: a 9x9 image, one 3x3 filter, stride 2.
/// let conv1 = Conv2d::new(Conv2dConfig::new(1, 1, 3).with_stride(2), &mut seeded_rng(0))?;
/// let x = Var::new(Tensor::<f32>::randn(&[1, 1, 9, 9], &mut seeded_rng(1)));
/// assert_eq!(conv1.forward(&x)?.shape(), vec![1, 1, 4, 4]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Conv2d<T: Float = f32> {
    config: Conv2dConfig,
    weight: Var<T>,
    bias: Option<Var<T>>,
}

impl<T: Float> Conv2d<T> {
    /// A layer with PyTorch's default initialisation drawn from `rng`.
    ///
    /// # Errors
    /// When a size is zero, `groups` does not divide both channel counts, or the weight
    /// `[out_channels, in_channels / groups, kh, kw]` has more elements than memory can hold
    /// ([`ferrite_tensor::checked_numel`]; the message names `Conv2d` and the shape).
    ///
    /// ```
    /// use ferrite_nn::{Conv2d, Conv2dConfig};
    /// use ferrite_tensor::seeded_rng;
    /// let mut rng = seeded_rng(0);
    /// assert!(Conv2d::<f32>::new(Conv2dConfig::new(3, 8, 3), &mut rng).is_ok());
    /// let err = Conv2d::<f32>::new(Conv2dConfig::new(1 << 62, 4, 1), &mut rng).unwrap_err();
    /// assert!(err.to_string().starts_with("Conv2d: shape [4, 4611686018427387904, 1, 1] has more elements"));
    /// ```
    pub fn new(config: Conv2dConfig, rng: &mut Rng) -> Result<Self> {
        let c = &config;
        if c.in_channels == 0 || c.out_channels == 0 || c.kernel_size.contains(&0) {
            return Err(TensorError::invalid(
                "Conv2d",
                format!(
                    "channels and kernel size must be positive, found in_channels {}, out_channels {}, kernel_size {:?}",
                    c.in_channels, c.out_channels, c.kernel_size
                ),
            ));
        }
        if c.groups == 0
            || !c.in_channels.is_multiple_of(c.groups)
            || !c.out_channels.is_multiple_of(c.groups)
        {
            return Err(TensorError::invalid(
                "Conv2d",
                format!(
                    "groups must divide in_channels and out_channels, found groups {} with in_channels {} and out_channels {}",
                    c.groups, c.in_channels, c.out_channels
                ),
            ));
        }
        let shape = [
            c.out_channels,
            c.in_channels / c.groups,
            c.kernel_size[0],
            c.kernel_size[1],
        ];
        checked_numel("Conv2d", &shape)?;
        let (weight, bias) = default_weight_and_bias::<T>(&shape, rng)?;
        Ok(Conv2d {
            config,
            weight: Var::parameter(weight),
            bias: config.bias.then(|| Var::parameter(bias)),
        })
    }

    /// The layer's settings.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// The filters, `[out_channels, in_channels / groups, kh, kw]`.
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_channels]`, if the layer has one.
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for Conv2d<T> {
    /// # Shapes
    /// - input: `[N, in_channels, H, W]`
    /// - output: `[N, out_channels, H_out, W_out]` with
    ///   `H_out = floor((H + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.conv2d(&self.weight, self.bias.as_ref(), &self.config.params())
    }

    fn type_name(&self) -> &'static str {
        "Conv2d"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "Conv2d({}, {}, kernel_size={:?}, stride={:?}",
            c.in_channels, c.out_channels, c.kernel_size, c.stride
        );
        match c.padding {
            Padding::Explicit([0, 0]) => {}
            Padding::Explicit(p) => s.push_str(&format!(", padding={p:?}")),
            Padding::Same => s.push_str(", padding='same'"),
            Padding::Valid => s.push_str(", padding='valid'"),
        }
        if c.dilation != [1, 1] {
            s.push_str(&format!(", dilation={:?}", c.dilation));
        }
        if c.groups != 1 {
            s.push_str(&format!(", groups={}", c.groups));
        }
        if !c.bias {
            s.push_str(", bias=False");
        }
        if c.padding_mode != PaddingMode::Zeros {
            s.push_str(&format!(", padding_mode={:?}", c.padding_mode));
        }
        s.push(')');
        s
    }

    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        let w = self.weight.shape();
        let product = |dims: &[usize]| {
            dims.iter()
                .fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
        };
        product(output_shape).saturating_mul(product(&w[1..]))
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}
