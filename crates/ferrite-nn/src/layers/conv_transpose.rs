//! `ConvTranspose2d`: the transposed 2-D convolution layer, PyTorch's `nn.ConvTranspose2d`.

use ferrite_autograd::Var;
use ferrite_tensor::{
    ConvTranspose2dParams, Float, Pair, Result, Rng, Tensor, TensorError, checked_numel,
    with_default_rng,
};

use super::conv1d::{conv_parameters, renamed};
use crate::Module;

/// The settings of a [`ConvTranspose2d`], with `nn.ConvTranspose2d`'s argument names and
/// defaults.
///
/// ```
/// use ferrite_nn::ConvTranspose2dConfig;
/// let c = ConvTranspose2dConfig::new(16, 8, 3).with_stride(2).with_padding(1).with_output_padding(1);
/// assert_eq!((c.kernel_size, c.params.stride, c.params.output_padding), ([3, 3], [2, 2], [1, 1]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output.
    pub out_channels: usize,
    /// Filter size `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// Stride, padding, output padding, dilation and groups.
    pub params: ConvTranspose2dParams,
}

impl ConvTranspose2dConfig {
    /// `in_channels -> out_channels` with a square `kernel_size` filter, PyTorch's defaults
    /// elsewhere.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        ConvTranspose2dConfig {
            in_channels,
            out_channels,
            kernel_size: [kernel_size, kernel_size],
            bias: true,
            params: ConvTranspose2dParams::default(),
        }
    }
    /// Sets a non-square kernel size.
    pub fn with_kernel_size(mut self, kernel_size: [usize; 2]) -> Self {
        self.kernel_size = kernel_size;
        self
    }
    /// Sets the stride (`2` or `[2, 1]`).
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.params = self.params.with_stride(stride);
        self
    }
    /// Sets the padding (`1` or `[1, 0]`).
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.params = self.params.with_padding(padding);
        self
    }
    /// Sets the output padding (`1` or `[1, 0]`).
    pub fn with_output_padding(mut self, output_padding: impl Into<Pair>) -> Self {
        self.params = self.params.with_output_padding(output_padding);
        self
    }
    /// Sets the dilation (`2` or `[2, 1]`).
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
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

    /// The weight's shape `[in_channels, out_channels / groups, kh, kw]`, or the error
    /// PyTorch's constructor raises (named `ConvTranspose2d`).
    fn weight_shape(&self) -> Result<[usize; 4]> {
        const LAYER: &str = "ConvTranspose2d";
        let p = &self.params;
        let found = format!(
            "in_channels {}, out_channels {}, kernel_size {:?}, groups {}",
            self.in_channels, self.out_channels, self.kernel_size, p.groups
        );
        let sizes = [self.in_channels, self.out_channels, p.groups];
        if sizes.contains(&0) || self.kernel_size.contains(&0) {
            return Err(TensorError::invalid(
                LAYER,
                format!("channels, kernel_size and groups must be positive, found {found}"),
            ));
        }
        if !self.in_channels.is_multiple_of(p.groups) || !self.out_channels.is_multiple_of(p.groups)
        {
            return Err(TensorError::invalid(
                LAYER,
                format!("groups must divide in_channels and out_channels, found {found}"),
            ));
        }
        // Zero strides or dilations and output paddings too large, checked on a 1x1 input.
        p.output_size([1, 1], self.kernel_size)
            .map(|_| ())
            .or_else(|e| match e {
                TensorError::Shape { .. } => Ok(()), // output size: depends on the input
                e => Err(renamed(e, LAYER)),
            })?;
        let [kh, kw] = self.kernel_size;
        let shape = [self.in_channels, self.out_channels / p.groups, kh, kw];
        checked_numel(LAYER, &shape)?;
        Ok(shape)
    }
}

/// A transposed 2-D convolution layer, like `torch.nn.ConvTranspose2d` (the adjoint of a
/// conv2d, used to upsample in decoders), initialised as PyTorch does: weight and bias
/// `U(±1/√fan_in)` with `fan_in = out_channels / groups · kh · kw` (the weight's dim 1).
///
/// Parameters: `weight` `[in_channels, out_channels / groups, kh, kw]` and `bias`
/// `[out_channels]`. The output is `(H − 1)·stride − 2·padding + dilation·(kh − 1) +
/// output_padding + 1` high (likewise wide); `output_padding` picks one of the sizes a
/// strided conv2d maps to the same input size (PyTorch's `output_size` argument of `forward`
/// is not offered: set it here).
///
/// [`ConvTranspose2d::new`] draws from the thread's default generator
/// ([`ferrite_tensor::manual_seed`]); setters that change a parameter's shape (`groups`,
/// `bias`, `kernel_size`) draw it again; invalid settings make `forward` fail with an error
/// naming `ConvTranspose2d`; [`ConvTranspose2d::from_config`] reports them at construction.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{ConvTranspose2d, Module};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// // Doubles the resolution: 7x7 -> 14x14.
/// let up = ConvTranspose2d::new(16, 8, 3).with_stride(2).with_padding(1).with_output_padding(1);
/// let x = Var::new(Tensor::<f32>::ones(&[4, 16, 7, 7]));
/// assert_eq!(up.forward(&x)?.shape(), vec![4, 8, 14, 14]);
/// assert_eq!(up.weight().shape(), vec![16, 8, 3, 3]);
/// assert_eq!(
///     up.describe(),
///     "ConvTranspose2d(16, 8, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], output_padding=[1, 1])"
/// );
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct ConvTranspose2d<T: Float = f32> {
    config: ConvTranspose2dConfig,
    weight: Var<T>,
    bias: Option<Var<T>>,
    /// Why the settings are invalid, returned by `forward`.
    invalid: Option<TensorError>,
}

