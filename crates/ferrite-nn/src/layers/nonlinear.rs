//! The activation layers beyond `ReLU`/`Sigmoid`/`Tanh`: `LeakyReLU`, `ELU`, `GELU`, `SiLU`,
//! `Softplus`, `Hardtanh`, `ReLU6`, `Hardswish`, `Hardsigmoid`, `Softmax`, `LogSoftmax`.
//! Each has PyTorch's defaults, argument names (as `with_*` setters) and repr (`describe`).
//! Settings are kept in `f64` and converted to the element type at `forward`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, GeluApproximate, Result, TensorError};

use crate::Module;

/// `x` where `x > 0`, else `negative_slope·x`, like `torch.nn.LeakyReLU` (default 0.01).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{LeakyReLU, Module};
/// use ferrite_tensor::Tensor;
/// let layer = LeakyReLU::new().with_negative_slope(0.2);
/// assert_eq!(Module::<f64>::describe(&layer), "LeakyReLU(negative_slope=0.2)");
/// let y = layer.forward(&Var::new(Tensor::<f64>::from_vec(vec![-1.0, 2.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![-0.2, 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyReLU {
    /// The slope for `x ≤ 0` (default 0.01).
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU {
            negative_slope: 0.01,
        }
    }
}

impl LeakyReLU {
    /// PyTorch's default: `negative_slope = 0.01`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `negative_slope` (any float, as in PyTorch).
    pub fn with_negative_slope(self, negative_slope: f64) -> Self {
        LeakyReLU { negative_slope }
    }
}

impl<T: Float> Module<T> for LeakyReLU {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.leaky_relu(T::of(self.negative_slope))
    }
    fn describe(&self) -> String {
        format!("LeakyReLU(negative_slope={:?})", self.negative_slope)
    }
}

/// `x` where `x > 0`, else `alpha·(eˣ − 1)`, like `torch.nn.ELU` (default alpha 1).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{ELU, Module};
/// use ferrite_tensor::Tensor;
/// let layer = ELU::new().with_alpha(2.0);
/// assert_eq!(Module::<f64>::describe(&layer), "ELU(alpha=2.0)");
/// let y = layer.forward(&Var::new(Tensor::<f64>::from_vec(vec![0.0, 3.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![0.0, 3.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(clippy::upper_case_acronyms)] // PyTorch's name
pub struct ELU {
    /// The scale of the negative part (default 1).
    pub alpha: f64,
}

impl Default for ELU {
    fn default() -> Self {
        ELU { alpha: 1.0 }
    }
}

impl ELU {
    /// PyTorch's default: `alpha = 1.0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `alpha`.
    pub fn with_alpha(self, alpha: f64) -> Self {
        ELU { alpha }
    }
}

impl<T: Float> Module<T> for ELU {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.elu(T::of(self.alpha))
    }
    fn describe(&self) -> String {
        format!("ELU(alpha={:?})", self.alpha)
    }
}

/// Gaussian error linear unit, like `torch.nn.GELU(approximate='none')`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{GELU, Module};
/// use ferrite_tensor::{GeluApproximate, Tensor};
/// let layer = GELU::new().with_approximate(GeluApproximate::Tanh);
/// assert_eq!(Module::<f32>::describe(&layer), "GELU(approximate='tanh')");
/// let y = layer.forward(&Var::new(Tensor::<f32>::zeros(&[2])))?;
/// assert_eq!(y.value().to_vec(), vec![0.0, 0.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[allow(clippy::upper_case_acronyms)] // PyTorch's name
pub struct GELU {
    /// Exact (`None`, the default) or the tanh approximation.
    pub approximate: GeluApproximate,
}

impl GELU {
    /// PyTorch's default: the exact form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `approximate` (`"tanh"`.parse() gives [`GeluApproximate::Tanh`]).
    pub fn with_approximate(self, approximate: GeluApproximate) -> Self {
        GELU { approximate }
    }
}

impl<T: Float> Module<T> for GELU {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.gelu(self.approximate)
    }
    fn describe(&self) -> String {
        format!("GELU(approximate='{}')", self.approximate.as_str())
    }
}

/// `x·σ(x)`, like `torch.nn.SiLU`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, SiLU};
/// use ferrite_tensor::Tensor;
/// assert_eq!(Module::<f32>::describe(&SiLU), "SiLU()");
/// let y = SiLU.forward(&Var::new(Tensor::<f32>::zeros(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![0.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SiLU;

impl<T: Float> Module<T> for SiLU {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.silu()
    }
    fn describe(&self) -> String {
        "SiLU()".into()
    }
}

