//! 2-D pooling: `max_pool2d` and `adaptive_max_pool2d` (the gradient goes to the stored
//! argmax of each window), `avg_pool2d` and `adaptive_avg_pool2d` (spread over the window),
//! and `max_unpool2d` (gathered back from the unpooled positions).

use std::sync::Arc;

use ferrite_tensor::buffer::Scratch;
use ferrite_tensor::{
    AdaptiveSize, Float, Indices, Pool2dParams, Result, Tensor, Unpool2dParams,
    adaptive_avg_pool2d_backward, avg_pool2d_backward, max_pool2d_backward, max_unpool2d_backward,
};

use crate::Var;
use crate::ops::double::{linear_fn, linear_op};

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
        if !(crate::is_grad_enabled() && self.requires_grad()) {
            // No graph will be recorded (inference): the argmax indices would never be read.
            let value = x.max_pool2d(params)?;
            return Var::from_op("max_pool2d", value, &[self], |_, _| Ok(()));
        }
        let (value, indices) = x.max_pool2d_with_indices(params)?;
        // Recycled when the graph is freed, like the tensors.
        let input_shape = x.shape().to_vec();
        picked(
            ["max_pool2d", "max_pool2d_backward"],
            self,
            value,
            indices,
            input_shape,
        )
    }

    /// 2-D max pooling that also returns where each maximum was, like
    /// `F.max_pool2d(x, ..., return_indices=True)`: the index of an output element is
    /// `ih · W + iw`, the position of its window's (first) maximum in its unpadded `(n, c)`
    /// plane, as [`max_unpool2d`](Var::max_unpool2d) takes it.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - result and indices: `[N, C, H_out, W_out]` (or `[C, H_out, W_out]`)
    ///
    /// # Errors
    /// As [`max_pool2d`](Var::max_pool2d).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Pool2dParams, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 2, 2])?);
    /// let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new(2))?;
    /// assert_eq!((y.value().to_vec(), idx.to_vec()), (vec![4.0], vec![2]));
    /// assert_eq!(idx.shape(), &[1, 1, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_pool2d_with_indices(&self, params: &Pool2dParams) -> Result<(Var<T>, Indices)> {
        let x = self.value();
        let (value, indices) = x.max_pool2d_with_indices(params)?;
        let shown = to_indices(&indices, value.shape())?;
        let input_shape = x.shape().to_vec();
        let names = ["max_pool2d", "max_pool2d_backward"];
        let y = picked(names, self, value, indices, input_shape)?;
        Ok((y, shown))
    }

    /// 2-D adaptive average pooling, like `F.adaptive_avg_pool2d(x, output_size)`: output row
    /// `i` of `oh` averages input rows `⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉`, likewise for columns; a
    /// `None` size keeps the input's. See
    /// [`Tensor::adaptive_avg_pool2d`](ferrite_tensor::Tensor::adaptive_avg_pool2d).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - result: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or has a zero size after the first dim.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 1, 2, 2])?);
    /// let y = x.adaptive_avg_pool2d(1)?; // global average pooling
    /// assert_eq!(y.value().to_vec(), vec![2.5]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_avg_pool2d(&self, output_size: impl Into<AdaptiveSize>) -> Result<Var<T>> {
        let x = self.value();
        let value = x.adaptive_avg_pool2d(output_size)?;
        let input_shape = x.shape().to_vec();
        let n = value.ndim();
        let size = AdaptiveSize([Some(value.shape()[n - 2]), Some(value.shape()[n - 1])]);
        linear_op(
            ["adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"],
            self,
            value,
            linear_fn(move |a| a.adaptive_avg_pool2d(size)),
            linear_fn(move |g| adaptive_avg_pool2d_backward(g, &input_shape)),
        )
    }

    /// 2-D adaptive max pooling, like `F.adaptive_max_pool2d(x, output_size)`: the windows of
    /// [`adaptive_avg_pool2d`](Var::adaptive_avg_pool2d), the gradient of each going to its
    /// first maximum in row-major order.
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - result: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`adaptive_avg_pool2d`](Var::adaptive_avg_pool2d).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 2, 2])?);
    /// let y = x.adaptive_max_pool2d([1, 2])?;
    /// assert_eq!(y.value().to_vec(), vec![4.0, 3.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_max_pool2d(&self, output_size: impl Into<AdaptiveSize>) -> Result<Var<T>> {
        Ok(self.adaptive_max_pool2d_with_indices(output_size)?.0)
    }

    /// [`adaptive_max_pool2d`](Var::adaptive_max_pool2d) that also returns the position
    /// `ih · W + iw` of each maximum in its `(n, c)` plane (`return_indices=True`).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]` or `[C, H, W]`
    /// - result and indices: `[N, C, oh, ow]` (or `[C, oh, ow]`)
    ///
    /// # Errors
    /// As [`adaptive_avg_pool2d`](Var::adaptive_avg_pool2d).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 2, 2])?);
    /// let (y, idx) = x.adaptive_max_pool2d_with_indices(1)?;
    /// assert_eq!((y.value().to_vec(), idx.to_vec()), (vec![4.0], vec![2]));
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn adaptive_max_pool2d_with_indices(
        &self,
        output_size: impl Into<AdaptiveSize>,
    ) -> Result<(Var<T>, Indices)> {
        let x = self.value();
        let (value, indices) = x.adaptive_max_pool2d_with_indices(output_size)?;
        let shown = to_indices(&indices, value.shape())?;
        let input_shape = x.shape().to_vec();
        let names = ["adaptive_max_pool2d", "adaptive_max_pool2d_backward"];
        let y = picked(names, self, value, indices, input_shape)?;
        Ok((y, shown))
    }

    /// 2-D max unpooling, like `F.max_unpool2d(x, indices, kernel_size, stride, padding,
    /// output_size)`: each value is written at the position its index names in a zero
    /// output plane; the gradient of each input element is the output gradient read back
    /// from there. See [`Tensor::max_unpool2d`](ferrite_tensor::Tensor::max_unpool2d).
    ///
    /// # Shapes
    /// - `self`, `indices`: `[N, C, H, W]` or `[C, H, W]`
    /// - result: `[N, C, oh, ow]` (or `[C, oh, ow]`), from [`Unpool2dParams::output_size`]
    ///
    /// # Errors
    /// Everything [`Tensor::max_unpool2d`](ferrite_tensor::Tensor::max_unpool2d) refuses.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Pool2dParams, Tensor, Unpool2dParams};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 3.0], &[1, 2, 2])?);
    /// let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new(2))?;
    /// let z = y.max_unpool2d(&idx, &Unpool2dParams::new(2))?;
    /// assert_eq!(z.value().to_vec(), vec![0.0, 0.0, 4.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn max_unpool2d(&self, indices: &Indices, params: &Unpool2dParams) -> Result<Var<T>> {
        let value = self.value().max_unpool2d(indices, params)?;
        let (indices, picks, params) = (indices.clone(), indices.clone(), *params);
        linear_op(
            ["max_unpool2d", "max_unpool2d_backward"],
            self,
            value,
            linear_fn(move |a| a.max_unpool2d(&picks, &params)),
            linear_fn(move |g| max_unpool2d_backward(g, &indices)),
        )
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
        linear_op(
            ["avg_pool2d", "avg_pool2d_backward"],
            self,
            value,
            linear_fn(move |a| a.avg_pool2d(&params)),
            linear_fn(move |g| avg_pool2d_backward(g, &input_shape, &params)),
        )
    }
}

