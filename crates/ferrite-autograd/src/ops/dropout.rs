//! `dropout` and `dropout2d`: the `ferrite-tensor` kernel draws the mask and multiplies; the
//! backward multiplies the gradient by the same mask.

use std::sync::Arc;

use ferrite_tensor::{Float, Result, Rng, Tensor};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

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
        let by_mask = linear_fn(move |a: &Tensor<T>| a.mul(&mask));
        linear_op(
            ["dropout", "dropout_backward"],
            self,
            value,
            Arc::clone(&by_mask),
            by_mask,
        )
    }

    /// Zeroes whole channels: each `[n, c]` slice of an `[N, C, ...]` input with probability
    /// `p`, the others scaled by `1 / (1 - p)`, drawing one number per channel from `rng`,
    /// like `F.dropout2d(input, p, training=True)`. A 3-D input is `[N, C, L]`, as in
    /// PyTorch today ([`Tensor::dropout2d`](ferrite_tensor::Tensor::dropout2d)). With
    /// `p = 0` the result is `self` itself. Backward: `grad · mask`, the mask broadcast over
    /// each channel.
    ///
    /// # Shapes
    /// `[N, C, ...]` (at least 2 dims); the result has `self`'s shape.
    ///
    /// # Errors
    /// When `p` is not in `[0, 1]`, or the input has fewer than 2 dims.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 4, 3, 3]));
    /// let y = x.dropout2d(0.5, &mut seeded_rng(0))?;
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap(), y.value()); // the mask, channel by channel
    /// assert!(Var::new(Tensor::<f64>::ones(&[3])).dropout2d(0.5, &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn dropout2d(&self, p: f64, rng: &mut Rng) -> Result<Var<T>> {
        if p == 0.0 {
            return Ok(self.clone());
        }
        let (value, mask) = self.value().dropout2d(p, rng)?;
        let by_mask = linear_fn(move |a: &Tensor<T>| a.mul(&mask));
        linear_op(
            ["dropout2d", "dropout2d_backward"],
            self,
            value,
            Arc::clone(&by_mask),
            by_mask,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::{GradcheckOptions, Var, gradcheck};

    use ferrite_tensor::{Tensor, seeded_rng};

    #[test]
    fn dropout2d_gradcheck_with_a_fixed_mask() {
        // The same seed gives the same mask at every evaluation, so the op is a fixed
        // linear map that finite differences can check.
        let x = Tensor::<f64>::randn(&[3, 4, 2, 2], &mut seeded_rng(1));
        let f = |v: &[Var<f64>]| {
            v[0].dropout2d(0.4, &mut seeded_rng(7))?
                .mul(&v[0])?
                .sum_all()
        };
        gradcheck(f, &[x], &GradcheckOptions::default()).unwrap();
    }
}
