//! `Conv2d`: the convolution layer, PyTorch's `nn.Conv2d`.

use ferrite_autograd::Var;
pub use ferrite_tensor::Pair;
use ferrite_tensor::{
    Conv2dParams, Float, PadMode, Padding, PaddingMode, Result, Rng, Tensor, TensorError,
    checked_numel, with_default_rng,
};

use super::default_bias;
use crate::Module;
use crate::init::default_weight_and_bias;

/// The settings of a [`Conv2d`], with PyTorch's argument names and defaults: the layer's
/// own (channels, kernel size, bias, padding mode) and the kernel's [`Conv2dParams`]
/// (stride, padding, dilation, groups). For [`Conv2d::from_config`], which draws from a
/// generator of your own; [`Conv2d::new`] has the same setters.
///
/// ```
/// use ferrite_nn::Conv2dConfig;
/// use ferrite_tensor::{Padding, PaddingMode};
/// let c = Conv2dConfig::new(1, 16, 3).with_padding(1);
/// assert_eq!(c.kernel_size, [3, 3]);
/// assert_eq!(c.params.padding, Padding::Explicit([1, 1]));
/// assert_eq!(c.padding_mode, PaddingMode::Zeros);
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
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// What the padded border holds (default zeros). Another mode pads the input with
    /// [`Var::pad`] before a convolution without padding, as PyTorch's layer does.
    pub padding_mode: PaddingMode,
    /// Stride, padding, dilation and groups (PyTorch's defaults).
    pub params: Conv2dParams,
}

impl Conv2dConfig {
    /// `in_channels -> out_channels` with a `kernel_size` filter (`3` or `[3, 5]`), PyTorch's
    /// defaults elsewhere.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel_size: kernel_size.into().0,
            bias: true,
            padding_mode: PaddingMode::Zeros,
            params: Conv2dParams::default(),
        }
    }
    /// Sets the kernel size (`5` or `[1, 3]`).
    pub fn with_kernel_size(mut self, kernel_size: impl Into<Pair>) -> Self {
        self.kernel_size = kernel_size.into().0;
        self
    }
    /// Sets the stride (`2` or `[2, 1]`; [`Conv2dParams::with_stride`]).
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the padding (`1`, `[1, 2]`, `Padding::Same` or `Padding::Valid`;
    /// [`Conv2dParams::with_padding`]).
    pub fn with_padding(mut self, padding: impl Into<Padding>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// Sets the dilation (`2` or `[2, 1]`; [`Conv2dParams::with_dilation`]).
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.params = self.params.with_dilation(dilation);
        self
    }
    /// Sets the number of groups ([`Conv2dParams::with_groups`]).
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.params = self.params.with_groups(groups);
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
}

/// A 2-D convolution layer, like `torch.nn.Conv2d`, initialised as PyTorch does
/// (weight and bias `U(-1/√fan_in, 1/√fan_in)`, `fan_in = in_channels / groups · kh · kw`).
///
/// Parameters: `weight` `[out_channels, in_channels / groups, kh, kw]` and `bias`
/// `[out_channels]`.
///
/// Built like `nn.Conv2d(1, 16, 3, stride=2)`: [`Conv2d::new`] draws the parameters from the
/// thread's default generator (seeded by [`manual_seed`](ferrite_tensor::manual_seed)), then
/// one setter per keyword argument. [`Conv2d::from_config`] draws from a generator of your
/// own instead.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Conv2d, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, seeded_rng, Tensor};
/// manual_seed(0);
/// // The conv1 example: a 9x9 image, one 3x3 filter, stride 2.
/// let conv1: Conv2d = Conv2d::new(1, 1, 3).with_stride(2);
/// let x = Var::new(Tensor::<f32>::randn(&[1, 1, 9, 9], &mut seeded_rng(1)));
/// assert_eq!(conv1.forward(&x)?.shape(), vec![1, 1, 4, 4]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Conv2d<T: Float = f32> {
    config: Conv2dConfig,
    weight: Var<T>,
    bias: Option<Var<T>>,
    /// Why the settings make no layer (`forward` returns it), when they do not.
    invalid: Option<TensorError>,
}

/// The weight's shape `[out_channels, in_channels / groups, kh, kw]`, once the settings are
/// known to make a layer.
fn weight_shape(c: &Conv2dConfig) -> Result<[usize; 4]> {
    let groups = c.params.groups;
    if c.in_channels == 0 || c.out_channels == 0 || c.kernel_size.contains(&0) {
        return Err(TensorError::invalid(
            "Conv2d",
            format!(
                "channels and kernel size must be positive, found in_channels {}, out_channels {}, kernel_size {:?}",
                c.in_channels, c.out_channels, c.kernel_size
            ),
        ));
    }
    if groups == 0
        || !c.in_channels.is_multiple_of(groups)
        || !c.out_channels.is_multiple_of(groups)
    {
        return Err(TensorError::invalid(
            "Conv2d",
            format!(
                "groups must divide in_channels and out_channels, found groups {} with in_channels {} and out_channels {}",
                groups, c.in_channels, c.out_channels
            ),
        ));
    }
    let shape = [
        c.out_channels,
        c.in_channels / groups,
        c.kernel_size[0],
        c.kernel_size[1],
    ];
    checked_numel("Conv2d", &shape)?;
    Ok(shape)
}

