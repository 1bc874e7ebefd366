//! `Conv1d`: the 1-D convolution layer, PyTorch's `nn.Conv1d`, on the conv2d kernels.

use ferrite_autograd::Var;
use ferrite_tensor::{
    Conv1dParams, Float, PadMode, Padding1d, PaddingMode, Result, Rng, Tensor, TensorError,
    checked_numel, with_default_rng,
};

use crate::Module;
use crate::init::{FanMode, Nonlinearity, fan_in_and_fan_out, kaiming_uniform};

/// The settings of a [`Conv1d`], with `nn.Conv1d`'s argument names and defaults.
///
/// ```
/// use ferrite_nn::Conv1dConfig;
/// use ferrite_tensor::{Padding1d, PaddingMode};
/// let c = Conv1dConfig::new(2, 8, 5).with_padding(Padding1d::Same).with_padding_mode(PaddingMode::Circular);
/// assert_eq!((c.kernel_size, c.params.padding, c.bias), (5, Padding1d::Same, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output (number of filters).
    pub out_channels: usize,
    /// Filter length.
    pub kernel_size: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// What the padded border holds (default zeros); another mode pads the input with
    /// [`Var::pad`] before a convolution without padding, as PyTorch's layer does.
    pub padding_mode: PaddingMode,
    /// Stride, padding, dilation and groups.
    pub params: Conv1dParams,
}

impl Conv1dConfig {
    /// `in_channels -> out_channels` with `kernel_size` taps, PyTorch's defaults elsewhere.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv1dConfig {
            in_channels,
            out_channels,
            kernel_size,
            bias: true,
            padding_mode: PaddingMode::Zeros,
            params: Conv1dParams::default(),
        }
    }
    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the padding (`1`, `Padding1d::Same` or `Padding1d::Valid`).
    pub fn with_padding(mut self, padding: impl Into<Padding1d>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.params = self.params.with_dilation(dilation);
        self
    }
    /// Sets the number of groups.
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

    /// The weight's shape `[out_channels, in_channels / groups, kernel_size]`, or the error
    /// PyTorch's constructor raises (named `Conv1d`).
    fn weight_shape(&self) -> Result<[usize; 3]> {
        let p = &self.params;
        let found = format!(
            "in_channels {}, out_channels {}, kernel_size {}, groups {}",
            self.in_channels, self.out_channels, self.kernel_size, p.groups
        );
        if self.in_channels == 0 || self.out_channels == 0 || self.kernel_size == 0 || p.groups == 0
        {
            return Err(TensorError::invalid(
                "Conv1d",
                format!("channels, kernel_size and groups must be positive, found {found}"),
            ));
        }
        if !self.in_channels.is_multiple_of(p.groups) || !self.out_channels.is_multiple_of(p.groups)
        {
            return Err(TensorError::invalid(
                "Conv1d",
                format!("groups must divide in_channels and out_channels, found {found}"),
            ));
        }
        // Stride, dilation and "same" with a stride, as PyTorch's constructor checks them.
        p.resolve_padding(self.kernel_size)
            .map_err(|e| renamed(e, "Conv1d"))?;
        let shape = [
            self.out_channels,
            self.in_channels / p.groups,
            self.kernel_size,
        ];
        checked_numel("Conv1d", &shape)?;
        Ok(shape)
    }
}

/// `e` with its message, named `op` instead (a kernel's check reported by a layer).
pub(crate) fn renamed(e: TensorError, op: &'static str) -> TensorError {
    match e {
        TensorError::Shape { message, .. } => TensorError::shape(op, message),
        TensorError::InvalidArgument { message, .. } => TensorError::invalid(op, message),
    }
}

/// PyTorch's `_ConvNd.reset_parameters`: the weight `kaiming_uniform(a = √5)`, that is
/// `U(±1/√fan_in)`, then a bias of `bias_len` values `U(±1/√fan_in)`, with `fan_in` the
/// weight's `shape[1] · kernel elements` (for a transposed convolution's
/// `[in, out / groups, k...]` weight, `out / groups · k`).
pub(crate) fn conv_parameters<T: Float>(
    weight_shape: &[usize],
    bias_len: Option<usize>,
    rng: &mut Rng,
) -> Result<(Var<T>, Option<Var<T>>)> {
    let weight = kaiming_uniform(
        weight_shape,
        FanMode::FanIn,
        Nonlinearity::LeakyRelu(5f64.sqrt()),
        rng,
    )?;
    let bound = 1.0 / (fan_in_and_fan_out(weight_shape)?.0 as f64).sqrt();
    let bias =
        bias_len.map(|n| Var::parameter(Tensor::uniform(&[n], T::of(-bound), T::of(bound), rng)));
    Ok((Var::parameter(weight), bias))
}