/// Pooling positions as an [`Indices`] tensor of the output's shape.
/// A max pool: the gradient goes to the chosen element of each window (`indices`, its
/// position in its H×W plane), and the op is linear in the input around any point without
/// ties, so every higher gradient picks or scatters through the same elements.
fn picked<T: Float>(
    names: [&'static str; 2],
    x: &Var<T>,
    value: Tensor<T>,
    indices: Vec<usize>,
    input_shape: Vec<usize>,
) -> Result<Var<T>> {
    // Recycled when the graph is freed, like the tensors.
    let indices = Arc::new(Scratch::from(indices));
    let picks = Arc::clone(&indices);
    let output_shape = value.shape().to_vec();
    let plane: usize = input_shape[input_shape.len() - 2..].iter().product();
    linear_op(
        names,
        x,
        value,
        linear_fn(move |a: &Tensor<T>| {
            let out_plane: usize = output_shape[output_shape.len() - 2..].iter().product();
            let a = a.to_vec();
            let picked: Vec<T> = (picks.iter().enumerate())
                .map(|(j, &i)| a[(j / out_plane.max(1)) * plane + i])
                .collect();
            Tensor::from_vec(picked, &output_shape)
        }),
        linear_fn(move |g| max_pool2d_backward(g, &indices, &input_shape)),
    )
}

fn to_indices(positions: &[usize], shape: &[usize]) -> Result<Indices> {
    Indices::from_vec(positions.iter().map(|&i| i as i64).collect(), shape)
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{Tensor, seeded_rng};

    use super::*;
    use crate::{GradcheckOptions, gradcheck};

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    #[test]
    fn adaptive_pools_gradcheck() {
        for size in [[3, 2], [5, 7], [1, 1]] {
            gradcheck(
                |v: &[Var<f64>]| v[0].adaptive_avg_pool2d(size),
                &[randn(&[2, 2, 4, 5], 1)],
                &GradcheckOptions::default(),
            )
            .unwrap();
            // Random data has no ties: max is differentiable there.
            gradcheck(
                |v: &[Var<f64>]| v[0].adaptive_max_pool2d(size),
                &[randn(&[2, 4, 5], 2)],
                &GradcheckOptions::default(),
            )
            .unwrap();
        }
    }

    #[test]
    fn max_pool_without_a_graph_gives_the_same_values() {
        // The inference path skips the argmax; values (NaN and ties included) must not move.
        let mut data = randn(&[2, 3, 6, 6], 5).to_vec();
        data[7] = f64::NAN;
        (data[20], data[21]) = (1.5, 1.5);
        let x = Tensor::from_vec(data, &[2, 3, 6, 6]).unwrap();
        for p in [
            Pool2dParams::new(2),
            Pool2dParams::new(3).with_stride(2).with_padding(1),
        ] {
            let with_graph = Var::parameter(x.clone()).max_pool2d(&p).unwrap().value();
            let inference = crate::no_grad(|| Var::parameter(x.clone()).max_pool2d(&p));
            let plain = Var::new(x.clone()).max_pool2d(&p).unwrap();
            for y in [inference.unwrap(), plain] {
                assert!(!y.requires_grad());
                let same = y
                    .value()
                    .to_vec()
                    .iter()
                    .zip(with_graph.to_vec())
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same);
            }
        }
    }

    #[test]
    fn dilated_max_pool_with_indices_and_unpool_gradcheck() {
        let p = Pool2dParams::new(2)
            .with_stride(1)
            .with_dilation(2)
            .with_padding(1);
        gradcheck(
            |v: &[Var<f64>]| Ok(v[0].max_pool2d_with_indices(&p)?.0),
            &[randn(&[2, 6, 5], 3)],
            &GradcheckOptions::default(),
        )
        .unwrap();
        let x = Var::new(randn(&[1, 2, 4, 6], 4));
        let (y, idx) = x.max_pool2d_with_indices(&Pool2dParams::new(2)).unwrap();
        gradcheck(
            |v: &[Var<f64>]| v[0].max_unpool2d(&idx, &Unpool2dParams::new(2)),
            &[y.value()],
            &GradcheckOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn avg_pool_with_divisor_override_gradcheck() {
        let p = Pool2dParams::new([3, 2])
            .with_stride(2)
            .with_padding(1)
            .with_ceil_mode(true)
            .with_divisor_override(-5);
        gradcheck(
            |v: &[Var<f64>]| v[0].avg_pool2d(&p),
            &[randn(&[2, 1, 6, 5], 5)],
            &GradcheckOptions::default(),
        )
        .unwrap();
    }
}
