//! Elementwise functions of one `Var`, each with its derivative beside it.

use ferrite_tensor::{Float, Result};

use crate::Var;
use crate::ops::double::{curved, piecewise_linear};

impl<T: Float> Var<T> {
    /// `e^x`. Backward: `g * e^x`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[1]));
    /// x.exp()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn exp(&self) -> Result<Var<T>> {
        let y = self.value().exp();
        let saved = y.clone();
        Var::from_op("exp", y, &[self], move |g, grads| {
            grads.set(0, || g.mul(&saved))
        })
        .map(|y| y.with_double_backward(curved("exp_backward", |x: T| x.exp(), |x: T| x.exp())))
    }

    /// Natural logarithm. Backward: `g / x`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite (e.g. `log(0)`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::full(&[1], 2.0));
    /// x.log()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn log(&self) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("log", x.log(), &[self], move |g, grads| {
            grads.set(0, || g.div(&x))
        })
        .map(|y| {
            y.with_double_backward(curved(
                "log_backward",
                |x: T| T::one() / x,
                |x: T| -T::one() / (x * x),
            ))
        })
    }

    /// Square root. Backward: `g / (2 sqrt(x))`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::full(&[1], 4.0));
    /// x.sqrt()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sqrt(&self) -> Result<Var<T>> {
        let y = self.value().sqrt();
        let saved = y.clone();
        Var::from_op("sqrt", y, &[self], move |g, grads| {
            grads.set(0, || g.div(&saved.mul_scalar(T::of(2.0))))
        })
        .map(|y| {
            y.with_double_backward(curved(
                "sqrt_backward",
                |x: T| T::of(0.5) / x.sqrt(),
                |x: T| T::of(-0.25) / (x * x.sqrt()),
            ))
        })
    }

    /// `x^p` for a scalar `p`: [`pow`](Var::pow) under its older name. Backward:
    /// `g * p * x^(p-1)` (0 for `p = 0`).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::full(&[1], 3.0));
    /// x.powf(2.0)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![6.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn powf(&self, p: T) -> Result<Var<T>> {
        self.pow(p)
    }

    /// `|x|`. Backward: `g * sign(x)` (0 at 0, as PyTorch).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, 0.0, 3.0], &[3])?);
    /// x.abs()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![-1.0, 0.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn abs(&self) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("abs", x.abs(), &[self], move |g, grads| {
            let sign = x.map(|v| {
                if v > T::zero() {
                    T::one()
                } else if v < T::zero() {
                    -T::one()
                } else {
                    T::zero()
                }
            });
            grads.set(0, || g.mul(&sign))
        })
        .map(|y| y.with_double_backward(piecewise_linear("abs_backward", sign)))
    }

    /// `max(x, 0)`. Backward: `g` where `x > 0`, else 0 (0 at exactly 0, as PyTorch).
    ///
    /// # Errors
    /// Only in anomaly mode, when the input holds NaN or infinity.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-1.0, 0.0, 2.0], &[3])?);
    /// x.relu()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn relu(&self) -> Result<Var<T>> {
        let y = self.value().relu();
        let saved = y.clone();
        Var::from_op("relu", y, &[self], move |g, grads| {
            grads.set(0, || {
                g.zip_with("relu_backward", &saved, |g, y| {
                    if y > T::zero() { g } else { T::zero() }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(piecewise_linear("relu_backward", |x: T| {
                if x > T::zero() { T::one() } else { T::zero() }
            }))
        })
    }

    /// `1 / (1 + e^-x)`. Backward: `g * y * (1 - y)`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the input holds NaN.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[1]));
    /// x.sigmoid()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sigmoid(&self) -> Result<Var<T>> {
        let y = self.value().sigmoid();
        let saved = y.clone();
        Var::from_op("sigmoid", y, &[self], move |g, grads| {
            grads.set(0, || {
                g.zip_with("sigmoid_backward", &saved, |g, y| g * y * (T::one() - y))
            })
        })
        .map(|y| {
            y.with_double_backward(curved("sigmoid_backward", sigmoid_d, |x: T| {
                sigmoid_d(x) * (T::one() - T::of(2.0) * sigmoid(x))
            }))
        })
    }

    /// Hyperbolic tangent. Backward: `g * (1 - y^2)`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the input holds NaN.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[1]));
    /// x.tanh()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn tanh(&self) -> Result<Var<T>> {
        let y = self.value().tanh();
        let saved = y.clone();
        Var::from_op("tanh", y, &[self], move |g, grads| {
            grads.set(0, || {
                g.zip_with("tanh_backward", &saved, |g, y| g * (T::one() - y * y))
            })
        })
        .map(|y| {
            y.with_double_backward(curved(
                "tanh_backward",
                |x: T| T::one() - x.tanh() * x.tanh(),
                |x: T| T::of(-2.0) * x.tanh() * (T::one() - x.tanh() * x.tanh()),
            ))
        })
    }
}

/// The sign of `x` (0 at 0): `abs`'s derivative.
fn sign<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// `σ'(x) = σ(x)·(1 − σ(x))`.
fn sigmoid_d<T: Float>(x: T) -> T {
    let s = sigmoid(x);
    s * (T::one() - s)
}
