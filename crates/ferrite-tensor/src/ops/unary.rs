//! Elementwise functions of one tensor.

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// `-x` elementwise.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).neg().to_vec(), vec![-1.0; 2]);
    /// ```
    pub fn neg(&self) -> Tensor<T> {
        self.map(|x| -x)
    }

    /// `e^x` elementwise.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::zeros(&[1]).exp().to_vec(), vec![1.0]);
    /// ```
    pub fn exp(&self) -> Tensor<T> {
        self.map(|x| x.exp_kernel())
    }

    /// Natural logarithm elementwise (`log(0) = -inf`, negative gives NaN, as in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::ones(&[1]).log().to_vec(), vec![0.0]);
    /// ```
    pub fn log(&self) -> Tensor<T> {
        self.map(|x| x.ln())
    }

    /// Square root elementwise.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::full(&[1], 9.0).sqrt().to_vec(), vec![3.0]);
    /// ```
    pub fn sqrt(&self) -> Tensor<T> {
        self.map(|x| x.sqrt())
    }

    /// `x^p` elementwise for a scalar exponent `p`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::full(&[1], 2.0).powf(3.0).to_vec(), vec![8.0]);
    /// ```
    pub fn powf(&self, p: T) -> Tensor<T> {
        self.map(|x| x.powf(p))
    }

    /// Absolute value elementwise.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::full(&[1], -2.0).abs().to_vec(), vec![2.0]);
    /// ```
    pub fn abs(&self) -> Tensor<T> {
        self.map(|x| x.abs())
    }

    /// `max(x, 0)` elementwise (NaN stays NaN, as in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?;
    /// assert_eq!(t.relu().to_vec(), vec![0.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn relu(&self) -> Tensor<T> {
        self.map(|x| {
            if x > T::zero() || x.is_nan() {
                x
            } else {
                T::zero()
            }
        })
    }

    /// `1 / (1 + e^-x)` elementwise, computed without overflow for large `|x|`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::zeros(&[1]).sigmoid().to_vec(), vec![0.5]);
    /// ```
    pub fn sigmoid(&self) -> Tensor<T> {
        self.map(crate::ops::activation::sigmoid_scalar)
    }

    /// Hyperbolic tangent elementwise.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::zeros(&[1]).tanh().to_vec(), vec![0.0]);
    /// ```
    pub fn tanh(&self) -> Tensor<T> {
        self.map(|x| x.tanh())
    }
}
