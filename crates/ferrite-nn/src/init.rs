//! Weight initialisers with PyTorch's formulas (`torch.nn.init`), all drawing from a seeded
//! [`Rng`] so that a seed reproduces a model bit for bit.
//!
//! ```
//! use ferrite_nn::init::{kaiming_uniform, FanMode, Nonlinearity};
//! use ferrite_tensor::seeded_rng;
//! // PyTorch's default for Conv2d/Linear weights: kaiming_uniform_(w, a=sqrt(5)),
//! // i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
//! let w = kaiming_uniform::<f32>(&[16, 1, 3, 3], FanMode::FanIn, Nonlinearity::LeakyRelu(5f64.sqrt()), &mut seeded_rng(0))?;
//! assert!(w.to_vec().iter().all(|x| x.abs() <= 1.0 / 3.0));
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use ferrite_tensor::{Float, Result, Rng, Tensor, TensorError, checked_numel};

/// Which fan the Kaiming initialisers preserve the variance of.
///
/// ```
/// use ferrite_nn::init::FanMode;
/// assert_ne!(FanMode::FanIn, FanMode::FanOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass (PyTorch's default).
    FanIn,
    /// Preserve the variance of gradients in the backward pass.
    FanOut,
}

/// The non-linearity that follows a layer, which sets the gain (`torch.nn.init.calculate_gain`).
///
/// ```
/// use ferrite_nn::init::Nonlinearity;
/// assert_eq!(Nonlinearity::Relu.gain(), 2f64.sqrt());
/// assert_eq!(Nonlinearity::Tanh.gain(), 5.0 / 3.0);
/// assert!((Nonlinearity::LeakyRelu(5f64.sqrt()).gain() - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nonlinearity {
    /// Identity / linear / convolution: gain 1.
    Linear,
    /// Sigmoid: gain 1.
    Sigmoid,
    /// Tanh: gain 5/3.
    Tanh,
    /// ReLU: gain √2.
    Relu,
    /// Leaky ReLU with this negative slope: gain √(2 / (1 + slope²)).
    LeakyRelu(f64),
}

impl Nonlinearity {
    /// The recommended gain, as `torch.nn.init.calculate_gain`.
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
        }
    }
}

/// `(fan_in, fan_out)` of a weight shape: `[out, in, k...]` gives
/// `(in * prod(k), out * prod(k))`, like PyTorch's `_calculate_fan_in_and_fan_out`.
///
/// # Errors
/// When the shape has fewer than 2 dims, or a fan overflows `usize`.
///
/// ```
/// use ferrite_nn::init::fan_in_and_fan_out;
/// assert_eq!(fan_in_and_fan_out(&[16, 1, 3, 3])?, (9, 144));
/// assert_eq!(fan_in_and_fan_out(&[128, 1568])?, (1568, 128));
/// assert!(fan_in_and_fan_out(&[5]).is_err());
/// // 2^62 * 4 overflows: refused, not wrapped to a fan of 0.
/// let err = fan_in_and_fan_out(&[1, 1 << 62, 4]).unwrap_err();
/// assert!(err.to_string().contains("overflow"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn fan_in_and_fan_out(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(TensorError::invalid(
            "init",
            format!("fan in and fan out need a weight with at least 2 dims, found shape {shape:?}"),
        ));
    }
    let overflow = |which: &str| {
        TensorError::invalid(
            "init",
            format!("the {which} of a weight of shape {shape:?} overflows usize"),
        )
    };
    let receptive = shape[2..]
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| overflow("receptive field size"))?;
    let fan_in = shape[1]
        .checked_mul(receptive)
        .ok_or_else(|| overflow("fan in"))?;
    let fan_out = shape[0]
        .checked_mul(receptive)
        .ok_or_else(|| overflow("fan out"))?;
    Ok((fan_in, fan_out))
}

fn fan(shape: &[usize], mode: FanMode) -> Result<usize> {
    let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
    let f = match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    };
    if f == 0 {
        return Err(TensorError::invalid(
            "init",
            format!("cannot initialise a weight with a zero fan (shape {shape:?})"),
        ));
    }
    Ok(f)
}

