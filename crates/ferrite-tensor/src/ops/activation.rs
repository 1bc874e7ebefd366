//! Activation functions of `torch.nn.functional`, elementwise, with PyTorch's defaults and
//! formulas (the derivatives sit with the `Var` ops in `ferrite-autograd`; only GELU's,
//! which needs `erf`, is a kernel here). GELU's `erf` is [`Float::one_plus_erf_kernel`]:
//! `libm` in `f64`, a vectorisable approximation in `f32`.

use std::str::FromStr;

use crate::{Float, Result, Tensor, TensorError};

/// `√(2/π)`, the scale inside GELU's tanh approximation.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_KAPPA: f64 = 0.044715;
/// `1/√(2π)`, the normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// GELU's `approximate` argument: `"none"` (exact, with `erf`) or `"tanh"`.
///
/// Parses from PyTorch's strings; anything else is refused, as `F.gelu` refuses it.
///
/// ```
/// use ferrite_tensor::GeluApproximate;
/// assert_eq!("tanh".parse::<GeluApproximate>()?, GeluApproximate::Tanh);
/// assert_eq!(GeluApproximate::default(), GeluApproximate::None);
/// assert!("erf".parse::<GeluApproximate>().is_err());
/// assert_eq!(GeluApproximate::Tanh.as_str(), "tanh");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApproximate {
    /// `x·Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's default, `approximate='none'`).
    #[default]
    None,
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (`approximate='tanh'`).
    Tanh,
}

impl GeluApproximate {
    /// PyTorch's spelling: `"none"` or `"tanh"`.
    ///
    /// ```
    /// use ferrite_tensor::GeluApproximate;
    /// assert_eq!(GeluApproximate::None.as_str(), "none");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            GeluApproximate::None => "none",
            GeluApproximate::Tanh => "tanh",
        }
    }
}

impl FromStr for GeluApproximate {
    type Err = TensorError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(GeluApproximate::None),
            "tanh" => Ok(GeluApproximate::Tanh),
            other => Err(TensorError::invalid(
                "gelu",
                format!("approximate must be 'none' or 'tanh', found '{other}'"),
            )),
        }
    }
}

/// `1 / (1 + e^-x)` without overflow for large `|x|`.
/// Branch-free (both sides share `e = e^-|x|`), so loops over it vectorise.
#[inline]
pub(crate) fn sigmoid_scalar<T: Float>(x: T) -> T {
    let e = (-x.abs()).exp_kernel();
    let numerator = if x >= T::zero() { T::one() } else { e };
    numerator / (T::one() + e)
}