/// A parameter that stands for the weight while the settings make no layer.
fn placeholder<T: Float>() -> Var<T> {
    Var::parameter(Tensor::zeros(&[0]))
}

impl<T: Float> Conv2d<T> {
    /// `in_channels -> out_channels` with a `kernel_size` filter (`3` or `[3, 5]`), PyTorch's
    /// defaults elsewhere (stride 1, no padding, dilation 1, 1 group, a bias, zero padding
    /// mode), weight then bias drawn from the thread's default generator
    /// ([`with_default_rng`]): after `manual_seed(s)`, the same numbers as
    /// [`Conv2d::from_config`] with `seeded_rng(s)`.
    ///
    /// Settings that make no layer (a zero size, `groups` not dividing both channel counts,
    /// a weight with more elements than memory can hold) are not refused here: the layer
    /// remembers why, has no parameters, and [`forward`](Module::forward) returns the error
    /// (naming `Conv2d`, what was expected and what was found).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Conv2d, Conv2dConfig, Module, ModuleExt};
    /// use ferrite_tensor::{manual_seed, seeded_rng, Tensor};
    /// manual_seed(0);
    /// let conv = Conv2d::<f32>::new(1, 16, 3).with_padding(1);
    /// assert_eq!(conv.weight().shape(), vec![16, 1, 3, 3]);
    /// let x = Var::new(Tensor::zeros(&[2, 1, 28, 28]));
    /// assert_eq!(conv.forward(&x)?.shape(), vec![2, 16, 28, 28]);
    ///
    /// // The same numbers as an explicit generator with the same seed.
    /// manual_seed(3);
    /// let a = Conv2d::<f64>::new(2, 4, 3).with_stride(2);
    /// let b = Conv2d::<f64>::from_config(Conv2dConfig::new(2, 4, 3).with_stride(2), &mut seeded_rng(3))?;
    /// assert_eq!(a.weight().value(), b.weight().value());
    /// assert_eq!(a.bias().unwrap().value(), b.bias().unwrap().value());
    ///
    /// let bad = Conv2d::<f32>::new(2, 4, 3).with_groups(3);
    /// assert_eq!(
    ///     bad.forward(&x).unwrap_err().to_string(),
    ///     "Conv2d: groups must divide in_channels and out_channels, found groups 3 with in_channels 2 and out_channels 4"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Self {
        Conv2d {
            config: Conv2dConfig::new(in_channels, out_channels, kernel_size),
            weight: placeholder(),
            bias: None,
            invalid: None,
        }
        .redraw()
    }

    /// A layer with the settings of `config`, PyTorch's default initialisation drawn from
    /// `rng` (weight, then bias; the bias is drawn even when `config.bias` is false, so the
    /// generator advances the same way).
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
    /// assert!(Conv2d::<f32>::from_config(Conv2dConfig::new(3, 8, 3), &mut rng).is_ok());
    /// let err = Conv2d::<f32>::from_config(Conv2dConfig::new(1 << 62, 4, 1), &mut rng).unwrap_err();
    /// assert!(err.to_string().starts_with("Conv2d: shape [4, 4611686018427387904, 1, 1] has more elements"));
    /// ```
    pub fn from_config(config: Conv2dConfig, rng: &mut Rng) -> Result<Self> {
        let shape = weight_shape(&config)?;
        let (weight, bias) = default_weight_and_bias::<T>(&shape, rng)?;
        Ok(Conv2d {
            config,
            weight: Var::parameter(weight),
            bias: config.bias.then(|| Var::parameter(bias)),
            invalid: None,
        })
    }

    /// Draws weight and bias for the current settings from the default generator, or
    /// remembers why there are none.
    fn redraw(mut self) -> Self {
        let drawn = weight_shape(&self.config)
            .and_then(|shape| with_default_rng(|rng| default_weight_and_bias::<T>(&shape, rng)));
        match drawn {
            Ok((weight, bias)) => {
                self.weight = Var::parameter(weight);
                self.bias = self.config.bias.then(|| Var::parameter(bias));
                self.invalid = None;
            }
            Err(e) => {
                self.weight = placeholder();
                self.bias = None;
                self.invalid = Some(e);
            }
        }
        self
    }

    /// Sets a kernel size (`5` or `[1, 3]`); the weight and bias are drawn again.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// let conv = Conv2d::<f32>::new(1, 1, 3).with_kernel_size([1, 3]); // kernel_size=(1, 3)
    /// assert_eq!(conv.weight().shape(), vec![1, 1, 1, 3]);
    /// ```
    pub fn with_kernel_size(mut self, kernel_size: impl Into<Pair>) -> Self {
        self.config = self.config.with_kernel_size(kernel_size);
        self.redraw()
    }

    /// Sets the stride (`2` or `[2, 1]`; [`Conv2dParams::with_stride`]).
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert_eq!(Conv2d::<f32>::new(1, 1, 3).with_stride([2, 1]).config().params.stride, [2, 1]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.config = self.config.with_stride(stride);
        self
    }

    /// Sets the padding (`1`, `[1, 2]`, `Padding::Same` or `Padding::Valid`;
    /// [`Conv2dParams::with_padding`]).
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// use ferrite_tensor::Padding;
    /// let conv = Conv2d::<f32>::new(1, 1, 3).with_padding(Padding::Same);
    /// assert_eq!(conv.config().params.padding, Padding::Same);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Padding>) -> Self {
        self.config = self.config.with_padding(padding);
        self
    }

    /// Sets the dilation (`2` or `[2, 1]`; [`Conv2dParams::with_dilation`]).
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert_eq!(Conv2d::<f32>::new(1, 1, 3).with_dilation(2).config().params.dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.config = self.config.with_dilation(dilation);
        self
    }

    /// Sets the number of groups; the weight `[out, in / groups, kh, kw]` changes shape, so
    /// it and the bias (whose bound depends on `fan_in`) are drawn again.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// let depthwise = Conv2d::<f32>::new(16, 32, 3).with_groups(16);
    /// assert_eq!(depthwise.weight().shape(), vec![32, 1, 3, 3]);
    /// ```
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.config = self.config.with_groups(groups);
        self.redraw()
    }

    /// Removes (`false`) or keeps (`true`) the bias. Removing drops the drawn bias; asking
    /// for one back draws it, `U(-1/√fan_in, 1/√fan_in)`, from the default generator.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert!(Conv2d::<f32>::new(2, 2, 1).with_bias(false).bias().is_none());
    /// assert!(Conv2d::<f32>::new(2, 2, 1).with_bias(false).with_bias(true).bias().is_some());
    /// ```
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.config = self.config.with_bias(bias);
        if !bias {
            self.bias = None;
        } else if self.bias.is_none() && self.invalid.is_none() {
            self.bias = with_default_rng(|rng| default_bias::<T>(&self.weight.shape(), rng))
                .ok()
                .map(Var::parameter);
        }
        self
    }

    /// Sets the padding mode: what the padded border holds.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// use ferrite_tensor::PaddingMode;
    /// let conv = Conv2d::<f32>::new(1, 1, 3).with_padding(1).with_padding_mode(PaddingMode::Reflect);
    /// assert_eq!(conv.config().padding_mode, PaddingMode::Reflect);
    /// ```
    pub fn with_padding_mode(mut self, padding_mode: PaddingMode) -> Self {
        self.config = self.config.with_padding_mode(padding_mode);
        self
    }

    /// The layer's settings.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert_eq!(Conv2d::<f32>::new(3, 8, 5).config().kernel_size, [5, 5]);
    /// ```
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// The filters, `[out_channels, in_channels / groups, kh, kw]` (empty while the
    /// settings make no layer).
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert_eq!(Conv2d::<f32>::new(3, 8, 5).weight().shape(), vec![8, 3, 5, 5]);
    /// ```
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_channels]`, if the layer has one.
    ///
    /// ```
    /// use ferrite_nn::Conv2d;
    /// assert_eq!(Conv2d::<f32>::new(3, 8, 5).bias().unwrap().shape(), vec![8]);
    /// ```
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
        if let Some(e) = &self.invalid {
            return Err(e.clone());
        }
        let (weight, bias) = (&self.weight, self.bias.as_ref());
        let params = self.config.params;
        let [top, bottom, left, right] = params.resolve_padding(self.config.kernel_size)?;
        if self.config.padding_mode == PaddingMode::Zeros || [top, bottom, left, right] == [0; 4] {
            return input.conv2d(weight, bias, &params);
        }
        // As PyTorch's `Conv2d._conv_forward`: pad with the mode, then no padding.
        let pad = [left, right, top, bottom].map(|p| p as isize);
        let padded = input.pad(&pad, PadMode::from(self.config.padding_mode))?;
        padded.conv2d(weight, bias, &params.with_padding(Padding::Valid))
    }

    fn type_name(&self) -> &'static str {
        "Conv2d"
    }

    fn describe(&self) -> String {
        let (c, p) = (&self.config, &self.config.params);
        let mut s = format!(
            "Conv2d({}, {}, kernel_size={:?}, stride={:?}",
            c.in_channels, c.out_channels, c.kernel_size, p.stride
        );
        match p.padding {
            Padding::Explicit([0, 0]) => {}
            Padding::Explicit(p) => s.push_str(&format!(", padding={p:?}")),
            Padding::Same => s.push_str(", padding='same'"),
            Padding::Valid => s.push_str(", padding='valid'"),
        }
        if p.dilation != [1, 1] {
            s.push_str(&format!(", dilation={:?}", p.dilation));
        }
        if p.groups != 1 {
            s.push_str(&format!(", groups={}", p.groups));
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
        if self.invalid.is_some() {
            return Vec::new();
        }
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}