/// `log(1 + e^(βx))/β`, linear where `βx > threshold`, like `torch.nn.Softplus`
/// (defaults `beta = 1`, `threshold = 20`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, Softplus};
/// use ferrite_tensor::Tensor;
/// let layer = Softplus::new().with_beta(2.0);
/// assert_eq!(Module::<f64>::describe(&layer), "Softplus(beta=2.0, threshold=20.0)");
/// let y = layer.forward(&Var::new(Tensor::<f64>::zeros(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![2f64.ln() / 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Softplus {
    /// The sharpness β (default 1).
    pub beta: f64,
    /// Above `βx > threshold` the output is `x` (default 20).
    pub threshold: f64,
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}

impl Softplus {
    /// PyTorch's defaults: `beta = 1.0`, `threshold = 20.0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `beta`.
    pub fn with_beta(self, beta: f64) -> Self {
        Softplus { beta, ..self }
    }

    /// Sets `threshold`.
    pub fn with_threshold(self, threshold: f64) -> Self {
        Softplus { threshold, ..self }
    }
}

impl<T: Float> Module<T> for Softplus {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.softplus(T::of(self.beta), T::of(self.threshold))
    }
    fn describe(&self) -> String {
        format!(
            "Softplus(beta={:?}, threshold={:?})",
            self.beta, self.threshold
        )
    }
}

/// `x` clamped to `[min_val, max_val]`, like `torch.nn.Hardtanh` (defaults −1 and 1).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Hardtanh, Module};
/// use ferrite_tensor::Tensor;
/// let layer = Hardtanh::new().with_min_val(-2.0).with_max_val(2.0);
/// assert_eq!(Module::<f64>::describe(&layer), "Hardtanh(min_val=-2.0, max_val=2.0)");
/// let y = layer.forward(&Var::new(Tensor::<f64>::from_vec(vec![-3.0, 1.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![-2.0, 1.0]);
/// // nn.Hardtanh asserts max_val > min_val; forward refuses it.
/// let bad = Hardtanh::new().with_min_val(1.0);
/// assert!(bad.forward(&Var::new(Tensor::<f64>::zeros(&[1]))).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hardtanh {
    /// The lower bound (default −1).
    pub min_val: f64,
    /// The upper bound (default 1).
    pub max_val: f64,
}

impl Default for Hardtanh {
    fn default() -> Self {
        Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        }
    }
}

impl Hardtanh {
    /// PyTorch's defaults: `min_val = -1.0`, `max_val = 1.0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `min_val`.
    pub fn with_min_val(self, min_val: f64) -> Self {
        Hardtanh { min_val, ..self }
    }

    /// Sets `max_val`.
    pub fn with_max_val(self, max_val: f64) -> Self {
        Hardtanh { max_val, ..self }
    }
}

impl<T: Float> Module<T> for Hardtanh {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    ///
    /// # Errors
    /// `InvalidArgument` (op `Hardtanh`) unless `max_val > min_val` (what `nn.Hardtanh`
    /// asserts when it is built).
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        // NaN bounds are refused too (they compare as unordered).
        if self.max_val.partial_cmp(&self.min_val) != Some(std::cmp::Ordering::Greater) {
            return Err(TensorError::invalid(
                "Hardtanh",
                format!(
                    "max_val must be greater than min_val, found min_val {:?} and max_val {:?}",
                    self.min_val, self.max_val
                ),
            ));
        }
        input.hardtanh(T::of(self.min_val), T::of(self.max_val))
    }
    fn describe(&self) -> String {
        format!(
            "Hardtanh(min_val={:?}, max_val={:?})",
            self.min_val, self.max_val
        )
    }
}

/// `min(max(x, 0), 6)`, like `torch.nn.ReLU6`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, ReLU6};
/// use ferrite_tensor::Tensor;
/// assert_eq!(Module::<f32>::describe(&ReLU6), "ReLU6()");
/// let y = ReLU6.forward(&Var::new(Tensor::<f32>::from_vec(vec![-1.0, 8.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![0.0, 6.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ReLU6;

impl<T: Float> Module<T> for ReLU6 {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.relu6()
    }
    fn describe(&self) -> String {
        "ReLU6()".into()
    }
}

/// `x·min(max(x + 3, 0), 6)/6`, like `torch.nn.Hardswish`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Hardswish, Module};
/// use ferrite_tensor::Tensor;
/// assert_eq!(Module::<f32>::describe(&Hardswish), "Hardswish()");
/// let y = Hardswish.forward(&Var::new(Tensor::<f32>::from_vec(vec![-4.0, 4.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![0.0, 4.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Hardswish;

impl<T: Float> Module<T> for Hardswish {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.hardswish()
    }
    fn describe(&self) -> String {
        "Hardswish()".into()
    }
}

/// `min(max(x + 3, 0), 6)/6`, like `torch.nn.Hardsigmoid`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Hardsigmoid, Module};
/// use ferrite_tensor::Tensor;
/// assert_eq!(Module::<f32>::describe(&Hardsigmoid), "Hardsigmoid()");
/// let y = Hardsigmoid.forward(&Var::new(Tensor::<f32>::zeros(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Hardsigmoid;

