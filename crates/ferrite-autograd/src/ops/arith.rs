//! `add`, `sub`, `mul`, `div` with broadcasting, their scalar forms, and the operators.

use ferrite_tensor::{Float, Result, Tensor};

use crate::Var;

impl<T: Float> Var<T> {
    /// `self + other` with NumPy broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// let b = Var::parameter(Tensor::<f64>::ones(&[3]));
    /// a.add(&b)?.sum_all()?.backward()?;
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![2.0; 3]); // summed over the broadcast dim
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn add(&self, other: &Var<T>) -> Result<Var<T>> {
        let (sa, sb) = (self.shape(), other.shape());
        let value = self.value().add(&other.value())?;
        let (da, db) = (sa.clone(), sb.clone());
        let y = Var::from_op("add", value, &[self, other], move |g, grads| {
            grads.set(0, || g.sum_to(&sa))?;
            grads.set(1, || g.sum_to(&sb))
        })?;
        Ok(y.with_double_backward(move |g, _, grads| {
            grads.set(0, || g.sum_to(&da))?;
            grads.set(1, || g.sum_to(&db))
        }))
    }

    /// `self - other` with NumPy broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// let b = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// a.sub(&b)?.sum_all()?.backward()?;
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![-1.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sub(&self, other: &Var<T>) -> Result<Var<T>> {
        let (sa, sb) = (self.shape(), other.shape());
        let value = self.value().sub(&other.value())?;
        let (da, db) = (sa.clone(), sb.clone());
        let y = Var::from_op("sub", value, &[self, other], move |g, grads| {
            grads.set(0, || g.sum_to(&sa))?;
            grads.set(1, || g.neg().sum_to(&sb))
        })?;
        Ok(y.with_double_backward(move |g, _, grads| {
            grads.set(0, || g.sum_to(&da))?;
            grads.set(1, || g.neg()?.sum_to(&db))
        }))
    }

    /// `self * other` (elementwise) with NumPy broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::full(&[2], 3.0));
    /// let b = Var::parameter(Tensor::<f64>::full(&[2], 4.0));
    /// a.mul(&b)?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![4.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mul(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let value = a.mul(&b)?;
        let y = Var::from_op("mul", value, &[self, other], move |g, grads| {
            grads.set(0, || g.mul(&b)?.sum_to(a.shape()))?;
            grads.set(1, || g.mul(&a)?.sum_to(b.shape()))
        })?;
        Ok(y.with_double_backward(|g, x, grads| {
            grads.set(0, || g.mul(&x[1])?.sum_to(&x[0].shape()))?;
            grads.set(1, || g.mul(&x[0])?.sum_to(&x[1].shape()))
        }))
    }

    /// `self / other` (elementwise) with NumPy broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::full(&[1], 3.0));
    /// let b = Var::parameter(Tensor::<f64>::full(&[1], 2.0));
    /// a.div(&b)?.sum_all()?.backward()?;
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![-0.75]); // -a / b^2
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn div(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let value = a.div(&b)?;
        let y = Var::from_op("div", value, &[self, other], move |g, grads| {
            grads.set(0, || g.div(&b)?.sum_to(a.shape()))?;
            // d(a/b)/db = -a / b^2
            grads.set(1, || g.mul(&a)?.div(&b.mul(&b)?)?.neg().sum_to(b.shape()))
        })?;
        Ok(y.with_double_backward(|g, x, grads| {
            let (a, b) = (&x[0], &x[1]);
            grads.set(0, || g.div(b)?.sum_to(&a.shape()))?;
            grads.set(1, || g.mul(a)?.div(&b.mul(b)?)?.neg()?.sum_to(&b.shape()))
        }))
    }

    /// Adds a scalar to every element.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::new(Tensor::<f32>::ones(&[2]));
    /// assert_eq!(a.add_scalar(1.0)?.value().to_vec(), vec![2.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn add_scalar(&self, s: T) -> Result<Var<T>> {
        Var::from_op(
            "add_scalar",
            self.value().add_scalar(s),
            &[self],
            |g, grads| grads.set(0, || Ok(g.clone())),
        )
        .map(|y| y.with_double_backward(|g, _, grads| grads.set(0, || Ok(g.clone()))))
    }

    /// Subtracts a scalar from every element.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::new(Tensor::<f32>::ones(&[2]));
    /// assert_eq!(a.sub_scalar(1.0)?.value().to_vec(), vec![0.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sub_scalar(&self, s: T) -> Result<Var<T>> {
        Var::from_op(
            "sub_scalar",
            self.value().sub_scalar(s),
            &[self],
            |g, grads| grads.set(0, || Ok(g.clone())),
        )
        .map(|y| y.with_double_backward(|g, _, grads| grads.set(0, || Ok(g.clone()))))
    }

    /// Multiplies every element by a scalar.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// a.mul_scalar(3.0)?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![3.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mul_scalar(&self, s: T) -> Result<Var<T>> {
        Var::from_op(
            "mul_scalar",
            self.value().mul_scalar(s),
            &[self],
            move |g, grads| grads.set(0, || Ok(g.mul_scalar(s))),
        )
        .map(|y| y.with_double_backward(move |g, _, grads| grads.set(0, || g.mul_scalar(s))))
    }

    /// Divides every element by a scalar.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite (e.g. division by zero).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// a.div_scalar(4.0)?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![0.25; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn div_scalar(&self, s: T) -> Result<Var<T>> {
        Var::from_op(
            "div_scalar",
            self.value().div_scalar(s),
            &[self],
            move |g, grads| grads.set(0, || Ok(g.div_scalar(s))),
        )
        .map(|y| y.with_double_backward(move |g, _, grads| grads.set(0, || g.div_scalar(s))))
    }

    /// `-self` elementwise.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// a.neg()?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![-1.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn neg(&self) -> Result<Var<T>> {
        Var::from_op("neg", self.value().neg(), &[self], |g, grads| {
            grads.set(0, || Ok(g.neg()))
        })
        .map(|y| y.with_double_backward(|g, _, grads| grads.set(0, || g.neg())))
    }
}

