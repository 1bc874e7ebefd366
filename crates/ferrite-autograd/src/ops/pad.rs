//! `pad`: `torch.nn.functional.pad`; its backward adds each gradient element back onto the
//! input element it was copied from.

use ferrite_tensor::{Float, PadMode, Result, pad_backward};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

impl<T: Float> Var<T> {
    /// Pads the trailing dimensions like `torch.nn.functional.pad(input, pad, mode, value)`:
    /// `pad` is `[left, right]`, `[left, right, top, bottom]`, ... (last dimension first;
    /// negative entries crop). See [`Tensor::pad`](ferrite_tensor::Tensor::pad) for the modes.
    ///
    /// # Shapes
    /// - `self`: `[*, n_k, ..., n_1]`
    /// - result: each padded dimension `n + before + after`
    ///
    /// # Errors
    /// As [`Tensor::pad`](ferrite_tensor::Tensor::pad): an odd or too long `pad`, a rank the
    /// mode does not support, a negative size, a reflect pad not below its dimension, a
    /// circular pad above it.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{PadMode, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3])?);
    /// let y = x.pad(&[1, 1], PadMode::Reflect)?;
    /// assert_eq!(y.value().to_vec(), vec![2.0, 1.0, 2.0, 3.0, 2.0]);
    /// y.sum_all()?.backward()?;
    /// // The middle element is copied three times.
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 3.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn pad(&self, pad: &[isize], mode: PadMode) -> Result<Var<T>> {
        let x = self.value();
        let value = x.pad(pad, mode)?;
        let input_shape = x.shape().to_vec();
        let pad = pad.to_vec();
        // The constant of a constant pad is no part of the linear map the gradients see.
        let linear_mode = match mode {
            PadMode::Constant(_) => PadMode::Constant(0.0),
            other => other,
        };
        let pads = pad.clone();
        linear_op(
            ["pad", "pad_backward"],
            self,
            value,
            linear_fn(move |a| a.pad(&pads, linear_mode)),
            linear_fn(move |g| pad_backward(g, &input_shape, &pad, mode)),
        )
    }
}
