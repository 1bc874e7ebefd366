//! The activations of `torch.nn.functional` on `Var`, each forward kernel (in
//! `ferrite-tensor`) with its derivative beside it. At a kink the derivative is the one
//! PyTorch's backward kernel returns (listed per op).

use ferrite_tensor::{Float, GeluApproximate, Result, Tensor};

use crate::Var;
use crate::ops::double::{curved, piecewise_linear, times_derivative};

/// `g · d(x)` elementwise, named `op` (the gradient and the input share their shape).
fn scale_grad<T: Float>(
    op: &'static str,
    g: &Tensor<T>,
    x: &Tensor<T>,
    d: impl Fn(T) -> T + Send + Sync,
) -> Result<Tensor<T>> {
    g.zip_with(op, x, move |g, x| g * d(x))
}

impl<T: Float> Var<T> {
    /// `x` where `x > 0`, else `negative_slope·x`, like `F.leaky_relu` (PyTorch's default
    /// slope is 0.01). Backward: `g` where `x > 0`, else `negative_slope·g` (also at 0).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, 0.0, 3.0], &[3])?);
    /// let y = x.leaky_relu(0.1)?;
    /// assert_eq!(y.value().to_vec(), vec![-0.2, 0.0, 3.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.1, 0.1, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn leaky_relu(&self, negative_slope: T) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op(
            "leaky_relu",
            x.leaky_relu(negative_slope),
            &[self],
            move |g, grads| {
                grads.set(0, || {
                    scale_grad("leaky_relu_backward", g, &x, move |x| {
                        if x > T::zero() {
                            T::one()
                        } else {
                            negative_slope
                        }
                    })
                })
            },
        )
        .map(|y| {
            y.with_double_backward(piecewise_linear("leaky_relu_backward", move |x: T| {
                if x > T::zero() {
                    T::one()
                } else {
                    negative_slope
                }
            }))
        })
    }

    /// `x` where `x > 0`, else `alpha·(eˣ − 1)`, like `F.elu` (default alpha 1).
    /// Backward: `g` where `x > 0`, else `alpha·eˣ·g` (`alpha·g` at 0).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![0.0, 2.0], &[2])?);
    /// x.elu(1.5)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.5, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn elu(&self, alpha: T) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("elu", x.elu(alpha), &[self], move |g, grads| {
            grads.set(0, || {
                scale_grad("elu_backward", g, &x, move |x| {
                    if x > T::zero() {
                        T::one()
                    } else {
                        alpha * x.exp()
                    }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(curved(
                "elu_backward",
                move |x: T| {
                    if x > T::zero() {
                        T::one()
                    } else {
                        alpha * x.exp()
                    }
                },
                move |x: T| {
                    if x > T::zero() {
                        T::zero()
                    } else {
                        alpha * x.exp()
                    }
                },
            ))
        })
    }

    /// Gaussian error linear unit, like `F.gelu(x, approximate=...)`: `x·Φ(x)`, or the
    /// tanh approximation. Backward: `Φ(x) + x·φ(x)` (or the tanh form's derivative) times `g`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{GeluApproximate, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[2]));
    /// x.gelu(GeluApproximate::Tanh)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, 0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gelu(&self, approximate: GeluApproximate) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("gelu", x.gelu(approximate), &[self], move |g, grads| {
            grads.set(0, || g.gelu_backward(&x, approximate))
        })
        .map(|y| {
            y.with_double_backward(move |g, inputs, grads| {
                let (x, xv) = (&inputs[0], inputs[0].value());
                grads.set(0, || {
                    let d = Tensor::ones(xv.shape()).gelu_backward(&xv, approximate)?;
                    let d2 = xv.gelu_second_derivative(approximate);
                    times_derivative("gelu_backward", g, x, d, Some(d2))
                })
            })
        })
    }

    /// `x·σ(x)`, like `F.silu`. Backward: `g·σ(x)·(1 + x·(1 − σ(x)))`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[1]));
    /// x.silu()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn silu(&self) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("silu", x.silu(), &[self], move |g, grads| {
            grads.set(0, || g.silu_backward(&x))
        })
        .map(|y| {
            y.with_double_backward(curved("silu_backward", silu_d, |x: T| {
                let s = sigmoid(x);
                s * (T::one() - s) * (T::of(2.0) + x * (T::one() - T::of(2.0) * s))
            }))
        })
    }

    /// `log(1 + e^(βx))/β`, and `x` where `βx > threshold`, like
    /// `F.softplus(x, beta, threshold)` (defaults 1 and 20). Backward: `g·σ(βx)`, and `g`
    /// above the threshold.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![0.0, 25.0], &[2])?);
    /// x.softplus(1.0, 20.0)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn softplus(&self, beta: T, threshold: T) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op(
            "softplus",
            x.softplus(beta, threshold),
            &[self],
            move |g, grads| {
                grads.set(0, || {
                    scale_grad("softplus_backward", g, &x, move |x| {
                        if x * beta > threshold {
                            T::one()
                        } else {
                            let z = (x * beta).exp();
                            z / (z + T::one())
                        }
                    })
                })
            },
        )
        .map(|y| {
            y.with_double_backward(curved(
                "softplus_backward",
                move |x: T| {
                    if x * beta > threshold {
                        T::one()
                    } else {
                        sigmoid(x * beta)
                    }
                },
                move |x: T| {
                    if x * beta > threshold {
                        T::zero()
                    } else {
                        beta * sigmoid(x * beta) * (T::one() - sigmoid(x * beta))
                    }
                },
            ))
        })
    }

    /// `x` clamped to `[min_val, max_val]`, like `F.hardtanh` (defaults −1 and 1).
    /// Backward: `g` strictly inside the bounds, 0 at and beyond them.
    ///
    /// # Errors
    /// `InvalidArgument` when `min_val > max_val`; in anomaly mode, a non-finite result.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, 0.5, 1.0], &[3])?);
    /// x.hardtanh(-1.0, 1.0)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardtanh(&self, min_val: T, max_val: T) -> Result<Var<T>> {
        self.hardtanh_named("hardtanh", min_val, max_val)
    }

    /// `min(max(x, 0), 6)`, like `F.relu6`. Backward: `g` strictly inside `(0, 6)`, else 0.
    ///
    /// # Errors
    /// Only in anomaly mode, when the input holds NaN or infinity.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-1.0, 3.0, 7.0], &[3])?);
    /// let y = x.relu6()?;
    /// assert_eq!(y.value().to_vec(), vec![0.0, 3.0, 6.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn relu6(&self) -> Result<Var<T>> {
        self.hardtanh_named("relu6", T::zero(), T::of(6.0))
    }

    /// `hardtanh` recorded under the name `op`.
    fn hardtanh_named(&self, op: &'static str, min_val: T, max_val: T) -> Result<Var<T>> {
        let x = self.value();
        let y = x.hardtanh(min_val, max_val)?;
        Var::from_op(op, y, &[self], move |g, grads| {
            grads.set(0, || {
                scale_grad("hardtanh_backward", g, &x, move |x| {
                    if x > min_val && x < max_val {
                        T::one()
                    } else {
                        T::zero()
                    }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(piecewise_linear("hardtanh_backward", move |x: T| {
                if x > min_val && x < max_val {
                    T::one()
                } else {
                    T::zero()
                }
            }))
        })
    }

    /// `x·min(max(x + 3, 0), 6)/6`, like `F.hardswish`. Backward: 0 for `x ≤ −3`,
    /// `g·(x/3 + ½)` for `−3 < x < 3`, `g` for `x ≥ 3` (PyTorch's choice at ±3).
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-3.0, 0.0, 3.0], &[3])?);
    /// x.hardswish()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardswish(&self) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("hardswish", x.hardswish(), &[self], move |g, grads| {
            let (three, half) = (T::of(3.0), T::of(0.5));
            grads.set(0, || {
                scale_grad("hardswish_backward", g, &x, move |x| {
                    if x <= -three {
                        T::zero()
                    } else if x < three {
                        x / three + half
                    } else {
                        T::one()
                    }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(curved("hardswish_backward", hardswish_d, |x: T| {
                if x > T::of(-3.0) && x < T::of(3.0) {
                    T::one() / T::of(3.0)
                } else {
                    T::zero()
                }
            }))
        })
    }

    /// `min(max(x + 3, 0), 6)/6`, like `F.hardsigmoid`. Backward: `g/6` strictly inside
    /// `(−3, 3)`, else 0; the 1/6 is PyTorch's, rounded to `f32` even in `f64`.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-3.0, 0.0], &[2])?);
    /// x.hardsigmoid()?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, (1.0f32 / 6.0) as f64]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn hardsigmoid(&self) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("hardsigmoid", x.hardsigmoid(), &[self], move |g, grads| {
            let three = T::of(3.0);
            // PyTorch's kernel multiplies by the f32 constant 1/6 for every dtype.
            let sixth = T::of((1.0f32 / 6.0) as f64);
            grads.set(0, || {
                scale_grad("hardsigmoid_backward", g, &x, move |x| {
                    if x > -three && x < three {
                        sixth
                    } else {
                        T::zero()
                    }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(piecewise_linear("hardsigmoid_backward", |x: T| {
                if x > T::of(-3.0) && x < T::of(3.0) {
                    T::of((1.0f32 / 6.0) as f64)
                } else {
                    T::zero()
                }
            }))
        })
    }
}

fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// `silu'(x) = σ(x)·(1 + x·(1 − σ(x)))`.
fn silu_d<T: Float>(x: T) -> T {
    let s = sigmoid(x);
    s * (T::one() + x * (T::one() - s))
}

/// hardswish's derivative, with PyTorch's choice at the kinks (0 at −3, 1 at 3).
fn hardswish_d<T: Float>(x: T) -> T {
    let three = T::of(3.0);
    if x <= -three {
        T::zero()
    } else if x < three {
        x / three + T::of(0.5)
    } else {
        T::one()
    }
}
