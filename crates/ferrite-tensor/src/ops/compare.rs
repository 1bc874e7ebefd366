//! Comparisons `eq`, `ne`, `gt`, `ge`, `lt`, `le`: tensor against tensor (broadcasting) or
//! against a scalar, giving a [`Mask`]. NaN compares as IEEE 754 says (unequal to
//! everything, itself included), as in PyTorch.

use ndarray::{IxDyn, Zip};

use crate::ops::binary::checked_broadcast;
use crate::{Float, Mask, Result, Tensor};

impl<T: Float> Tensor<T> {
    /// `f(a, b)` over the broadcast of `self` and `other`, errors named `op`.
    fn compare(&self, op: &'static str, other: &Tensor<T>, f: fn(T, T) -> bool) -> Result<Mask> {
        let shape = checked_broadcast(op, self.shape(), other.shape())?;
        let a = self
            .arc()
            .broadcast(IxDyn(&shape))
            .expect("checked broadcast");
        let b = other
            .arc()
            .broadcast(IxDyn(&shape))
            .expect("checked broadcast");
        Ok(Mask::from_array(
            Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)),
        ))
    }

    /// `f(x, s)` for every element.
    fn compare_scalar(&self, s: T, f: fn(T, T) -> bool) -> Mask {
        Mask::from_array(self.as_array().mapv(|x| f(x, s)))
    }

    /// `self == other` elementwise with broadcasting, like `torch.eq` (not `torch.equal`:
    /// `==` between two tensors, from `PartialEq`, still says whether they are identical).
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2])?;
    /// assert_eq!(a.eq(&Tensor::scalar(2.0))?.to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn eq(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("eq", other, |a, b| a == b)
    }

    /// `self != other` elementwise with broadcasting, like `torch.ne` (true where either is
    /// NaN).
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, f32::NAN], &[2])?;
    /// assert_eq!(a.ne(&a)?.to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn ne(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("ne", other, |a, b| a != b)
    }

    /// `self > other` elementwise with broadcasting, like `torch.gt`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 3.0], &[2])?;
    /// let b = Tensor::<f32>::from_vec(vec![2.0, 2.0], &[2])?;
    /// assert_eq!(a.gt(&b)?.to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gt(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("gt", other, |a, b| a > b)
    }

    /// `self >= other` elementwise with broadcasting, like `torch.ge`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2])?;
    /// assert_eq!(a.ge(&Tensor::scalar(2.0))?.to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn ge(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("ge", other, |a, b| a >= b)
    }

    /// `self < other` elementwise with broadcasting, like `torch.lt`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2, 1])?;
    /// let m = a.lt(&Tensor::from_vec(vec![1.5, 2.5], &[2])?)?;
    /// assert_eq!(m.shape(), &[2, 2]);
    /// assert_eq!(m.to_vec(), vec![true, true, false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn lt(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("lt", other, |a, b| a < b)
    }

    /// `self <= other` elementwise with broadcasting, like `torch.le`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2])?;
    /// assert_eq!(a.le(&Tensor::scalar(1.0))?.to_vec(), vec![true, false]);
    /// assert!(a.le(&Tensor::zeros(&[3])).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn le(&self, other: &Tensor<T>) -> Result<Mask> {
        self.compare("le", other, |a, b| a <= b)
    }

    /// `x == s` for every element (`x == 0.5` in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![0.5, 2.0], &[2])?;
    /// assert_eq!(a.eq_scalar(0.5).to_vec(), vec![true, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn eq_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a == b)
    }

    /// `x != s` for every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![0.5, 2.0], &[2])?;
    /// assert_eq!(a.ne_scalar(0.5).to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn ne_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a != b)
    }

    /// `x > s` for every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?;
    /// assert_eq!(a.gt_scalar(0.0).to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gt_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a > b)
    }

    /// `x >= s` for every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![0.0, 2.0], &[2])?;
    /// assert_eq!(a.ge_scalar(0.0).to_vec(), vec![true, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn ge_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a >= b)
    }

    /// `x < s` for every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![0.0, 2.0], &[2])?;
    /// assert_eq!(a.lt_scalar(1.0).to_vec(), vec![true, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn lt_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a < b)
    }

    /// `x <= s` for every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![0.0, 2.0], &[2])?;
    /// assert_eq!(a.le_scalar(0.0).to_vec(), vec![true, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn le_scalar(&self, s: T) -> Mask {
        self.compare_scalar(s, |a, b| a <= b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_broadcast_and_treat_nan_as_ieee() {
        let a = Tensor::<f64>::from_vec(vec![1.0, f64::NAN, 3.0], &[3, 1]).unwrap();
        let b = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2]).unwrap();
        assert_eq!(
            a.ge(&b).unwrap().to_vec(),
            vec![true, false, false, false, true, true]
        );
        assert_eq!(a.eq_scalar(f64::NAN).count_true(), 0);
        assert_eq!(a.ne_scalar(f64::NAN).count_true(), 3);
        assert_eq!(
            a.gt(&Tensor::zeros(&[2, 2])).unwrap_err().to_string(),
            "gt: shapes [3, 1] and [2, 2] cannot be broadcast together"
        );
    }
}