impl<T: Float> Tensor<T> {
    /// `x` where `x > 0`, else `negative_slope·x`, like `F.leaky_relu` (default slope 0.01;
    /// any slope, negative or above 1, is accepted as in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-2.0, 3.0], &[2])?;
    /// assert_eq!(x.leaky_relu(0.01).to_vec(), vec![-0.02, 3.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn leaky_relu(&self, negative_slope: T) -> Tensor<T> {
        self.map(move |x| if x > T::zero() { x } else { x * negative_slope })
    }

    /// `x` where `x > 0`, else `alpha·(eˣ − 1)`, like `F.elu` (default alpha 1).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 2.0], &[2])?;
    /// assert_eq!(x.elu(1.0).to_vec(), vec![(-1.0f64).exp_m1(), 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn elu(&self, alpha: T) -> Tensor<T> {
        self.map(move |x| if x > T::zero() { x } else { alpha * x.exp_m1() })
    }

    /// Gaussian error linear unit, like `F.gelu(x, approximate=...)`: `x·Φ(x)` exactly, or
    /// PyTorch's tanh approximation.
    ///
    /// ```
    /// use ferrite_tensor::{GeluApproximate, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2])?;
    /// let y = x.gelu(GeluApproximate::None).to_vec();
    /// assert!((y[1] - 0.8413447460685429).abs() < 1e-15);
    /// let t = x.gelu(GeluApproximate::Tanh).to_vec();
    /// assert!((t[1] - 0.8411919906082768).abs() < 1e-15);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gelu(&self, approximate: GeluApproximate) -> Tensor<T> {
        let half = T::of(0.5);
        match approximate {
            GeluApproximate::None => {
                let r = T::of(std::f64::consts::FRAC_1_SQRT_2);
                self.map(move |x| half * x * (x * r).one_plus_erf_kernel())
            }
            GeluApproximate::Tanh => {
                let (beta, kappa) = (T::of(SQRT_2_OVER_PI), T::of(GELU_KAPPA));
                self.map(move |x| {
                    let inner = beta * (x + kappa * x * x * x);
                    half * x * (T::one() + inner.tanh())
                })
            }
        }
    }

    /// The gradient of [`gelu`](Tensor::gelu): `self` (the output's gradient) times
    /// `Φ(x) + x·φ(x)`, or the derivative of the tanh form, as PyTorch's `gelu_backward`.
    ///
    /// # Errors
    /// When `self` and `input` have different shapes.
    ///
    /// ```
    /// use ferrite_tensor::{GeluApproximate, Tensor};
    /// let x = Tensor::<f64>::zeros(&[1]);
    /// let g = Tensor::<f64>::ones(&[1]).gelu_backward(&x, GeluApproximate::None)?;
    /// assert_eq!(g.to_vec(), vec![0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gelu_backward(
        &self,
        input: &Tensor<T>,
        approximate: GeluApproximate,
    ) -> Result<Tensor<T>> {
        check_same_shape("gelu_backward", self, input)?;
        let half = T::of(0.5);
        match approximate {
            GeluApproximate::None => {
                let (r, c) = (T::of(std::f64::consts::FRAC_1_SQRT_2), T::of(INV_SQRT_2PI));
                self.zip_with("gelu_backward", input, move |g, x| {
                    let cdf = half * (x * r).one_plus_erf_kernel();
                    let pdf = (-half * x * x).exp_kernel() * c;
                    g * (cdf + x * pdf)
                })
            }
            GeluApproximate::Tanh => {
                let (beta, kappa) = (T::of(SQRT_2_OVER_PI), T::of(GELU_KAPPA));
                let three = T::of(3.0);
                self.zip_with("gelu_backward", input, move |g, x| {
                    let x2 = x * x;
                    let t = (beta * (x + kappa * x2 * x)).tanh();
                    let left = half * x;
                    let inner_derivative = beta * (T::one() + three * kappa * x2);
                    g * (half * (T::one() + t) + left * (T::one() - t * t) * inner_derivative)
                })
            }
        }
    }

    /// The second derivative of [`gelu`](Tensor::gelu) at each element: `φ(x)·(2 − x²)` for
    /// the exact form, the derivative of PyTorch's tanh-form gradient otherwise (what its
    /// double backward uses).
    ///
    /// ```
    /// use ferrite_tensor::{GeluApproximate, Tensor};
    /// let x = Tensor::<f64>::zeros(&[1]);
    /// let d2 = x.gelu_second_derivative(GeluApproximate::None).to_vec()[0];
    /// assert!((d2 - 2.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-15);
    /// ```
    pub fn gelu_second_derivative(&self, approximate: GeluApproximate) -> Tensor<T> {
        let half = T::of(0.5);
        match approximate {
            GeluApproximate::None => {
                let c = T::of(INV_SQRT_2PI);
                self.map(move |x| (-half * x * x).exp_kernel() * c * (T::of(2.0) - x * x))
            }
            GeluApproximate::Tanh => {
                let (beta, kappa) = (T::of(SQRT_2_OVER_PI), T::of(GELU_KAPPA));
                self.map(move |x| {
                    let t = (beta * (x + kappa * x * x * x)).tanh();
                    let u1 = beta * (T::one() + T::of(3.0) * kappa * x * x);
                    let u2 = T::of(6.0) * beta * kappa * x;
                    (T::one() - t * t) * (u1 + half * x * (u2 - T::of(2.0) * t * u1 * u1))
                })
            }
        }
    }

    /// `x·σ(x)` (swish), like `F.silu`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2])?.silu().to_vec();
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 0.7310585786300049).abs() < 1e-15);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn silu(&self) -> Tensor<T> {
        self.map(|x| x * sigmoid_scalar(x))
    }

    /// The gradient of [`silu`](Tensor::silu): `self` (the output's gradient) times
    /// `σ(x)·(1 + x·(1 − σ(x)))`, in one pass.
    ///
    /// # Errors
    /// When `self` and `input` have different shapes.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::zeros(&[1]);
    /// let g = Tensor::<f64>::full(&[1], 2.0).silu_backward(&x)?;
    /// assert_eq!(g.to_vec(), vec![1.0]); // 2 · σ(0)
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn silu_backward(&self, input: &Tensor<T>) -> Result<Tensor<T>> {
        check_same_shape("silu_backward", self, input)?;
        self.zip_with("silu_backward", input, |g, x| {
            let s = sigmoid_scalar(x);
            g * (s * (T::one() + x * (T::one() - s)))
        })
    }

    /// `log(1 + e^(βx))/β`, and `x` itself where `βx > threshold`, like
    /// `F.softplus(x, beta, threshold)` (defaults 1 and 20).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![0.0, 30.0], &[2])?.softplus(1.0, 20.0).to_vec();
    /// assert_eq!(y, vec![2f64.ln(), 30.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn softplus(&self, beta: T, threshold: T) -> Tensor<T> {
        self.map(move |x| {
            let bx = x * beta;
            if bx > threshold {
                x
            } else {
                bx.exp().ln_1p() / beta
            }
        })
    }

    /// `x` clamped to `[min_val, max_val]`, like `F.hardtanh` (defaults −1 and 1). NaN stays
    /// NaN.
    ///
    /// # Errors
    /// `InvalidArgument` when `min_val > max_val` (PyTorch raises too).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-3.0, 0.5, 3.0], &[3])?;
    /// assert_eq!(x.hardtanh(-1.0, 1.0)?.to_vec(), vec![-1.0, 0.5, 1.0]);
    /// assert!(x.hardtanh(1.0, -1.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardtanh(&self, min_val: T, max_val: T) -> Result<Tensor<T>> {
        check_bounds("hardtanh", min_val, max_val)?;
        Ok(self.map(move |x| clamp_scalar(x, Some(min_val), Some(max_val))))
    }

    /// `min(max(x, 0), 6)`, like `F.relu6` (`hardtanh(0, 6)`).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![-1.0, 3.0, 7.0], &[3])?;
    /// assert_eq!(x.relu6().to_vec(), vec![0.0, 3.0, 6.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn relu6(&self) -> Tensor<T> {
        let six = T::of(6.0);
        self.map(move |x| clamp_scalar(x, Some(T::zero()), Some(six)))
    }

    /// `x·min(max(x + 3, 0), 6)/6`, like `F.hardswish`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-4.0, 1.5, 4.0], &[3])?;
    /// assert_eq!(x.hardswish().to_vec(), vec![0.0, 1.125, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardswish(&self) -> Tensor<T> {
        let (three, six) = (T::of(3.0), T::of(6.0));
        self.map(move |x| x * clamp_scalar(x + three, Some(T::zero()), Some(six)) / six)
    }

    /// `min(max(x + 3, 0), 6)/6`, like `F.hardsigmoid`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-4.0, 0.0, 4.0], &[3])?;
    /// assert_eq!(x.hardsigmoid().to_vec(), vec![0.0, 0.5, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardsigmoid(&self) -> Tensor<T> {
        let (three, six) = (T::of(3.0), T::of(6.0));
        self.map(move |x| clamp_scalar(x + three, Some(T::zero()), Some(six)) / six)
    }
}

