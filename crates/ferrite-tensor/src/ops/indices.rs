//! [`Indices`], an integer tensor: class targets, `argmax`'s result, `gather`/`index_select`
//! indices and pooling indices (PyTorch's `torch.long` tensors, without arithmetic).

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::{Result, TensorError, checked_numel};

/// An n-dimensional array of `i64`, like a `torch.long` tensor: what [`Tensor::argmax`]
/// returns, what `gather`, `index_select` and the classification losses take, and what
/// `max_pool2d` with `return_indices` gives back. Values are signed because PyTorch's are
/// (`ignore_index = -100`); each op checks the range it needs and reports the first index
/// outside it. It has no arithmetic: it holds positions, not numbers.
///
/// [`Tensor::argmax`]: crate::Tensor::argmax
///
/// ```
/// use ferrite_tensor::{Indices, Tensor};
/// let labels = Indices::from_classes(&[3, 0, 7]);
/// assert_eq!(labels.shape(), &[3]);
/// let x = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 4.0, 0.0, 4.0], &[2, 3])?;
/// assert_eq!(x.argmax(1, false)?.to_vec(), vec![1, 0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Indices {
    data: ArrayD<i64>,
}

impl Indices {
    /// Indices of the given shape from row-major values.
    ///
    /// # Errors
    /// When `data.len()` is not the product of `shape`, or the shape has more elements than
    /// memory can hold.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// let i = Indices::from_vec(vec![0, 2, 1, -100], &[2, 2])?;
    /// assert_eq!(i.shape(), &[2, 2]);
    /// assert!(Indices::from_vec(vec![1], &[2]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_vec(data: Vec<i64>, shape: &[usize]) -> Result<Indices> {
        let expected = checked_numel("Indices::from_vec", shape)?;
        if data.len() != expected {
            return Err(TensorError::shape(
                "Indices::from_vec",
                format!(
                    "shape {shape:?} needs {expected} elements but {} were given",
                    data.len()
                ),
            ));
        }
        let data = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape("Indices::from_vec", e.to_string()))?;
        Ok(Indices { data })
    }

    /// A 1-D tensor of class indices, e.g. a batch of labels (`torch.tensor(labels)`).
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::from_classes(&[4, 1]).to_vec(), vec![4, 1]);
    /// ```
    pub fn from_classes(classes: &[usize]) -> Indices {
        let data = classes.iter().map(|&c| c as i64).collect::<Vec<_>>();
        Indices {
            data: ArrayD::from_shape_vec(IxDyn(&[classes.len()]), data)
                .expect("a 1-D array holds its own length"),
        }
    }

    /// A 0-d index (`torch.tensor(i)`).
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::scalar(2).shape(), &[] as &[usize]);
    /// ```
    pub fn scalar(value: i64) -> Indices {
        Indices {
            data: ArrayD::from_elem(IxDyn(&[]), value),
        }
    }

    /// Wraps an `ndarray` array of `i64`.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// let i = Indices::from_array(ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 2])));
    /// assert_eq!(i.numel(), 4);
    /// ```
    pub fn from_array(data: ArrayD<i64>) -> Indices {
        Indices { data }
    }

    /// A view of the values as an `ndarray` array.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::from_classes(&[1, 2]).as_array().len(), 2);
    /// ```
    pub fn as_array(&self) -> ArrayViewD<'_, i64> {
        self.data.view()
    }

    /// The size of each dimension.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::from_vec(vec![0; 6], &[2, 3])?.shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The number of dimensions.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::scalar(0).ndim(), 0);
    /// ```
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::from_classes(&[1, 2, 3]).numel(), 3);
    /// ```
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The values in row-major order.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// assert_eq!(Indices::from_vec(vec![5, -1], &[2])?.to_vec(), vec![5, -1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn to_vec(&self) -> Vec<i64> {
        self.data.iter().copied().collect()
    }

    /// The values in row-major order as `usize`, each checked to lie in `0..bound`.
    /// `op` names the operation in the error.
    ///
    /// # Errors
    /// At the first value outside `0..bound`, naming it, its position and the bound.
    ///
    /// ```
    /// use ferrite_tensor::Indices;
    /// let i = Indices::from_classes(&[2, 0]);
    /// assert_eq!(i.to_checked_vec("gather", 3)?, vec![2, 0]);
    /// assert!(i.to_checked_vec("gather", 2).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn to_checked_vec(&self, op: &'static str, bound: usize) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(self.numel());
        for (position, &v) in self.data.iter().enumerate() {
            match usize::try_from(v) {
                Ok(u) if u < bound => out.push(u),
                _ => {
                    return Err(TensorError::invalid(
                        op,
                        format!(
                            "index {v} at position {position} is out of range: expected 0 <= index < {bound}"
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_values_report_the_first_bad_index() {
        let i = Indices::from_vec(vec![0, 3, -1], &[3]).unwrap();
        let e = i.to_checked_vec("index_select", 3).unwrap_err().to_string();
        assert!(
            e.contains("index_select") && e.contains("index 3 at position 1"),
            "{e}"
        );
        assert!(
            i.to_checked_vec("x", 4)
                .unwrap_err()
                .to_string()
                .contains("-1")
        );
    }

    #[test]
    fn from_classes_is_one_dimensional() {
        let i = Indices::from_classes(&[]);
        assert_eq!(i.shape(), &[0]);
        assert_eq!(Indices::from_classes(&[7]).to_vec(), vec![7]);
    }
}
