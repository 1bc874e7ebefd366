//! [`Mask`], a boolean tensor: what comparisons return and what [`Tensor::where_cond`]
//! selects with (PyTorch's `torch.bool` tensors, without arithmetic).

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

use crate::ops::binary::checked_broadcast;
use crate::{Float, Result, Tensor, TensorError, broadcast_shapes, checked_numel};

/// An n-dimensional array of booleans, like a `torch.bool` tensor: the result of the
/// comparisons ([`Tensor::gt`], [`Tensor::eq_scalar`], ...) and the condition of
/// [`Tensor::where_cond`]. It broadcasts as tensors do; it has logic (`logical_and`, ...)
/// but no arithmetic: [`to_float`](Mask::to_float) turns it into 0/1 values.
///
/// ```
/// use ferrite_tensor::{Mask, Tensor};
/// let x = Tensor::<f32>::from_vec(vec![-1.0, 2.0, 0.5], &[3])?;
/// let positive: Mask = x.gt_scalar(0.0);
/// assert_eq!(positive.to_vec(), vec![false, true, true]);
/// let y = Tensor::where_cond(&positive, &x, &Tensor::scalar(0.0))?; // relu
/// assert_eq!(y.to_vec(), vec![0.0, 2.0, 0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Mask {
    data: ArrayD<bool>,
}

impl Mask {
    /// A mask of the given shape from row-major booleans.
    ///
    /// # Errors
    /// When `data.len()` is not the product of `shape`, or the shape has more elements than
    /// memory can hold.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let m = Mask::from_vec(vec![true, false, false, true], &[2, 2])?;
    /// assert_eq!(m.shape(), &[2, 2]);
    /// assert!(Mask::from_vec(vec![true], &[2]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_vec(data: Vec<bool>, shape: &[usize]) -> Result<Mask> {
        let expected = checked_numel("Mask::from_vec", shape)?;
        if data.len() != expected {
            return Err(TensorError::shape(
                "Mask::from_vec",
                format!(
                    "shape {shape:?} needs {expected} elements but {} were given",
                    data.len()
                ),
            ));
        }
        let data = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape("Mask::from_vec", e.to_string()))?;
        Ok(Mask { data })
    }

    /// A mask of the given shape with every element `value`.
    ///
    /// # Errors
    /// When the shape has more elements than memory can hold.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::full(&[2], true)?.to_vec(), vec![true, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn full(shape: &[usize], value: bool) -> Result<Mask> {
        let n = checked_numel("Mask::full", shape)?;
        Mask::from_vec(vec![value; n], shape)
    }

    /// Wraps an `ndarray` array of booleans.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let m = Mask::from_array(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[3]), false));
    /// assert_eq!(m.count_true(), 0);
    /// ```
    pub fn from_array(data: ArrayD<bool>) -> Mask {
        Mask { data }
    }

    /// A view of the elements as an `ndarray` array.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::full(&[2, 3], true)?.as_array().len(), 6);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn as_array(&self) -> ArrayViewD<'_, bool> {
        self.data.view()
    }

    /// The size of each dimension.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::full(&[2, 3], false)?.shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The number of dimensions.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::full(&[], true)?.ndim(), 0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::full(&[2, 3], true)?.numel(), 6);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::from_vec(vec![true, false], &[2])?.to_vec(), vec![true, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn to_vec(&self) -> Vec<bool> {
        self.data.iter().copied().collect()
    }

    /// How many elements are true (`mask.sum()` in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert_eq!(Mask::from_vec(vec![true, false, true], &[3])?.count_true(), 2);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn count_true(&self) -> usize {
        self.data.iter().filter(|&&b| b).count()
    }

    /// Whether any element is true (false for an empty mask), like `mask.any()`.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert!(Mask::from_vec(vec![false, true], &[2])?.any());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn any(&self) -> bool {
        self.data.iter().any(|&b| b)
    }

    /// Whether every element is true (true for an empty mask), like `mask.all()`.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// assert!(!Mask::from_vec(vec![false, true], &[2])?.all());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn all(&self) -> bool {
        self.data.iter().all(|&b| b)
    }

    /// `!mask` elementwise, like `torch.logical_not`.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let m = Mask::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(m.logical_not().to_vec(), vec![false, true]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn logical_not(&self) -> Mask {
        Mask {
            data: self.data.mapv(|b| !b),
        }
    }

    /// `self & other` elementwise with broadcasting, like `torch.logical_and`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let a = Mask::from_vec(vec![true, false], &[2, 1])?;
    /// let b = Mask::from_vec(vec![true, true, false], &[3])?;
    /// assert_eq!(a.logical_and(&b)?.to_vec(), vec![true, true, false, false, false, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn logical_and(&self, other: &Mask) -> Result<Mask> {
        self.zip("logical_and", other, |a, b| a && b)
    }

    /// `self | other` elementwise with broadcasting, like `torch.logical_or`.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let a = Mask::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(a.logical_or(&Mask::full(&[], false)?)?.to_vec(), vec![true, false]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn logical_or(&self, other: &Mask) -> Result<Mask> {
        self.zip("logical_or", other, |a, b| a || b)
    }

    /// 1 where true, 0 where false, like `mask.float()` / `mask.double()`.
    ///
    /// ```
    /// use ferrite_tensor::Mask;
    /// let m = Mask::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(m.to_float::<f32>().to_vec(), vec![1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn to_float<T: Float>(&self) -> Tensor<T> {
        Tensor::from_array(self.data.mapv(|b| if b { T::one() } else { T::zero() }))
    }

    /// `f(a, b)` over the broadcast of two masks, errors named `op`.
    fn zip(&self, op: &'static str, other: &Mask, f: impl Fn(bool, bool) -> bool) -> Result<Mask> {
        let shape = checked_broadcast(op, self.shape(), other.shape())?;
        let a = self
            .data
            .broadcast(IxDyn(&shape))
            .expect("checked broadcast");
        let b = other
            .data
            .broadcast(IxDyn(&shape))
            .expect("checked broadcast");
        Ok(Mask {
            data: Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)),
        })
    }
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mask{:?} {:?}", self.shape(), self.data)
    }
}