/// `x` clamped to the bounds that are given; NaN stays NaN, and with `min > max` every
/// value becomes `max` (PyTorch's `min(max(x, min), max)`).
pub(crate) fn clamp_scalar<T: Float>(x: T, min: Option<T>, max: Option<T>) -> T {
    if x.is_nan() {
        return x;
    }
    let mut y = x;
    if let Some(lo) = min
        && y < lo
    {
        y = lo;
    }
    if let Some(hi) = max
        && y > hi
    {
        y = hi;
    }
    y
}

/// Refuses `min_val > max_val`, naming `op`.
pub(crate) fn check_bounds<T: Float>(op: &'static str, min_val: T, max_val: T) -> Result<()> {
    if min_val > max_val {
        return Err(TensorError::invalid(
            op,
            format!(
                "min_val cannot be greater than max_val, found min_val {min_val} and max_val {max_val}"
            ),
        ));
    }
    Ok(())
}

/// Refuses two tensors of different shapes, naming `op`.
fn check_same_shape<T: Float>(op: &'static str, a: &Tensor<T>, b: &Tensor<T>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(TensorError::shape(
            op,
            format!(
                "grad_output has shape {:?} but the input has shape {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
    }

    #[test]
    fn kinks_and_edges_follow_pytorch() {
        let x = t(&[-3.0, 0.0, 3.0, f64::NAN]);
        let y = x.hardtanh(-1.0, 1.0).unwrap().to_vec();
        assert_eq!(&y[..3], &[-1.0, 0.0, 1.0]);
        assert!(y[3].is_nan());
        assert!(x.relu6().to_vec()[3].is_nan());
        assert_eq!(&x.hardswish().to_vec()[..3], &[0.0, 0.0, 3.0]);
        assert_eq!(&x.hardsigmoid().to_vec()[..3], &[0.0, 0.5, 1.0]);
        assert_eq!(&x.leaky_relu(0.5).to_vec()[..3], &[-1.5, 0.0, 3.0]);
        // Equal bounds are allowed (PyTorch's F.hardtanh checks only min > max).
        assert_eq!(x.hardtanh(0.5, 0.5).unwrap().to_vec()[0], 0.5);
        assert_eq!(
            x.hardtanh(1.0, -1.0).unwrap_err().to_string(),
            "hardtanh: min_val cannot be greater than max_val, found min_val 1 and max_val -1"
        );
    }

    #[test]
    fn softplus_switches_to_identity_above_the_threshold() {
        let y = t(&[10.0, 10.5]).softplus(2.0, 20.0).to_vec();
        assert_eq!(y[0], (20f64.exp().ln_1p()) / 2.0);
        assert_eq!(y[1], 10.5);
        // No overflow far below: e^(βx) underflows to 0.
        assert_eq!(t(&[-1000.0]).softplus(1.0, 20.0).to_vec(), vec![0.0]);
    }

    #[test]
    fn gelu_backward_matches_finite_differences() {
        let x = t(&[-2.5, -0.7, 0.3, 1.9]);
        for approximate in [GeluApproximate::None, GeluApproximate::Tanh] {
            let g = Tensor::ones(&[4]).gelu_backward(&x, approximate).unwrap();
            let h = 1e-6;
            let up = x.add_scalar(h).gelu(approximate);
            let down = x.add_scalar(-h).gelu(approximate);
            let fd = up.sub(&down).unwrap().div_scalar(2.0 * h);
            for (a, b) in g.to_vec().iter().zip(fd.to_vec()) {
                assert!((a - b).abs() < 1e-8, "{approximate:?}: {a} vs {b}");
            }
        }
        assert_eq!(
            Tensor::<f64>::ones(&[2])
                .gelu_backward(&x, GeluApproximate::None)
                .unwrap_err()
                .to_string(),
            "gelu_backward: grad_output has shape [2] but the input has shape [4]"
        );
        assert_eq!(
            "erf".parse::<GeluApproximate>().unwrap_err().to_string(),
            "gelu: approximate must be 'none' or 'tanh', found 'erf'"
        );
    }

    #[test]
    fn large_inputs_run_the_parallel_kernels_with_the_same_values() {
        let n = (1 << 17) + 5;
        let x =
            Tensor::<f32>::from_vec((0..n).map(|i| (i % 97) as f32 * 0.1 - 4.0).collect(), &[n])
                .unwrap();
        let big = x.silu().to_vec();
        let small: Vec<f32> = x.to_vec().iter().map(|&v| v * sigmoid_scalar(v)).collect();
        assert_eq!(big, small);
    }
}
