//! `matmul` and `linear`, with their backward products.

use ferrite_tensor::{Float, Result, Tensor, linear_backward};

use crate::Var;

fn as_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}

impl<T: Float> Var<T> {
    /// Matrix product like `torch.matmul` for ranks 1 to 3 (batched, with broadcasting of a
    /// batch of 1 or a 2-D operand). Backward: `g @ b^T` and `a^T @ g`, summed over any
    /// broadcast batch.
    ///
    /// # Errors
    /// When the inner dims differ, the batches cannot be broadcast, or a rank is 0 or above 3.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// let b = Var::parameter(Tensor::<f64>::ones(&[3, 4]));
    /// let c = a.matmul(&b)?;
    /// assert_eq!(c.shape(), vec![2, 4]);
    /// c.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![4.0; 6]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn matmul(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let value = a.matmul(&b)?;
        // Work with matrices: a 1-D left operand is a row, a 1-D right operand a column.
        let a2 = if a.ndim() == 1 {
            a.unsqueeze(0)?
        } else {
            a.clone()
        };
        let b2 = if b.ndim() == 1 {
            b.unsqueeze(1)?
        } else {
            b.clone()
        };
        let full = a2.matmul(&b2)?.shape().to_vec();
        let (sa, sb) = (as_isize(a.shape()), as_isize(b.shape()));
        Var::from_op("matmul", value, &[self, other], move |g, grads| {
            let g2 = g.reshape(&as_isize(&full))?;
            grads.set(0, || {
                let ga = g2.matmul(&b2.transpose(-1, -2)?)?;
                ga.sum_to(a2.shape())?.reshape(&sa)
            })?;
            grads.set(1, || {
                let gb = a2.transpose(-1, -2)?.matmul(&g2)?;
                gb.sum_to(b2.shape())?.reshape(&sb)
            })
        })
    }

    /// `y = x W^T + b` over the last dim, like `torch.nn.functional.linear`.
    ///
    /// # Shapes
    /// - `self`: `[..., in]`; `weight`: `[out, in]`; `bias`: `[out]`; result `[..., out]`
    ///
    /// # Errors
    /// When the input's last dim differs from `in`, or the bias is not `[out]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f64>::ones(&[5, 3]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// let b = Var::parameter(Tensor::<f64>::zeros(&[2]));
    /// let y = x.linear(&w, Some(&b))?;
    /// assert_eq!(y.shape(), vec![5, 2]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![5.0, 5.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn linear(&self, weight: &Var<T>, bias: Option<&Var<T>>) -> Result<Var<T>> {
        let (x, w) = (self.value(), weight.value());
        let b: Option<Tensor<T>> = bias.map(|b| b.value());
        let value = x.linear(&w, b.as_ref())?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Var::from_op("linear", value, &inputs, move |g, grads| {
            let needs = [grads.needs(0), grads.needs(1), grads.needs(2)];
            let fused = linear_backward(&x, &w, g, needs)?;
            grads.put(0, fused.input);
            grads.put(1, fused.weight);
            grads.put(2, fused.bias);
            Ok(())
        })
    }
}
