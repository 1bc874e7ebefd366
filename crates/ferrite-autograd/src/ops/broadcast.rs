//! `sum_to`, the backward of broadcasting (its own backward is `broadcast_to`): the building
//! block of the double backwards of broadcasting ops.

use ferrite_tensor::{Float, Result};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

impl<T: Float> Var<T> {
    /// Sums over the dimensions that broadcasting added or stretched, giving `shape`
    /// (the reverse of [`broadcast_to`](Var::broadcast_to); `Tensor.sum_to_size` in PyTorch).
    ///
    /// # Errors
    /// When `self` cannot be reduced to `shape` (it is not a broadcast of it).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// let s = x.sum_to(&[1, 3])?;
    /// assert_eq!(s.value().to_vec(), vec![2.0, 2.0, 2.0]);
    /// s.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0; 6]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum_to(&self, shape: &[usize]) -> Result<Var<T>> {
        let input_shape = self.shape();
        if input_shape == shape {
            return Ok(self.clone());
        }
        let value = self.value().sum_to(shape)?;
        let shape = shape.to_vec();
        linear_op(
            ["sum_to", "sum_to_backward"],
            self,
            value,
            linear_fn(move |a| a.sum_to(&shape)),
            linear_fn(move |g| g.broadcast_to(&input_shape)),
        )
    }
}