fn expect<T: Float>(result: Result<Var<T>>) -> Var<T> {
    result.unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! impl_operator {
    ($trait:ident, $method:ident, $sym:literal) => {
        impl<T: Float> std::ops::$trait<&Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[doc = concat!("`a ", $sym, " b` with broadcasting.\n\n# Panics\nWhen the shapes cannot be broadcast, or inside [`detect_anomaly`](crate::detect_anomaly) when the result has NaN or infinity, with the error message of [`Var::", stringify!($method), "`].")]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                expect(Var::$method(self, rhs))
            }
        }
        impl<T: Float> std::ops::$trait<Var<T>> for Var<T> {
            type Output = Var<T>;
            #[doc = concat!("`a ", $sym, " b` with broadcasting.\n\n# Panics\nWhen the shapes cannot be broadcast, or inside [`detect_anomaly`](crate::detect_anomaly) when the result has NaN or infinity, with the error message of [`Var::", stringify!($method), "`].")]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                expect(Var::$method(&self, &rhs))
            }
        }
    };
}
impl_operator!(Add, add, "+");
impl_operator!(Sub, sub, "-");
impl_operator!(Mul, mul, "*");
impl_operator!(Div, div, "/");

impl<T: Float> std::ops::Neg for &Var<T> {
    type Output = Var<T>;
    /// `-a` elementwise.
    ///
    /// # Panics
    /// Inside [`detect_anomaly`](crate::detect_anomaly) when the result has NaN or
    /// infinity, with the error message of [`Var::neg`].
    fn neg(self) -> Var<T> {
        expect(Var::neg(self))
    }
}

/// `Tensor` → constant `Var`, so constants mix with parameters in ops.
impl<T: Float> From<Tensor<T>> for Var<T> {
    fn from(value: Tensor<T>) -> Self {
        Var::new(value)
    }
}
