//! `expand` and `repeat`, composed of `reshape` and `broadcast_to`: their gradients (and
//! gradients of gradients) come from those ops, so there is no backward to write here.

use ferrite_tensor::ops::repeat::{expand_shape, repeat_plan};
use ferrite_tensor::{Float, Result};

use crate::Var;

fn as_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}

impl<T: Float> Var<T> {
    /// Expands size-1 dims (and adds leading dims), like `torch.Tensor.expand`; `-1` keeps a
    /// dim. Backward sums over the expanded dims.
    ///
    /// # Errors
    /// As [`Tensor::expand`](ferrite_tensor::Tensor::expand).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 1]));
    /// x.expand(&[3, -1, 4])?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![12.0, 12.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn expand(&self, sizes: &[isize]) -> Result<Var<T>> {
        self.broadcast_to(&expand_shape(&self.shape(), sizes)?)
    }

    /// Tiles `repeats[i]` times along dim `i`, like `torch.Tensor.repeat`. Backward sums
    /// the tiles.
    ///
    /// # Errors
    /// As [`Tensor::repeat`](ferrite_tensor::Tensor::repeat).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
    /// let y = x.repeat(&[3])?;
    /// assert_eq!(y.value().to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 3.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn repeat(&self, repeats: &[usize]) -> Result<Var<T>> {
        let plan = repeat_plan(&self.shape(), repeats)?;
        self.reshape(&as_isize(&plan.interleaved))?
            .broadcast_to(&plan.tiled)?
            .reshape(&as_isize(&plan.output))
    }
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{Tensor, seeded_rng};

    use crate::{GradcheckOptions, Var, gradcheck};

    #[test]
    fn expand_and_repeat_pass_gradcheck() {
        let x = Tensor::<f64>::randn(&[2, 1, 3], &mut seeded_rng(3));
        let o = GradcheckOptions::default();
        gradcheck(
            |v: &[Var<f64>]| v[0].expand(&[2, 2, 4, -1]),
            std::slice::from_ref(&x),
            &o,
        )
        .unwrap();
        gradcheck(
            |v: &[Var<f64>]| v[0].repeat(&[2, 1, 3, 2]),
            std::slice::from_ref(&x),
            &o,
        )
        .unwrap();
        gradcheck(|v: &[Var<f64>]| v[0].repeat(&[1, 1, 1]), &[x], &o).unwrap();
    }
}
