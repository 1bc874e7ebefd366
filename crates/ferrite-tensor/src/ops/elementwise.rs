//! `pow`, `clamp`, `maximum` and `minimum`: the elementwise maths of `torch` beyond the four
//! arithmetic operators, with PyTorch's treatment of NaN and of crossed bounds.

use crate::ops::activation::clamp_scalar;
use crate::{Float, Result, Tensor, TensorError};

impl<T: Float> Tensor<T> {
    /// `x^exponent` for a scalar exponent, like `torch.pow(x, exponent)`. An integral
    /// exponent accepts negative bases (`(-2)^3 = -8`); a fractional one gives NaN there.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-2.0, 3.0], &[2])?;
    /// assert_eq!(x.pow(3.0).to_vec(), vec![-8.0, 27.0]);
    /// assert_eq!(x.pow(0.0).to_vec(), vec![1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn pow(&self, exponent: T) -> Tensor<T> {
        self.map(move |x| x.powf(exponent))
    }

    /// `x` clamped to `[min, max]`, either bound optional, like `torch.clamp(x, min, max)`.
    /// NaN stays NaN; with `min > max` every element becomes `max`, as in PyTorch (no error).
    ///
    /// # Errors
    /// `InvalidArgument` when both bounds are `None` (PyTorch raises too).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![-2.0, 0.5, 2.0], &[3])?;
    /// assert_eq!(x.clamp(Some(-1.0), Some(1.0))?.to_vec(), vec![-1.0, 0.5, 1.0]);
    /// assert_eq!(x.clamp(Some(0.0), None)?.to_vec(), vec![0.0, 0.5, 2.0]);
    /// assert_eq!(x.clamp(Some(1.0), Some(-1.0))?.to_vec(), vec![-1.0; 3]);
    /// assert!(x.clamp(None, None).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn clamp(&self, min: Option<T>, max: Option<T>) -> Result<Tensor<T>> {
        if min.is_none() && max.is_none() {
            return Err(TensorError::invalid(
                "clamp",
                "at least one of min and max must be given, found neither",
            ));
        }
        Ok(self.map(move |x| clamp_scalar(x, min, max)))
    }

    /// The larger of `self` and `other` elementwise, with broadcasting, like
    /// `torch.maximum`; NaN in either operand gives NaN.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 5.0], &[2, 1])?;
    /// let b = Tensor::<f64>::from_vec(vec![2.0, 3.0, 4.0], &[3])?;
    /// assert_eq!(a.maximum(&b)?.to_vec(), vec![2.0, 3.0, 4.0, 5.0, 5.0, 5.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn maximum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("maximum", other, |a, b| {
            if a.is_nan() || b.is_nan() {
                T::nan()
            } else if a >= b {
                a
            } else {
                b
            }
        })
    }

    /// The smaller of `self` and `other` elementwise, with broadcasting, like
    /// `torch.minimum`; NaN in either operand gives NaN.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 5.0], &[2])?;
    /// assert_eq!(a.minimum(&Tensor::scalar(2.0))?.to_vec(), vec![1.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn minimum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("minimum", other, |a, b| {
            if a.is_nan() || b.is_nan() {
                T::nan()
            } else if a <= b {
                a
            } else {
                b
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_propagates_and_crossed_bounds_give_max() {
        let x = Tensor::<f64>::from_vec(vec![f64::NAN, -3.0, 3.0], &[3]).unwrap();
        let c = x.clamp(Some(-1.0), Some(1.0)).unwrap().to_vec();
        assert!(c[0].is_nan());
        assert_eq!(&c[1..], &[-1.0, 1.0]);
        assert_eq!(
            &x.clamp(Some(2.0), Some(-2.0)).unwrap().to_vec()[1..],
            &[-2.0, -2.0]
        );
        let m = x.maximum(&Tensor::scalar(0.0)).unwrap().to_vec();
        assert!(m[0].is_nan());
        assert_eq!(&m[1..], &[0.0, 3.0]);
        assert!(x.minimum(&Tensor::scalar(0.0)).unwrap().to_vec()[0].is_nan());
        assert_eq!(
            x.clamp(None, None).unwrap_err().to_string(),
            "clamp: at least one of min and max must be given, found neither"
        );
        assert_eq!(
            x.maximum(&Tensor::zeros(&[2])).unwrap_err().to_string(),
            "maximum: shapes [3] and [2] cannot be broadcast together"
        );
    }
}