impl<T: Float> Tensor<T> {
    /// `a` where `condition` is true, else `b`, all three broadcast together, like
    /// `torch.where(condition, a, b)` (`where` is a Rust keyword).
    ///
    /// # Errors
    /// `Shape` when the three shapes cannot be broadcast together.
    ///
    /// ```
    /// use ferrite_tensor::{Mask, Tensor};
    /// let cond = Mask::from_vec(vec![true, false, true], &[3])?;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// let y = Tensor::where_cond(&cond, &a, &Tensor::scalar(0.0))?;
    /// assert_eq!(y.to_vec(), vec![1.0, 0.0, 3.0, 4.0, 0.0, 6.0]);
    /// assert!(Tensor::where_cond(&cond, &a, &Tensor::zeros(&[4])).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    #[doc(alias = "where")]
    pub fn where_cond(condition: &Mask, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
        let shape = broadcast_shapes(condition.shape(), a.shape())
            .and_then(|s| broadcast_shapes(&s, b.shape()))
            .ok_or_else(|| {
                TensorError::shape(
                    "where",
                    format!(
                        "shapes {:?} (condition), {:?} (a) and {:?} (b) cannot be broadcast together",
                        condition.shape(),
                        a.shape(),
                        b.shape()
                    ),
                )
            })?;
        if let (Some(c), Some(x), Some(y)) = (condition.data.as_slice(), a.as_slice(), b.as_slice())
            && condition.shape() == shape.as_slice()
            && a.shape() == shape.as_slice()
            && b.shape() == shape.as_slice()
        {
            let data = c
                .iter()
                .zip(x.iter().zip(y))
                .map(|(&c, (&x, &y))| if c { x } else { y })
                .collect();
            return Tensor::from_vec(data, &shape);
        }
        let c = condition
            .data
            .broadcast(IxDyn(&shape))
            .expect("checked broadcast");
        let x = a.arc().broadcast(IxDyn(&shape)).expect("checked broadcast");
        let y = b.arc().broadcast(IxDyn(&shape)).expect("checked broadcast");
        let out = Zip::from(&c)
            .and(&x)
            .and(&y)
            .map_collect(|&c, &x, &y| if c { x } else { y });
        Ok(Tensor::from_array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_broadcasts_all_three_and_names_them_when_it_cannot() {
        let cond = Mask::from_vec(vec![false, true], &[2, 1]).unwrap();
        let a = Tensor::<f64>::scalar(7.0);
        let b = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]).unwrap();
        let y = Tensor::where_cond(&cond, &a, &b).unwrap();
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_vec(), vec![1.0, 2.0, 3.0, 7.0, 7.0, 7.0]);
        let err = Tensor::where_cond(&cond, &Tensor::<f64>::zeros(&[3, 3]), &b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "where: shapes [2, 1] (condition), [3, 3] (a) and [1, 3] (b) cannot be broadcast together"
        );
        // 0-d condition, empty operands.
        let t = Mask::full(&[], true).unwrap();
        let e = Tensor::<f32>::zeros(&[0, 2]);
        assert_eq!(Tensor::where_cond(&t, &e, &e).unwrap().shape(), &[0, 2]);
    }

    #[test]
    fn masks_refuse_wrong_lengths_and_unbroadcastable_shapes() {
        assert_eq!(
            Mask::from_vec(vec![true], &[2]).unwrap_err().to_string(),
            "Mask::from_vec: shape [2] needs 2 elements but 1 were given"
        );
        let a = Mask::full(&[2], true).unwrap();
        assert_eq!(
            a.logical_or(&Mask::full(&[3], true).unwrap())
                .unwrap_err()
                .to_string(),
            "logical_or: shapes [2] and [3] cannot be broadcast together"
        );
        assert!(!Mask::full(&[], false).unwrap().all());
        assert!(Mask::full(&[0], false).unwrap().all());
    }
}
