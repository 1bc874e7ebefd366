//! `conv2d`: forward by the `ferrite-tensor` kernel (im2col + GEMM), backward by its
//! gradient kernels (`conv2d_backward`), each gradient computed only when its input needs it.

use ferrite_tensor::{Conv2dParams, Float, Result, Tensor, conv2d_backward};

use crate::Var;
use crate::ops::conv_grad::conv2d_double_backward;

impl<T: Float> Var<T> {
    /// 2-D convolution like `torch.nn.functional.conv2d` (zero padding; the `Conv2d` layer
    /// adds `nn.Conv2d`'s other padding modes with [`Var::pad`]).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`
    /// - `weight`: `[O, C / groups, kh, kw]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, H_out, W_out]`, `H_out = floor((H + pt + pb − d·(kh − 1) − 1) / s) + 1`
    ///
    /// # Errors
    /// When the channels disagree with the weight, groups do not divide the channels, the
    /// dilated kernel is larger than the padded input, or a shape has the wrong rank.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Conv2dParams, Tensor};
    /// let x = Var::new(Tensor::<f64>::ones(&[1, 1, 4, 4]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[1, 1, 3, 3]));
    /// let y = x.conv2d(&w, None, &Conv2dParams::default())?;
    /// assert_eq!(y.value().to_vec(), vec![9.0; 4]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![4.0; 9]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv2d(
        &self,
        weight: &Var<T>,
        bias: Option<&Var<T>>,
        params: &Conv2dParams,
    ) -> Result<Var<T>> {
        let (x, w) = (self.value(), weight.value());
        let b: Option<Tensor<T>> = bias.map(|b| b.value());
        let value = x.conv2d(&w, b.as_ref(), params)?;
        let params = *params;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Var::from_op("conv2d", value, &inputs, move |g, grads| {
            // One call for all three: when both the input and the weight need a gradient,
            // `conv2d_backward` computes them in one parallel pass over the images.
            let needs = [grads.needs(0), grads.needs(1), grads.needs(2)];
            let all = conv2d_backward(g, &x, &w, &params, needs)?;
            grads.put(0, all.input);
            grads.put(1, all.weight);
            grads.put(2, all.bias);
            Ok(())
        })
        .map(|y| y.with_double_backward(conv2d_double_backward(params)))
    }
}