impl<T: Float> ConvTranspose2d<T> {
    /// `in_channels -> out_channels` with a square `kernel_size` filter and PyTorch's
    /// defaults, parameters drawn from the thread's default generator.
    ///
    /// ```
    /// use ferrite_nn::{ConvTranspose2d, ModuleExt};
    /// let up = ConvTranspose2d::<f32>::new(4, 2, 2);
    /// assert_eq!(up.weight().shape(), vec![4, 2, 2, 2]);
    /// // fan_in = out_channels · kh · kw = 8.
    /// assert!(up.weight().value().to_vec().iter().all(|w| w.abs() <= 1.0 / 8f32.sqrt()));
    /// ```
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        ConvTranspose2d {
            config: ConvTranspose2dConfig::new(in_channels, out_channels, kernel_size),
            weight: Var::parameter(Tensor::zeros(&[0])),
            bias: None,
            invalid: None,
        }
        .refresh(true)
    }

    /// A layer of `config` with its parameters drawn from `rng`.
    ///
    /// # Errors
    /// When a size or `groups` is zero, `groups` does not divide both channel counts, the
    /// stride or dilation has a zero, an output padding is not smaller than its stride or
    /// its dilation, or the weight has more elements than memory can hold. Messages name
    /// `ConvTranspose2d`.
    ///
    /// ```
    /// use ferrite_nn::{ConvTranspose2d, ConvTranspose2dConfig};
    /// use ferrite_tensor::seeded_rng;
    /// let c = ConvTranspose2dConfig::new(4, 6, 3).with_groups(2);
    /// let up = ConvTranspose2d::<f64>::from_config(c, &mut seeded_rng(0))?;
    /// assert_eq!(up.weight().shape(), vec![4, 3, 3, 3]);
    /// let bad = ConvTranspose2dConfig::new(4, 6, 3).with_stride(2).with_output_padding(2);
    /// assert!(ConvTranspose2d::<f64>::from_config(bad, &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_config(config: ConvTranspose2dConfig, rng: &mut Rng) -> Result<Self> {
        let shape = config.weight_shape()?;
        let bias_len = config.bias.then_some(config.out_channels);
        let (weight, bias) = conv_parameters(&shape, bias_len, rng)?;
        Ok(ConvTranspose2d {
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
        let want_bias = self.config.bias.then_some(self.config.out_channels);
        let stale = redraw || self.weight.shape() != shape;
        let bias_stale = self.bias.as_ref().map(|b| b.shape()[0]) != want_bias;
        if stale || bias_stale {
            match with_default_rng(|rng| conv_parameters(&shape, want_bias, rng)) {
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

    /// Sets a non-square kernel size (the weight is drawn again).
    pub fn with_kernel_size(mut self, kernel_size: [usize; 2]) -> Self {
        self.config = self.config.with_kernel_size(kernel_size);
        self.refresh(false)
    }
    /// Sets the stride (`2` or `[2, 1]`).
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.config = self.config.with_stride(stride);
        self.refresh(false)
    }
    /// Sets the padding (`1` or `[1, 0]`).
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.config = self.config.with_padding(padding);
        self.refresh(false)
    }
    /// Sets the output padding (`1` or `[1, 0]`): each must be smaller than its stride or its
    /// dilation.
    pub fn with_output_padding(mut self, output_padding: impl Into<Pair>) -> Self {
        self.config = self.config.with_output_padding(output_padding);
        self.refresh(false)
    }
    /// Sets the dilation (`2` or `[2, 1]`).
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
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

    /// The layer's settings.
    pub fn config(&self) -> &ConvTranspose2dConfig {
        &self.config
    }

    /// The filters, `[in_channels, out_channels / groups, kh, kw]`.
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_channels]`, if the layer has one.
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for ConvTranspose2d<T> {
    /// # Shapes
    /// - input: `[N, in_channels, H, W]`, or unbatched `[in_channels, H, W]`
    /// - output: `[N, out_channels, H_out, W_out]`,
    ///   `H_out = (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if let Some(e) = &self.invalid {
            return Err(e.clone());
        }
        input.conv_transpose2d(&self.weight, self.bias.as_ref(), &self.config.params)
    }

    fn type_name(&self) -> &'static str {
        "ConvTranspose2d"
    }

    fn describe(&self) -> String {
        let (c, p) = (&self.config, &self.config.params);
        let mut s = format!(
            "ConvTranspose2d({}, {}, kernel_size={:?}, stride={:?}",
            c.in_channels, c.out_channels, c.kernel_size, p.stride
        );
        if p.padding != [0, 0] {
            s.push_str(&format!(", padding={:?}", p.padding));
        }
        if p.output_padding != [0, 0] {
            s.push_str(&format!(", output_padding={:?}", p.output_padding));
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
        s.push(')');
        s
    }

    /// Every input pixel is multiplied by `out_channels / groups · kh · kw` weights: the
    /// input size is recovered from `output_shape` by inverting the output-size formula.
    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        let (c, p) = (&self.config, &self.config.params);
        let (n, [oh, ow]) = match *output_shape {
            [n, _, oh, ow] => (n, [oh, ow]),
            [_, oh, ow] => (1, [oh, ow]),
            _ => return 0,
        };
        let input_len = |dim: usize, out: usize| {
            let reach = p.dilation[dim] * (c.kernel_size[dim] - 1) + p.output_padding[dim] + 1;
            (out + 2 * p.padding[dim]).saturating_sub(reach) / p.stride[dim].max(1) + 1
        };
        let taps = (c.out_channels / p.groups.max(1) * c.kernel_size[0] * c.kernel_size[1]) as u64;
        [n, c.in_channels, input_len(0, oh), input_len(1, ow)]
            .iter()
            .fold(taps, |acc, &d| acc.saturating_mul(d as u64))
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
    use crate::{ModuleExt, Sequential, summary};

    #[test]
    fn setters_checks_and_redraws() {
        manual_seed(2);
        let up = ConvTranspose2d::<f64>::new(4, 6, 3).with_stride(2);
        let w = up.weight().value();
        let up = up.with_padding(1).with_output_padding(1);
        assert_eq!(up.weight().value(), w);
        let up = up.with_groups(2).with_kernel_size([2, 3]);
        assert_eq!(up.weight().shape(), vec![4, 3, 2, 3]);
        assert_eq!(up.bias().map(|b| b.shape()), Some(vec![6]));
        assert_eq!(up.with_bias(false).parameters().len(), 1);

        let x = Var::new(Tensor::<f64>::zeros(&[1, 4, 3, 3]));
        for (layer, needle) in [
            (
                ConvTranspose2d::new(4, 6, 3).with_groups(4),
                "groups must divide",
            ),
            (ConvTranspose2d::new(4, 6, 0), "kernel_size [0, 0]"),
            (ConvTranspose2d::new(4, 6, 3).with_stride(0), "stride"),
            (
                ConvTranspose2d::new(4, 6, 3).with_output_padding(1),
                "output_padding",
            ),
        ] {
            let err = layer.forward(&x).unwrap_err().to_string();
            assert!(
                err.starts_with("ConvTranspose2d: ") && err.contains(needle),
                "{err}"
            );
        }
        // Output padding below the dilation is fine even with stride 1.
        let up = ConvTranspose2d::<f64>::new(4, 2, 3)
            .with_dilation(2)
            .with_output_padding(1);
        assert_eq!(up.forward(&x).unwrap().shape(), vec![1, 2, 8, 8]);
        let err = up
            .forward(&Var::new(Tensor::zeros(&[1, 3, 3, 3])))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("conv_transpose2d: input has 3 channels")
        );
    }

    #[test]
    fn unbatched_input_and_summary_cost() {
        let up = ConvTranspose2d::<f64>::from_config(
            ConvTranspose2dConfig::new(2, 3, 3)
                .with_stride(2)
                .with_padding(1)
                .with_output_padding(1),
            &mut seeded_rng(0),
        )
        .unwrap();
        let x = Tensor::<f64>::randn(&[2, 4, 5], &mut seeded_rng(1));
        let y = up.forward(&Var::new(x.clone())).unwrap();
        assert_eq!(y.shape(), vec![3, 8, 10]);
        let batched = up
            .forward(&Var::new(x.reshape(&[1, 2, 4, 5]).unwrap()))
            .unwrap();
        assert_eq!(batched.value().to_vec(), y.value().to_vec());
        // Each of the 2·4·5 input pixels meets 3·3·3 weights, per image.
        let model = Sequential::new().append(up);
        let s = summary(&model, &[2, 2, 4, 5]).unwrap();
        assert_eq!(s.total_multiply_adds, 2 * 2 * 4 * 5 * 27);
    }
}
