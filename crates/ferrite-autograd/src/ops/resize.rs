//! `interpolate`: resizing images like `torch.nn.functional.interpolate` (nearest,
//! bilinear); its backward is the transpose of the resize.

use ferrite_tensor::{Float, InterpolateOptions, Result, interpolate_backward};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

impl<T: Float> Var<T> {
    /// Resizes an `[N, C, H, W]` batch of images like `torch.nn.functional.interpolate`;
    /// see [`Tensor::interpolate`](ferrite_tensor::Tensor::interpolate) for the rules. Backward:
    /// each output gradient element flows back to the input pixels it was read from, with
    /// the same weights.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`
    /// - result: `[N, C, oh, ow]`
    ///
    /// # Errors
    /// When the input is not 4-D; both or neither of `size` and `scale_factor` are set;
    /// `align_corners` is set with nearest; an output size would be 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{InterpolateMode, InterpolateOptions, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[1, 1, 2, 3]));
    /// let opts = InterpolateOptions::default().with_size([4, 9]).with_mode(InterpolateMode::Bilinear);
    /// let y = x.interpolate(&opts)?;
    /// assert_eq!(y.shape(), vec![1, 1, 4, 9]);
    /// y.sum_all()?.backward()?;
    /// // Bilinear weights sum to one per output pixel: 36 outputs spread over 6 inputs.
    /// let g = x.grad().unwrap().to_vec();
    /// assert!((g.iter().sum::<f64>() - 36.0).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn interpolate(&self, options: &InterpolateOptions) -> Result<Var<T>> {
        let x = self.value();
        let value = x.interpolate(options)?;
        let input_shape = x.shape().to_vec();
        let options = *options;
        linear_op(
            ["interpolate", "interpolate_backward"],
            self,
            value,
            linear_fn(move |a| a.interpolate(&options)),
            linear_fn(move |g| interpolate_backward(g, &input_shape, &options)),
        )
    }
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{InterpolateMode, Tensor, seeded_rng};

    use super::*;
    use crate::{GradcheckOptions, gradcheck};

    #[test]
    fn interpolate_gradcheck_in_every_mode() {
        let bilinear = InterpolateOptions::default().with_mode(InterpolateMode::Bilinear);
        let cases = [
            InterpolateOptions::default().with_size([5, 7]),
            InterpolateOptions::default().with_scale_factor([1.5, 0.7]),
            InterpolateOptions::default().with_scale_factor(2.0),
            bilinear.with_size([5, 2]),
            bilinear.with_scale_factor([1.7, 2.3]),
            bilinear.with_size([6, 5]).with_align_corners(true),
            bilinear.with_size([1, 1]).with_align_corners(true),
        ];
        let x = Tensor::<f64>::randn(&[2, 2, 3, 4], &mut seeded_rng(0));
        for o in cases {
            gradcheck(
                |v| v[0].interpolate(&o),
                std::slice::from_ref(&x),
                &GradcheckOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{o:?}: {e}"));
        }
    }
}
