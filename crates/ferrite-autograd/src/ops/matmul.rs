//! `matmul` and `linear`, with their backward products.

use ferrite_tensor::{Float, Result, Tensor, linear_backward, matmul_backward};

use crate::{Var, VarGrads};

impl<T: Float> Var<T> {
    /// Matrix product like `torch.matmul`: `[k]·[k]` is a 0-d dot product, a 1-D left
    /// operand is a row and a 1-D right operand a column (that dim is removed from the
    /// result), and the batch dims of larger operands broadcast (`[2, 1, 3, 4] @ [5, 4, 2]`
    /// is `[2, 5, 3, 2]`). Backward: `g @ bᵀ` and `aᵀ @ g`, summed over the batch dims an
    /// operand was broadcast along.
    ///
    /// # Errors
    /// When an operand is 0-d, the inner sizes differ, or the batch dims do not broadcast.
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
    /// let v = Var::parameter(Tensor::<f64>::ones(&[3]));
    /// assert_eq!(v.matmul(&v)?.shape(), Vec::<usize>::new()); // the dot product
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn matmul(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let value = a.matmul(&b)?;
        Var::from_op("matmul", value, &[self, other], move |g, grads| {
            let fused = matmul_backward(&a, &b, g, [grads.needs(0), grads.needs(1)])?;
            grads.put(0, fused.a);
            grads.put(1, fused.b);
            Ok(())
        })
        .map(|y| {
            y.with_double_backward(|g, v, grads| matmul_double_backward(g, &v[0], &v[1], grads))
        })
    }

    /// `y = x W^T + b` over the last dim, like `torch.nn.functional.linear`.
    ///
    /// # Shapes
    /// - `self`: `[..., in]` or `[in]`; `weight`: `[out, in]`; `bias`: `[out]`; result
    ///   `[..., out]` (`[out]` for a 1-D input)
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
    /// let one = Var::new(Tensor::<f64>::ones(&[3])); // a single sample, no batch dim
    /// assert_eq!(one.linear(&w, Some(&b))?.shape(), vec![2]);
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
        .map(|y| y.with_double_backward(linear_double_backward))
    }
}

/// matmul's gradients in matmul ops (so differentiable to any order): with 1-D operands
/// promoted as the forward does, `∂a = g·bᵀ` and `∂b = aᵀ·g`, summed over broadcast batch
/// dims.
fn matmul_double_backward<T: Float>(
    g: &Var<T>,
    a: &Var<T>,
    b: &Var<T>,
    grads: &mut VarGrads<T>,
) -> Result<()> {
    let (sa, sb) = (a.shape(), b.shape());
    let a2 = if sa.len() == 1 {
        a.unsqueeze(0)?
    } else {
        a.clone()
    };
    let b2 = if sb.len() == 1 {
        b.unsqueeze(1)?
    } else {
        b.clone()
    };
    let g2 = match (sa.len(), sb.len()) {
        (1, 1) => g.reshape(&[1, 1])?,
        (1, _) => g.unsqueeze(-2)?,
        (_, 1) => g.unsqueeze(-1)?,
        _ => g.clone(),
    };
    let back = |grad: Var<T>, promoted: &Var<T>, shape: &[usize]| -> Result<Var<T>> {
        let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        grad.sum_to(&promoted.shape())?.reshape(&shape)
    };
    grads.set(0, || back(g2.matmul(&b2.transpose(-1, -2)?)?, &a2, &sa))?;
    grads.set(1, || back(a2.transpose(-1, -2)?.matmul(&g2)?, &b2, &sb))
}

/// linear's gradients in matmul ops: `∂x = g·W`, `∂W = gᵀ·x` and `∂b = Σ g` over every
/// leading dim.
fn linear_double_backward<T: Float>(
    g: &Var<T>,
    inputs: &[Var<T>],
    grads: &mut VarGrads<T>,
) -> Result<()> {
    let (x, w) = (&inputs[0], &inputs[1]);
    let (outs, ins) = (w.shape()[0] as isize, w.shape()[1] as isize);
    grads.set(0, || g.matmul(w))?;
    let rows = g.reshape(&[-1, outs])?;
    grads.set(1, || rows.transpose(0, 1)?.matmul(&x.reshape(&[-1, ins])?))?;
    grads.set(2, || rows.sum(&[0], false))
}