impl<T: Float> Module<T> for Hardsigmoid {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.hardsigmoid()
    }
    fn describe(&self) -> String {
        "Hardsigmoid()".into()
    }
}

/// `exp(x)/sum(exp(x))` along `dim`, like `torch.nn.Softmax(dim)` (the dim is required:
/// PyTorch's implicit choice is deprecated).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, Softmax};
/// use ferrite_tensor::Tensor;
/// let layer = Softmax::new(1);
/// assert_eq!(Module::<f32>::describe(&layer), "Softmax(dim=1)");
/// let y = layer.forward(&Var::new(Tensor::<f32>::zeros(&[2, 4])))?;
/// assert_eq!(y.value().to_vec(), vec![0.25; 8]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    /// The dim that sums to 1 (negative counts from the end).
    pub dim: isize,
}

impl Softmax {
    /// Softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl<T: Float> Module<T> for Softmax {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    ///
    /// # Errors
    /// What [`Var::softmax`] refuses (a dim out of range).
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.softmax(self.dim)
    }
    fn describe(&self) -> String {
        format!("Softmax(dim={})", self.dim)
    }
}

/// `log(softmax(x))` along `dim`, computed stably, like `torch.nn.LogSoftmax(dim)`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{LogSoftmax, Module};
/// use ferrite_tensor::Tensor;
/// let layer = LogSoftmax::new(-1);
/// assert_eq!(Module::<f64>::describe(&layer), "LogSoftmax(dim=-1)");
/// let y = layer.forward(&Var::new(Tensor::<f64>::zeros(&[1, 2])))?;
/// assert_eq!(y.value().to_vec(), vec![-(2f64.ln()); 2]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSoftmax {
    /// The dim to normalise over (negative counts from the end).
    pub dim: isize,
}

impl LogSoftmax {
    /// Log-softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        LogSoftmax { dim }
    }
}

impl<T: Float> Module<T> for LogSoftmax {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    ///
    /// # Errors
    /// What [`Var::log_softmax`] refuses (a dim out of range).
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.log_softmax(self.dim)
    }
    fn describe(&self) -> String {
        format!("LogSoftmax(dim={})", self.dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_tensor::Tensor;

    #[test]
    fn defaults_and_reprs_match_pytorch() {
        let d = |m: &dyn Module<f32>| (m.describe(), m.type_name());
        assert_eq!(
            d(&LeakyReLU::new()),
            ("LeakyReLU(negative_slope=0.01)".into(), "LeakyReLU")
        );
        assert_eq!(d(&ELU::default()).0, "ELU(alpha=1.0)");
        assert_eq!(d(&GELU::new()), ("GELU(approximate='none')".into(), "GELU"));
        assert_eq!(d(&Softplus::new()).0, "Softplus(beta=1.0, threshold=20.0)");
        assert_eq!(d(&Hardtanh::new()).0, "Hardtanh(min_val=-1.0, max_val=1.0)");
        assert_eq!(d(&SiLU).1, "SiLU");
        assert_eq!(d(&ReLU6).1, "ReLU6");
        assert_eq!(d(&LogSoftmax::new(1)).1, "LogSoftmax");
    }

    #[test]
    fn layers_match_their_functions() {
        let x = Var::new(Tensor::<f64>::from_vec(vec![-2.0, -0.5, 0.5, 2.0], &[2, 2]).unwrap());
        let same = |a: Var<f64>, b: Var<f64>| assert_eq!(a.value(), b.value());
        same(
            LeakyReLU::new().forward(&x).unwrap(),
            x.leaky_relu(0.01).unwrap(),
        );
        same(ELU::new().forward(&x).unwrap(), x.elu(1.0).unwrap());
        same(
            GELU::new().forward(&x).unwrap(),
            x.gelu(GeluApproximate::None).unwrap(),
        );
        same(SiLU.forward(&x).unwrap(), x.silu().unwrap());
        same(
            Softplus::new().forward(&x).unwrap(),
            x.softplus(1.0, 20.0).unwrap(),
        );
        same(
            Hardtanh::new().forward(&x).unwrap(),
            x.hardtanh(-1.0, 1.0).unwrap(),
        );
        same(ReLU6.forward(&x).unwrap(), x.relu6().unwrap());
        same(Hardswish.forward(&x).unwrap(), x.hardswish().unwrap());
        same(Hardsigmoid.forward(&x).unwrap(), x.hardsigmoid().unwrap());
        same(Softmax::new(0).forward(&x).unwrap(), x.softmax(0).unwrap());
        same(
            LogSoftmax::new(0).forward(&x).unwrap(),
            x.log_softmax(0).unwrap(),
        );
        let err = Hardtanh::new().with_max_val(-1.0).forward(&x).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Hardtanh: max_val must be greater than min_val, found min_val -1.0 and max_val -1.0"
        );
    }
}