/// Kaiming (He) uniform: `U(-b, b)` with `b = gain * sqrt(3 / fan)`, like
/// `torch.nn.init.kaiming_uniform_`.
///
/// # Errors
/// When the shape has fewer than 2 dims or a zero fan, when a fan or the element count
/// overflows `usize`, or when the weight would take more than `isize::MAX` bytes.
///
/// ```
/// use ferrite_nn::init::{kaiming_uniform, FanMode, Nonlinearity};
/// use ferrite_tensor::seeded_rng;
/// let w = kaiming_uniform::<f64>(&[64, 32], FanMode::FanIn, Nonlinearity::Relu, &mut seeded_rng(0))?;
/// let bound = 2f64.sqrt() * (3.0f64 / 32.0).sqrt();
/// assert!(w.to_vec().iter().all(|x| x.abs() <= bound));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn kaiming_uniform<T: Float>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let bound = nonlinearity.gain() * (3.0 / fan(shape, mode)? as f64).sqrt();
    checked_numel("init", shape)?;
    Ok(Tensor::uniform(shape, T::of(-bound), T::of(bound), rng))
}

/// Kaiming (He) normal: `N(0, std²)` with `std = gain / sqrt(fan)`, like
/// `torch.nn.init.kaiming_normal_`.
///
/// # Errors
/// When the shape has fewer than 2 dims or a zero fan, when a fan or the element count
/// overflows `usize`, or when the weight would take more than `isize::MAX` bytes.
///
/// ```
/// use ferrite_nn::init::{kaiming_normal, FanMode, Nonlinearity};
/// use ferrite_tensor::seeded_rng;
/// let w = kaiming_normal::<f64>(&[256, 128], FanMode::FanIn, Nonlinearity::Relu, &mut seeded_rng(0))?;
/// let var = w.to_vec().iter().map(|x| x * x).sum::<f64>() / w.numel() as f64;
/// assert!((var - 2.0 / 128.0).abs() < 0.002);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn kaiming_normal<T: Float>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let std = nonlinearity.gain() / (fan(shape, mode)? as f64).sqrt();
    checked_numel("init", shape)?;
    Ok(Tensor::normal(shape, T::zero(), T::of(std), rng))
}

/// Xavier (Glorot) uniform: `U(-a, a)` with `a = gain * sqrt(6 / (fan_in + fan_out))`.
///
/// # Errors
/// When the shape has fewer than 2 dims or both fans are zero, when a fan, their sum or
/// the element count overflows `usize`, or when the weight would take more than
/// `isize::MAX` bytes.
///
/// ```
/// use ferrite_nn::init::xavier_uniform;
/// use ferrite_tensor::seeded_rng;
/// let w = xavier_uniform::<f32>(&[10, 20], 1.0, &mut seeded_rng(0))?;
/// assert!(w.to_vec().iter().all(|x| x.abs() <= (6.0f32 / 30.0).sqrt()));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn xavier_uniform<T: Float>(shape: &[usize], gain: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
    let a = gain * (6.0 / nonzero(fan_sum(fan_in, fan_out, shape)?, shape)? as f64).sqrt();
    checked_numel("init", shape)?;
    Ok(Tensor::uniform(shape, T::of(-a), T::of(a), rng))
}

/// Xavier (Glorot) normal: `N(0, std²)` with `std = gain * sqrt(2 / (fan_in + fan_out))`.
///
/// # Errors
/// When the shape has fewer than 2 dims or both fans are zero, when a fan, their sum or
/// the element count overflows `usize`, or when the weight would take more than
/// `isize::MAX` bytes.
///
/// ```
/// use ferrite_nn::init::xavier_normal;
/// use ferrite_tensor::seeded_rng;
/// let w = xavier_normal::<f64>(&[300, 200], 1.0, &mut seeded_rng(0))?;
/// let var = w.to_vec().iter().map(|x| x * x).sum::<f64>() / w.numel() as f64;
/// assert!((var - 2.0 / 500.0).abs() < 0.0002);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn xavier_normal<T: Float>(shape: &[usize], gain: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
    let std = gain * (2.0 / nonzero(fan_sum(fan_in, fan_out, shape)?, shape)? as f64).sqrt();
    checked_numel("init", shape)?;
    Ok(Tensor::normal(shape, T::zero(), T::of(std), rng))
}

