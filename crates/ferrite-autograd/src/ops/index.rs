//! `gather` and `index_select`: values picked by an [`Indices`] tensor. Their backward
//! scatters the gradient back, adding where an element was picked more than once.

use ferrite_tensor::{Float, Indices, Result, gather_backward, index_select_backward};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

impl<T: Float> Var<T> {
    /// Values along `dim` picked by `index`, like `torch.gather(x, dim, index)`: for
    /// `dim = 1`, `out[i][j] = x[i][index[i][j]]`. The result has the index's shape; the
    /// index has the input's rank and is no larger in the other dims. Backward: each
    /// gradient is added at the position it was gathered from.
    ///
    /// # Errors
    /// When `dim` is out of range, the ranks differ, the index is larger than the input in
    /// another dim, or an index is outside `0..x.shape()[dim]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Indices, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
    /// let picked = x.gather(1, &Indices::from_vec(vec![1, 1, 0], &[1, 3])?)?;
    /// assert_eq!(picked.value().to_vec(), vec![2.0, 2.0, 1.0]);
    /// picked.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 2.0, 0.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gather(&self, dim: isize, index: &Indices) -> Result<Var<T>> {
        let value = self.value().gather(dim, index)?;
        let (index, shape) = (index.clone(), self.shape());
        let picks = index.clone();
        linear_op(
            ["gather", "gather_backward"],
            self,
            value,
            linear_fn(move |a| a.gather(dim, &picks)),
            linear_fn(move |g| gather_backward(g, &index, dim, &shape)),
        )
    }

    /// The slices of `dim` listed in a 1-D or 0-d `index`, like
    /// `torch.index_select(x, dim, index)`. Backward: each slice's gradient is added back
    /// to the slice it came from.
    ///
    /// # Errors
    /// When `dim` is out of range, the index has more than one dimension, or an index is
    /// outside `0..x.shape()[dim]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Indices, Tensor};
    /// let embeddings = Var::parameter(Tensor::<f64>::ones(&[5, 3]));
    /// let rows = embeddings.index_select(0, &Indices::from_classes(&[4, 0, 4]))?;
    /// assert_eq!(rows.shape(), vec![3, 3]);
    /// rows.sum_all()?.backward()?;
    /// assert_eq!(embeddings.grad().unwrap().to_vec()[12..], [2.0, 2.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn index_select(&self, dim: isize, index: &Indices) -> Result<Var<T>> {
        let value = self.value().index_select(dim, index)?;
        let (index, shape) = (index.clone(), self.shape());
        let picks = index.clone();
        linear_op(
            ["index_select", "index_select_backward"],
            self,
            value,
            linear_fn(move |a| a.index_select(dim, &picks)),
            linear_fn(move |g| index_select_backward(g, &index, dim, &shape)),
        )
    }
}
