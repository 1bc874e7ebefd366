//! `max_pool2d` and `avg_pool2d`: the max gradient goes to the stored argmax of each window,
//! the average gradient is spread over the window.

use ferrite_tensor::buffer::Scratch;
use ferrite_tensor::{Float, Pool2dParams, Result, avg_pool2d_backward, max_pool2d_backward};

use crate::Var;

impl<T: Float> Var<T> {
    /// 2-D max pooling like `torch.nn.functional.max_pool2d`. The gradient of each window
    /// goes to its first maximum in row-major order.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` (or `[C, H, W]`)
    /// - result: `[N, C, H_out, W_out]`
    ///
    /// # Errors
    /// When the rank is wrong, the window does not fit, or the padding exceeds half the kernel.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 1, 2, 2])?);
    /// let y = x.max_pool2d(&Pool2dParams::new([2, 2]))?;
    /// assert_eq!(y.value().to_vec(), vec![4.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_pool2d(&self, params: &Pool2dParams) -> Result<Var<T>> {
        let x = self.value();
        let (value, indices) = x.max_pool2d_with_indices(params)?;
        // Recycled when the graph is freed, like the tensors.
        let indices = Scratch::from(indices);
        let input_shape = x.shape().to_vec();
        Var::from_op("max_pool2d", value, &[self], move |g, grads| {
            grads.set(0, || max_pool2d_backward(g, &indices, &input_shape))
        })
    }

    /// 2-D average pooling like `torch.nn.functional.avg_pool2d`.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` (or `[C, H, W]`)
    /// - result: `[N, C, H_out, W_out]`
    ///
    /// # Errors
    /// When the rank is wrong, the window does not fit, or the padding exceeds half the kernel.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 1, 2, 2])?);
    /// let y = x.avg_pool2d(&Pool2dParams::new([2, 2]))?;
    /// assert_eq!(y.value().to_vec(), vec![2.5]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn avg_pool2d(&self, params: &Pool2dParams) -> Result<Var<T>> {
        let x = self.value();
        let value = x.avg_pool2d(params)?;
        let input_shape = x.shape().to_vec();
        let params = *params;
        Var::from_op("avg_pool2d", value, &[self], move |g, grads| {
            grads.set(0, || avg_pool2d_backward(g, &input_shape, &params))
        })
    }
}
