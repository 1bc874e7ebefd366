//! `Linear`: the fully-connected layer, PyTorch's `nn.Linear`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Rng, TensorError};

use crate::Module;
use crate::init::default_weight_and_bias;
use ferrite_tensor::checked_numel;

/// `y = x Wᵀ + b`, like `torch.nn.Linear`, initialised as PyTorch does
/// (weight and bias `U(-1/√in, 1/√in)`).
///
/// Parameters: `weight` `[out_features, in_features]`, `bias` `[out_features]`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Linear, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let fc = Linear::new(1568, 128, &mut seeded_rng(0));
/// let y = fc.forward(&Var::new(Tensor::<f32>::zeros(&[64, 1568])))?;
/// assert_eq!(y.shape(), vec![64, 128]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Linear<T: Float = f32> {
    weight: Var<T>,
    bias: Option<Var<T>>,
}

impl<T: Float> Linear<T> {
    /// `in_features -> out_features` with a bias, PyTorch's default initialisation.
    ///
    /// # Panics
    /// When `in_features` or `out_features` is zero, or the weight
    /// `[out_features, in_features]` is too large to allocate (its element count overflows
    /// or it exceeds `isize::MAX` bytes), with the message of [`Linear::try_new`]'s error
    /// (use [`Linear::try_new`] for an error instead).
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        Self::try_new(in_features, out_features, true, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Linear::new`], with or without bias.
    ///
    /// # Errors
    /// When `in_features` or `out_features` is zero, or when the weight
    /// `[out_features, in_features]` has more elements than memory can hold
    /// ([`ferrite_tensor::checked_numel`]; the message names `Linear` and both numbers).
    ///
    /// ```
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// use ferrite_tensor::seeded_rng;
    /// let fc = Linear::<f32>::try_new(4, 2, false, &mut seeded_rng(0))?;
    /// assert_eq!(fc.named_parameters().len(), 1);
    /// assert!(Linear::<f32>::try_new(0, 2, true, &mut seeded_rng(0)).is_err());
    /// let err = Linear::<f32>::try_new(1 << 62, 4, true, &mut seeded_rng(0)).unwrap_err();
    /// assert!(err.to_string().starts_with("Linear: shape [4, 4611686018427387904] has more elements"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Self> {
        if in_features == 0 || out_features == 0 {
            return Err(TensorError::invalid(
                "Linear",
                format!(
                    "features must be positive, found in_features {in_features}, out_features {out_features}"
                ),
            ));
        }
        checked_numel("Linear", &[out_features, in_features])?;
        let (w, b) = default_weight_and_bias::<T>(&[out_features, in_features], rng)?;
        Ok(Linear {
            weight: Var::parameter(w),
            bias: bias.then(|| Var::parameter(b)),
        })
    }

    /// The weight, `[out_features, in_features]`.
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }

    /// The bias, `[out_features]`, if any.
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for Linear<T> {
    /// # Shapes
    /// - input: `[..., in_features]`, or `[in_features]` (one unbatched sample)
    /// - output: `[..., out_features]` (`[out_features]` for a 1-D input)
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.linear(&self.weight, self.bias.as_ref())
    }

    fn type_name(&self) -> &'static str {
        "Linear"
    }

    fn describe(&self) -> String {
        let s = self.weight.shape();
        format!(
            "Linear(in_features={}, out_features={}, bias={})",
            s[1],
            s[0],
            self.bias.is_some()
        )
    }

    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        let outputs = output_shape
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
        outputs.saturating_mul(self.weight.shape()[1] as u64)
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}