fn fan_sum(fan_in: usize, fan_out: usize, shape: &[usize]) -> Result<usize> {
    fan_in.checked_add(fan_out).ok_or_else(|| {
        TensorError::invalid(
            "init",
            format!("fan_in + fan_out of a weight of shape {shape:?} overflows usize"),
        )
    })
}

fn nonzero(n: usize, shape: &[usize]) -> Result<usize> {
    if n == 0 {
        return Err(TensorError::invalid(
            "init",
            format!("cannot initialise a weight with zero fans (shape {shape:?})"),
        ));
    }
    Ok(n)
}

/// `U(low, high)`, like `torch.nn.init.uniform_`.
///
/// # Panics
/// When the shape has more elements than memory can hold, as [`Tensor::uniform`]; use
/// [`Tensor::try_uniform`] to get the error instead.
///
/// ```
/// use ferrite_nn::init::uniform;
/// use ferrite_tensor::seeded_rng;
/// let t = uniform::<f32>(&[100], -0.1, 0.1, &mut seeded_rng(0));
/// assert!(t.to_vec().iter().all(|x| x.abs() <= 0.1));
/// ```
pub fn uniform<T: Float>(shape: &[usize], low: f64, high: f64, rng: &mut Rng) -> Tensor<T> {
    Tensor::uniform(shape, T::of(low), T::of(high), rng)
}

/// `N(mean, std²)`, like `torch.nn.init.normal_`.
///
/// # Panics
/// When the shape has more elements than memory can hold, as [`Tensor::normal`]; use
/// [`Tensor::try_normal`] to get the error instead.
///
/// ```
/// use ferrite_nn::init::normal;
/// use ferrite_tensor::seeded_rng;
/// let t = normal::<f64>(&[3], 1.0, 0.0, &mut seeded_rng(0));
/// assert_eq!(t.to_vec(), vec![1.0; 3]);
/// ```
pub fn normal<T: Float>(shape: &[usize], mean: f64, std: f64, rng: &mut Rng) -> Tensor<T> {
    Tensor::normal(shape, T::of(mean), T::of(std), rng)
}

/// All zeros, like `torch.nn.init.zeros_`.
///
/// # Panics
/// When the shape has more elements than memory can hold, as [`Tensor::zeros`]; use
/// [`Tensor::try_zeros`] to get the error instead.
///
/// ```
/// assert_eq!(ferrite_nn::init::zeros::<f32>(&[2]).to_vec(), vec![0.0, 0.0]);
/// ```
pub fn zeros<T: Float>(shape: &[usize]) -> Tensor<T> {
    Tensor::zeros(shape)
}

/// All ones, like `torch.nn.init.ones_`.
///
/// # Panics
/// When the shape has more elements than memory can hold, as [`Tensor::ones`]; use
/// [`Tensor::try_ones`] to get the error instead.
///
/// ```
/// assert_eq!(ferrite_nn::init::ones::<f32>(&[2]).to_vec(), vec![1.0, 1.0]);
/// ```
pub fn ones<T: Float>(shape: &[usize]) -> Tensor<T> {
    Tensor::ones(shape)
}

