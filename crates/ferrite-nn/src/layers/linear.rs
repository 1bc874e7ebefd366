//! `Linear`: the fully-connected layer, PyTorch's `nn.Linear`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Rng, Tensor, TensorError, checked_numel, with_default_rng};

use super::default_bias;
use crate::Module;
use crate::init::default_weight_and_bias;

/// The settings of a [`Linear`], with PyTorch's argument names and defaults, for
/// [`Linear::from_config`] (which draws from a generator of your own).
///
/// ```
/// use ferrite_nn::LinearConfig;
/// let c = LinearConfig::new(784, 10).with_bias(false);
/// assert_eq!((c.in_features, c.out_features, c.bias), (784, 10, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearConfig {
    /// Size of each input sample.
    pub in_features: usize,
    /// Size of each output sample.
    pub out_features: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
}

impl LinearConfig {
    /// `in_features -> out_features` with a bias.
    ///
    /// ```
    /// assert!(ferrite_nn::LinearConfig::new(4, 2).bias);
    /// ```
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
        }
    }

    /// Removes (`false`) or keeps (`true`) the bias.
    ///
    /// ```
    /// assert!(!ferrite_nn::LinearConfig::new(4, 2).with_bias(false).bias);
    /// ```
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// `y = x Wᵀ + b`, like `torch.nn.Linear`, initialised as PyTorch does
/// (weight and bias `U(-1/√in, 1/√in)`).
///
/// Parameters: `weight` `[out_features, in_features]`, `bias` `[out_features]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Linear, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// let fc: Linear = Linear::new(1568, 128);
/// let y = fc.forward(&Var::new(Tensor::<f32>::zeros(&[64, 1568])))?;
/// assert_eq!(y.shape(), vec![64, 128]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Linear<T: Float = f32> {
    config: LinearConfig,
    weight: Var<T>,
    bias: Option<Var<T>>,
    /// Why the settings make no layer (`forward` returns it), when they do not.
    invalid: Option<TensorError>,
}

/// The weight's shape `[out_features, in_features]`, once the settings make a layer.
fn weight_shape(c: &LinearConfig) -> Result<[usize; 2]> {
    let (in_features, out_features) = (c.in_features, c.out_features);
    if in_features == 0 || out_features == 0 {
        return Err(TensorError::invalid(
            "Linear",
            format!(
                "features must be positive, found in_features {in_features}, out_features {out_features}"
            ),
        ));
    }
    checked_numel("Linear", &[out_features, in_features])?;
    Ok([out_features, in_features])
}

impl<T: Float> Linear<T> {
    /// `in_features -> out_features` with a bias, weight then bias drawn from the thread's
    /// default generator ([`with_default_rng`]; after `manual_seed(s)`, the same numbers as
    /// [`Linear::from_config`] with `seeded_rng(s)`).
    ///
    /// A zero size, or a weight with more elements than memory can hold, is not refused
    /// here: the layer remembers it, has no parameters, and
    /// [`forward`](Module::forward) returns the error (naming `Linear` and both numbers).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// use ferrite_tensor::Tensor;
    /// let fc = Linear::<f32>::new(4, 2).with_bias(false);
    /// assert_eq!(fc.named_parameters().len(), 1);
    /// let bad = Linear::<f32>::new(0, 3);
    /// let err = bad.forward(&Var::new(Tensor::zeros(&[1, 0]))).unwrap_err();
    /// assert_eq!(err.to_string(), "Linear: features must be positive, found in_features 0, out_features 3");
    /// ```
    pub fn new(in_features: usize, out_features: usize) -> Self {
        let config = LinearConfig::new(in_features, out_features);
        let drawn = weight_shape(&config)
            .and_then(|shape| with_default_rng(|rng| default_weight_and_bias::<T>(&shape, rng)));
        match drawn {
            Ok((weight, bias)) => Linear {
                config,
                weight: Var::parameter(weight),
                bias: Some(Var::parameter(bias)),
                invalid: None,
            },
            Err(e) => Linear {
                config,
                weight: Var::parameter(Tensor::zeros(&[0])),
                bias: None,
                invalid: Some(e),
            },
        }
    }

    /// A layer with the settings of `config`, PyTorch's default initialisation drawn from
    /// `rng` (weight, then bias; the bias is drawn even without one, so the generator
    /// advances the same way).
    ///
    /// # Errors
    /// When `in_features` or `out_features` is zero, or when the weight
    /// `[out_features, in_features]` has more elements than memory can hold
    /// ([`ferrite_tensor::checked_numel`]; the message names `Linear` and both numbers).
    ///
    /// ```
    /// use ferrite_nn::{Linear, LinearConfig, Module, ModuleExt};
    /// use ferrite_tensor::seeded_rng;
    /// let fc = Linear::<f32>::from_config(LinearConfig::new(4, 2).with_bias(false), &mut seeded_rng(0))?;
    /// assert_eq!(fc.named_parameters().len(), 1);
    /// assert!(Linear::<f32>::from_config(LinearConfig::new(0, 2), &mut seeded_rng(0)).is_err());
    /// let err = Linear::<f32>::from_config(LinearConfig::new(1 << 62, 4), &mut seeded_rng(0)).unwrap_err();
    /// assert!(err.to_string().starts_with("Linear: shape [4, 4611686018427387904] has more elements"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_config(config: LinearConfig, rng: &mut Rng) -> Result<Self> {
        let shape = weight_shape(&config)?;
        let (w, b) = default_weight_and_bias::<T>(&shape, rng)?;
        Ok(Linear {
            config,
            weight: Var::parameter(w),
            bias: config.bias.then(|| Var::parameter(b)),
            invalid: None,
        })
    }

    /// Removes (`false`) or keeps (`true`) the bias. Removing drops the drawn bias; asking
    /// for one back draws it, `U(-1/√in, 1/√in)`, from the default generator.
    ///
    /// ```
    /// use ferrite_nn::Linear;
    /// assert!(Linear::<f32>::new(4, 2).with_bias(false).bias().is_none());
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

    /// The layer's settings.
    ///
    /// ```
    /// use ferrite_nn::Linear;
    /// assert_eq!(Linear::<f32>::new(4, 2).config().out_features, 2);
    /// ```
    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    /// The weight, `[out_features, in_features]` (empty while the settings make no layer).
    ///
    /// ```
    /// use ferrite_nn::Linear;
    /// assert_eq!(Linear::<f32>::new(4, 2).weight().shape(), vec![2, 4]);
    /// ```
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_features]`, if any.
    ///
    /// ```
    /// use ferrite_nn::Linear;
    /// assert_eq!(Linear::<f32>::new(4, 2).bias().unwrap().shape(), vec![2]);
    /// ```
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for Linear<T> {
    /// # Shapes
    /// - input: `[..., in_features]`, or `[in_features]` (one unbatched sample)
    /// - output: `[..., out_features]` (`[out_features]` for a 1-D input)
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if let Some(e) = &self.invalid {
            return Err(e.clone());
        }
        input.linear(&self.weight, self.bias.as_ref())
    }

    fn type_name(&self) -> &'static str {
        "Linear"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "Linear(in_features={}, out_features={}, bias={})",
            c.in_features,
            c.out_features,
            self.bias.is_some()
        )
    }

    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        let outputs = output_shape
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
        outputs.saturating_mul(self.config.in_features as u64)
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
