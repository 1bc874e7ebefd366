//! conv2d's two gradients as differentiable ops, which make conv2d's double backward: each
//! is bilinear, so its own gradients are again a conv2d or the other gradient kernel.
//! From `⟨g, conv2d(x, w)⟩ = ⟨input_grad(g, w), x⟩ = ⟨weight_grad(g, x), w⟩`:
//! `∂⟨a, input_grad(g, w)⟩ = (conv2d(a, w), weight_grad(g, a))` and
//! `∂⟨a, weight_grad(g, x)⟩ = (conv2d(x, a), input_grad(g, a))`; the same identities, in
//! `Var` ops, make the two kernels differentiable again, so conv2d is to any order.

use ferrite_tensor::{Conv2dParams, Float, Result, conv2d_input_grad, conv2d_weight_grad};

use crate::{Var, VarGrads};

impl<T: Float> Var<T> {
    /// The gradient of `conv2d` with respect to its input, for `grad_output` and `weight`,
    /// as an op that can be differentiated again (with respect to both).
    ///
    /// # Errors
    /// When the shapes do not fit `input_shape`, the weight and `params` (as `conv2d`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Conv2dParams, Tensor};
    /// let g = Var::parameter(Tensor::<f64>::ones(&[1, 1, 2, 2]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[1, 1, 2, 2]));
    /// let gx = Var::conv2d_input_grad(&g, &w, &[1, 1, 3, 3], &Conv2dParams::default())?;
    /// assert_eq!(gx.value().to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv2d_input_grad(
        grad_output: &Var<T>,
        weight: &Var<T>,
        input_shape: &[usize],
        params: &Conv2dParams,
    ) -> Result<Var<T>> {
        let (g, w) = (grad_output.value(), weight.value());
        let value = conv2d_input_grad(&g, &w, input_shape, params)?;
        let params = *params;
        Var::from_op(
            "conv2d_input_grad",
            value,
            &[grad_output, weight],
            move |a, grads| {
                grads.set(0, || a.conv2d(&w, None, &params))?;
                grads.set(1, || conv2d_weight_grad(&g, a, w.shape(), &params))
            },
        )
        .map(|y| {
            y.with_double_backward(move |a, v, grads| {
                grads.set(0, || a.conv2d(&v[1], None, &params))?;
                grads.set(1, || {
                    Var::conv2d_weight_grad(&v[0], a, &v[1].shape(), &params)
                })
            })
        })
    }

    /// The gradient of `conv2d` with respect to its weight, for `grad_output` and `input`,
    /// as an op that can be differentiated again (with respect to both).
    ///
    /// # Errors
    /// When the shapes do not fit `weight_shape` and `params` (as `conv2d`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Conv2dParams, Tensor};
    /// let g = Var::parameter(Tensor::<f64>::ones(&[1, 1, 2, 2]));
    /// let x = Var::parameter(Tensor::<f64>::ones(&[1, 1, 3, 3]));
    /// let gw = Var::conv2d_weight_grad(&g, &x, &[1, 1, 2, 2], &Conv2dParams::default())?;
    /// assert_eq!(gw.value().to_vec(), vec![4.0; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv2d_weight_grad(
        grad_output: &Var<T>,
        input: &Var<T>,
        weight_shape: &[usize],
        params: &Conv2dParams,
    ) -> Result<Var<T>> {
        let (g, x) = (grad_output.value(), input.value());
        let value = conv2d_weight_grad(&g, &x, weight_shape, params)?;
        let params = *params;
        Var::from_op(
            "conv2d_weight_grad",
            value,
            &[grad_output, input],
            move |a, grads| {
                grads.set(0, || x.conv2d(a, None, &params))?;
                grads.set(1, || conv2d_input_grad(&g, a, x.shape(), &params))
            },
        )
        .map(|y| {
            y.with_double_backward(move |a, v, grads| {
                grads.set(0, || v[1].conv2d(a, None, &params))?;
                grads.set(1, || {
                    Var::conv2d_input_grad(&v[0], a, &v[1].shape(), &params)
                })
            })
        })
    }
}

/// conv2d's double backward: its three gradients (input, weight, bias) as `Var`s.
pub(crate) fn conv2d_double_backward<T: Float>(
    params: Conv2dParams,
) -> impl Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync + 'static {
    move |g, inputs, grads| {
        let (x, w) = (&inputs[0], &inputs[1]);
        grads.set(0, || Var::conv2d_input_grad(g, w, &x.shape(), &params))?;
        grads.set(1, || Var::conv2d_weight_grad(g, x, &w.shape(), &params))?;
        // Over the images and positions: [N, O, H, W], or [O, H, W] unbatched.
        let dims: &[isize] = if g.shape().len() == 3 {
            &[1, 2]
        } else {
            &[0, 2, 3]
        };
        grads.set(2, || g.sum(dims, false))
    }
}