/// PyTorch's default initialisation of a Conv2d/Linear layer: weight
/// `kaiming_uniform_(a = √5)`, i.e. `U(-1/√fan_in, 1/√fan_in)`, and bias
/// `U(-1/√fan_in, 1/√fan_in)`. Returns `(weight, bias)`.
///
/// # Errors
/// When the weight shape has fewer than 2 dims or a zero fan in, when the fan in or the
/// element count overflows `usize`, or when the weight would take more than `isize::MAX`
/// bytes.
///
/// ```
/// use ferrite_nn::init::default_weight_and_bias;
/// use ferrite_tensor::seeded_rng;
/// let (w, b) = default_weight_and_bias::<f32>(&[16, 1, 3, 3], &mut seeded_rng(0))?;
/// assert_eq!(b.shape(), &[16]);
/// assert!(w.to_vec().iter().chain(b.to_vec().iter()).all(|x| x.abs() <= 1.0 / 3.0));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn default_weight_and_bias<T: Float>(
    weight_shape: &[usize],
    rng: &mut Rng,
) -> Result<(Tensor<T>, Tensor<T>)> {
    let weight = kaiming_uniform(
        weight_shape,
        FanMode::FanIn,
        Nonlinearity::LeakyRelu(5f64.sqrt()),
        rng,
    )?;
    let bound = 1.0 / (fan(weight_shape, FanMode::FanIn)? as f64).sqrt();
    let bias = Tensor::uniform(&[weight_shape[0]], T::of(-bound), T::of(bound), rng);
    Ok((weight, bias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_tensor::seeded_rng;

    fn moments(t: &Tensor<f64>) -> (f64, f64, f64) {
        let v = t.to_vec();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        (mean, var, max)
    }

    #[test]
    fn kaiming_uniform_bound_and_variance_follow_the_formula() {
        // U(-b, b) has variance b^2 / 3.
        for (mode, fan) in [
            (FanMode::FanIn, 64.0f64 * 9.0),
            (FanMode::FanOut, 32.0 * 9.0),
        ] {
            let w = kaiming_uniform::<f64>(
                &[32, 64, 3, 3],
                mode,
                Nonlinearity::Relu,
                &mut seeded_rng(3),
            )
            .unwrap();
            let b = 2f64.sqrt() * (3.0 / fan).sqrt();
            let (mean, var, max) = moments(&w);
            assert!(max <= b && max > 0.99 * b, "max {max} vs bound {b}");
            assert!(mean.abs() < 0.01 * b);
            assert!((var - b * b / 3.0).abs() < 0.03 * b * b / 3.0, "var {var}");
        }
    }

    #[test]
    fn kaiming_normal_and_xavier_variances_follow_the_formulas() {
        let w = kaiming_normal::<f64>(
            &[64, 32, 3, 3],
            FanMode::FanOut,
            Nonlinearity::Tanh,
            &mut seeded_rng(4),
        )
        .unwrap();
        let want = (5.0f64 / 3.0).powi(2) / (64.0 * 9.0);
        let (_, var, _) = moments(&w);
        assert!((var - want).abs() < 0.03 * want, "{var} vs {want}");

        let w = xavier_uniform::<f64>(&[200, 100], 2.0, &mut seeded_rng(5)).unwrap();
        let a = 2.0 * (6.0f64 / 300.0).sqrt();
        let (_, var, max) = moments(&w);
        assert!(max <= a);
        assert!((var - a * a / 3.0).abs() < 0.03 * a * a / 3.0);
    }

    #[test]
    fn pytorch_default_is_one_over_sqrt_fan_in() {
        let (w, b) = default_weight_and_bias::<f64>(&[8, 4, 5, 5], &mut seeded_rng(6)).unwrap();
        let bound = 1.0 / 10.0;
        let (_, var, max) = moments(&w);
        assert!(max <= bound && max > 0.98 * bound);
        assert!((var - bound * bound / 3.0).abs() < 0.1 * bound * bound / 3.0);
        assert!(b.to_vec().iter().all(|x| x.abs() <= bound));
    }

    #[test]
    fn same_seed_same_weights() {
        let a = kaiming_uniform::<f32>(
            &[4, 4],
            FanMode::FanIn,
            Nonlinearity::Relu,
            &mut seeded_rng(9),
        )
        .unwrap();
        let b = kaiming_uniform::<f32>(
            &[4, 4],
            FanMode::FanIn,
            Nonlinearity::Relu,
            &mut seeded_rng(9),
        )
        .unwrap();
        assert_eq!(a, b);
    }
}