/// A 1-D convolution layer, like `torch.nn.Conv1d`, initialised as PyTorch does (weight
/// and bias `U(±1/√fan_in)`, `fan_in = in_channels / groups · kernel_size`).
///
/// Parameters: `weight` `[out_channels, in_channels / groups, kernel_size]` and `bias`
/// `[out_channels]`. It runs on the conv2d kernels and costs what a conv2d with a `1 x k`
/// kernel over `[N, C, 1, L]` costs.
///
/// [`Conv1d::new`] draws from the thread's default generator
/// ([`ferrite_tensor::manual_seed`]); each `with_*` setter is a constructor argument of
/// PyTorch's, and one that changes a parameter's shape (`groups`, `bias`) draws it again. An
/// invalid combination is remembered and returned by `forward` as an error naming `Conv1d`;
/// [`Conv1d::from_config`] reports it at construction instead.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Conv1d, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Padding1d, PaddingMode, Tensor};
/// manual_seed(0);
/// let conv = Conv1d::new(2, 4, 3).with_padding(Padding1d::Same).with_padding_mode(PaddingMode::Reflect);
/// let x = Var::new(Tensor::<f32>::ones(&[8, 2, 50]));
/// assert_eq!(conv.forward(&x)?.shape(), vec![8, 4, 50]);
/// assert_eq!(conv.weight().shape(), vec![4, 2, 3]);
/// assert_eq!(
///     conv.describe(),
///     "Conv1d(2, 4, kernel_size=[3], stride=[1], padding='same', padding_mode=Reflect)"
/// );
/// // Groups must divide the channels: the error comes with the first forward.
/// let bad = Conv1d::<f32>::new(2, 4, 3).with_groups(3);
/// assert_eq!(
///     bad.forward(&x).unwrap_err().to_string(),
///     "Conv1d: groups must divide in_channels and out_channels, found in_channels 2, out_channels 4, kernel_size 3, groups 3"
/// );
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Conv1d<T: Float = f32> {
    config: Conv1dConfig,
    weight: Var<T>,
    bias: Option<Var<T>>,
    /// Why the settings are invalid, returned by `forward`.
    invalid: Option<TensorError>,
}

