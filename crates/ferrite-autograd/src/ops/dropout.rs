//! `dropout`: the `ferrite-tensor` kernel draws the mask and multiplies; the backward
//! multiplies the gradient by the same mask.

use ferrite_tensor::{Float, Result, Rng};

use crate::Var;

impl<T: Float> Var<T> {
    /// Zeroes each element with probability `p` and scales the survivors by `1 / (1 - p)`,
    /// drawing the mask from `rng`, like `F.dropout(input, p, training=True)`. With `p = 0`
    /// the result is `self` itself (no draw), as in PyTorch; for evaluation mode, do not call
    /// it (the `Dropout` layer does so). Backward: `grad · mask`.
    ///
    /// # Shapes
    /// Any shape; the result has `self`'s shape.
    ///
    /// # Errors
    /// When `p` is not in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[100]));
    /// let y = x.dropout(0.5, &mut seeded_rng(0))?;
    /// y.sum_all()?.backward()?;
    /// // The gradient is the mask: 2 where the element was kept, 0 where it was dropped.
    /// assert_eq!(x.grad().unwrap(), y.value());
    /// assert!(x.dropout(2.0, &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn dropout(&self, p: f64, rng: &mut Rng) -> Result<Var<T>> {
        if p == 0.0 {
            return Ok(self.clone());
        }
        let (value, mask) = self.value().dropout(p, rng)?;
        Var::from_op("dropout", value, &[self], move |g, grads| {
            grads.set(0, || g.mul(&mask))
        })
    }
}