impl<T: Float> Conv1d<T> {
    /// `in_channels -> out_channels` with `kernel_size` taps and PyTorch's defaults,
    /// parameters drawn from the thread's default generator.
    ///
    /// ```
    /// use ferrite_nn::{Conv1d, ModuleExt};
    /// let conv = Conv1d::<f32>::new(3, 8, 5);
    /// let names: Vec<String> = conv.named_parameters().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["weight", "bias"]);
    /// assert!(conv.weight().value().to_vec().iter().all(|w| w.abs() <= 1.0 / 15f32.sqrt()));
    /// ```
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        let empty = || Var::parameter(Tensor::zeros(&[0]));
        Conv1d {
            config: Conv1dConfig::new(in_channels, out_channels, kernel_size),
            weight: empty(),
            bias: None,
            invalid: None,
        }
        .refresh(true)
    }

    /// A layer of `config` with its parameters drawn from `rng`.
    ///
    /// # Errors
    /// When a size or `groups` is zero, `groups` does not divide both channel counts, the
    /// stride or dilation is zero, `Padding1d::Same` comes with a stride, or the weight has
    /// more elements than memory can hold. Messages name `Conv1d`.
    ///
    /// ```
    /// use ferrite_nn::{Conv1d, Conv1dConfig};
    /// use ferrite_tensor::{seeded_rng, Padding1d};
    /// let conv = Conv1d::<f64>::from_config(Conv1dConfig::new(4, 4, 3).with_groups(2), &mut seeded_rng(0))?;
    /// assert_eq!(conv.weight().shape(), vec![4, 2, 3]);
    /// let same = Conv1dConfig::new(4, 4, 3).with_padding(Padding1d::Same).with_stride(2);
    /// assert!(Conv1d::<f64>::from_config(same, &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_config(config: Conv1dConfig, rng: &mut Rng) -> Result<Self> {
        let shape = config.weight_shape()?;
        let (weight, bias) = conv_parameters(&shape, config.bias.then_some(shape[0]), rng)?;
        Ok(Conv1d {
            config,
            weight,
            bias,
            invalid: None,
        })
    }

    /// Checks the settings again after a setter and, when they are valid, draws from the
    /// default generator the parameters whose shape changed (all of them with `redraw`).
    fn refresh(mut self, redraw: bool) -> Self {
        let shape = match self.config.weight_shape() {
            Ok(shape) => shape,
            Err(e) => {
                self.invalid = Some(e);
                return self;
            }
        };
        self.invalid = None;
        let want_bias = self.config.bias.then_some(shape[0]);
        let stale = redraw || self.weight.shape() != shape;
        if stale || (want_bias.is_some() != self.bias.is_some()) {
            let drawn = with_default_rng(|rng| conv_parameters(&shape, want_bias, rng));
            match drawn {
                Ok((weight, bias)) => {
                    if stale {
                        self.weight = weight;
                    }
                    self.bias = bias;
                }
                Err(e) => self.invalid = Some(e),
            }
        }
        self
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.config = self.config.with_stride(stride);
        self.refresh(false)
    }
    /// Sets the padding (`1`, `Padding1d::Same` or `Padding1d::Valid`).
    pub fn with_padding(mut self, padding: impl Into<Padding1d>) -> Self {
        self.config = self.config.with_padding(padding);
        self.refresh(false)
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.config = self.config.with_dilation(dilation);
        self.refresh(false)
    }
    /// Sets the number of groups (the weight, whose shape changes, is drawn again).
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.config = self.config.with_groups(groups);
        self.refresh(false)
    }
    /// Removes (`false`) or adds (`true`, drawn) the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.config = self.config.with_bias(bias);
        self.refresh(false)
    }
    /// Sets the padding mode.
    pub fn with_padding_mode(mut self, padding_mode: PaddingMode) -> Self {
        self.config = self.config.with_padding_mode(padding_mode);
        self.refresh(false)
    }

    /// The layer's settings.
    pub fn config(&self) -> &Conv1dConfig {
        &self.config
    }

    /// The filters, `[out_channels, in_channels / groups, kernel_size]`.
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_channels]`, if the layer has one.
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for Conv1d<T> {
    /// # Shapes
    /// - input: `[N, in_channels, L]`, or unbatched `[in_channels, L]`
    /// - output: `[N, out_channels, L_out]`, `L_out = floor((L + 2·padding − dilation·(k − 1) − 1) / stride) + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if let Some(e) = &self.invalid {
            return Err(e.clone());
        }
        let (weight, bias) = (&self.weight, self.bias.as_ref());
        let params = self.config.params;
        let [left, right] = params.resolve_padding(self.config.kernel_size)?;
        let rank_ok = matches!(input.shape().len(), 2 | 3);
        if self.config.padding_mode == PaddingMode::Zeros || [left, right] == [0, 0] || !rank_ok {
            return input.conv1d(weight, bias, &params);
        }
        // As PyTorch's `Conv1d._conv_forward`: pad with the mode, then no padding.
        let padded = input.pad(
            &[left as isize, right as isize],
            PadMode::from(self.config.padding_mode),
        )?;
        padded.conv1d(weight, bias, &params.with_padding(Padding1d::Valid))
    }

    fn type_name(&self) -> &'static str {
        "Conv1d"
    }

    fn describe(&self) -> String {
        let (c, p) = (&self.config, &self.config.params);
        let mut s = format!(
            "Conv1d({}, {}, kernel_size=[{}], stride=[{}]",
            c.in_channels, c.out_channels, c.kernel_size, p.stride
        );
        match p.padding {
            Padding1d::Explicit(0) => {}
            Padding1d::Explicit(p) => s.push_str(&format!(", padding=[{p}]")),
            Padding1d::Same => s.push_str(", padding='same'"),
            Padding1d::Valid => s.push_str(", padding='valid'"),
        }
        if p.dilation != 1 {
            s.push_str(&format!(", dilation=[{}]", p.dilation));
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
        let c = &self.config;
        let per_output = (c.in_channels / c.params.groups.max(1)) as u64 * c.kernel_size as u64;
        output_shape
            .iter()
            .fold(per_output, |acc, &d| acc.saturating_mul(d as u64))
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{manual_seed, seeded_rng};

    use super::*;
    use crate::ModuleExt;

    #[test]
    fn setters_redraw_only_parameters_whose_shape_changes() {
        manual_seed(1);
        let conv = Conv1d::<f64>::new(4, 6, 3).with_stride(2);
        let w = conv.weight().value();
        let conv = conv.with_dilation(2).with_padding(1);
        assert_eq!(conv.weight().value(), w, "same shape: kept");
        let conv = conv.with_groups(2);
        assert_eq!(conv.weight().shape(), vec![6, 2, 3]);
        let conv = conv.with_bias(false);
        assert!(conv.bias().is_none());
        assert_eq!(conv.parameters().len(), 1);
        let conv = conv.with_bias(true);
        assert_eq!(conv.bias().map(|b| b.shape()), Some(vec![6]));
        // The same seed draws the same layer.
        manual_seed(5);
        let a = Conv1d::<f64>::new(3, 2, 4);
        manual_seed(5);
        let b = Conv1d::<f64>::new(3, 2, 4);
        assert_eq!(a.weight().value(), b.weight().value());
    }

    #[test]
    fn invalid_settings_are_errors_naming_conv1d() {
        let x = Var::new(Tensor::<f64>::zeros(&[1, 4, 8]));
        for (layer, needle) in [
            (
                Conv1d::new(0, 4, 3),
                "channels, kernel_size and groups must be positive",
            ),
            (Conv1d::new(4, 4, 0), "kernel_size 0"),
            (Conv1d::new(4, 4, 3).with_groups(0), "groups 0"),
            (Conv1d::new(4, 6, 3).with_groups(4), "groups must divide"),
            (Conv1d::new(4, 4, 3).with_stride(0), "stride"),
            (Conv1d::new(4, 4, 3).with_dilation(0), "dilation"),
            (
                Conv1d::new(4, 4, 3)
                    .with_padding(Padding1d::Same)
                    .with_stride(2),
                "same",
            ),
        ] {
            let err = layer.forward(&x).unwrap_err().to_string();
            assert!(err.starts_with("Conv1d: ") && err.contains(needle), "{err}");
        }
        // Fixed by a later setter.
        let layer = Conv1d::<f64>::new(4, 6, 3).with_groups(4).with_groups(2);
        assert_eq!(layer.forward(&x).unwrap().shape(), vec![1, 6, 6]);
        // Input errors name conv1d.
        let conv =
            Conv1d::<f64>::from_config(Conv1dConfig::new(4, 4, 3), &mut seeded_rng(0)).unwrap();
        let err = conv
            .forward(&Var::new(Tensor::zeros(&[1, 3, 8])))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("conv1d: input has 3 channels"), "{err}");
        let err = conv
            .forward(&Var::new(Tensor::zeros(&[1, 4, 2])))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("conv1d: kernel [3]"), "{err}");
        let reflect = Conv1d::<f64>::new(4, 4, 3)
            .with_padding_mode(PaddingMode::Reflect)
            .with_padding(1);
        let err = reflect
            .forward(&Var::new(Tensor::zeros(&[1, 1, 4, 8])))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("conv1d: expected a 2-D"), "{err}");
    }

    #[test]
    fn unbatched_input_and_padding_modes() {
        let conv = Conv1d::<f64>::from_config(
            Conv1dConfig::new(2, 3, 3)
                .with_padding(2)
                .with_padding_mode(PaddingMode::Circular),
            &mut seeded_rng(0),
        )
        .unwrap();
        let x = Tensor::<f64>::randn(&[2, 7], &mut seeded_rng(1));
        let y = conv.forward(&Var::new(x.clone())).unwrap();
        assert_eq!(y.shape(), vec![3, 9]);
        let batched = conv
            .forward(&Var::new(x.reshape(&[1, 2, 7]).unwrap()))
            .unwrap();
        assert_eq!(batched.value().to_vec(), y.value().to_vec());
    }
}
