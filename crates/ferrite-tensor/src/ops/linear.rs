//! The fully-connected layer's kernel: `y = x W^T + b`, and its backward.

use ndarray::{Array2, ArrayView2, Axis, Ix2};

use crate::gemm::gemm;
use crate::{Float, Result, Tensor, TensorError, buffer};

/// Gradients of [`Tensor::linear`]; a field is `None` when not requested.
///
/// ```
/// use ferrite_tensor::{linear_backward, Tensor};
/// let x = Tensor::<f64>::ones(&[2, 3]);
/// let w = Tensor::<f64>::ones(&[4, 3]);
/// let g = Tensor::<f64>::ones(&[2, 4]);
/// let grads = linear_backward(&x, &w, &g, [true, true, true])?;
/// assert_eq!(grads.bias.unwrap().to_vec(), vec![2.0; 4]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinearGrads<T: Float> {
    /// Gradient with respect to the input, shape of the input.
    pub input: Option<Tensor<T>>,
    /// Gradient with respect to the weight, `[out, in]`.
    pub weight: Option<Tensor<T>>,
    /// Gradient with respect to the bias, `[out]`.
    pub bias: Option<Tensor<T>>,
}

fn check<T: Float>(input: &Tensor<T>, weight: &Tensor<T>, bias: Option<&Tensor<T>>) -> Result<()> {
    if weight.ndim() != 2 {
        return Err(TensorError::shape(
            "linear",
            format!(
                "expected a 2-D weight [out, in], found shape {:?}",
                weight.shape()
            ),
        ));
    }
    let features = weight.shape()[1];
    if input.ndim() == 0 || input.shape()[input.ndim() - 1] != features {
        return Err(TensorError::shape(
            "linear",
            format!(
                "input has {} features but weight expects {features} (input {:?}, weight {:?})",
                input.shape().last().copied().unwrap_or(0),
                input.shape(),
                weight.shape()
            ),
        ));
    }
    if let Some(b) = bias
        && b.shape() != [weight.shape()[0]]
    {
        return Err(TensorError::shape(
            "linear",
            format!(
                "expected bias of shape [{}], found {:?} (weight {:?})",
                weight.shape()[0],
                b.shape(),
                weight.shape()
            ),
        ));
    }
    Ok(())
}

/// `x` (made contiguous, without a copy when it already is) and its row count (the product
/// of its leading dims, also when the last one is 0), to be seen as a `[rows, in]` matrix
/// with [`matrix`].
fn rows<T: Float>(x: &Tensor<T>) -> (Tensor<T>, usize) {
    // A sub-product of an existing tensor's shape: it cannot overflow.
    let rows = x.shape()[..x.ndim() - 1].iter().product();
    (x.contiguous(), rows)
}

/// The `[rows, len / rows]` row-major matrix view of a contiguous tensor.
fn matrix<T: Float>(x: &Tensor<T>, rows: usize) -> ArrayView2<'_, T> {
    let data = x.as_slice().expect("contiguous");
    let cols = data
        .len()
        .checked_div(rows)
        .unwrap_or_else(|| x.shape()[x.ndim() - 1]);
    ArrayView2::from_shape((rows, cols), data).expect("numel matches")
}

/// A `[rows, cols]` matrix in a recycled buffer, its elements first set by `fill`.
fn new_matrix<T: Float>(rows: usize, cols: usize, fill: impl Fn(&mut [T])) -> Array2<T> {
    let mut data = buffer::for_overwrite(rows * cols);
    fill(&mut data);
    Array2::from_shape_vec((rows, cols), data).expect("numel matches")
}

impl<T: Float> Tensor<T> {
    /// `y = x W^T + b` over the last dim, like `torch.nn.functional.linear`.
    ///
    /// # Shapes
    /// - `self`: `[..., in]`
    /// - `weight`: `[out, in]`
    /// - `bias`: `[out]`
    /// - result: `[..., out]`
    ///
    /// # Errors
    /// When the last dim of the input differs from `in`, or the bias is not `[out]`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f32>::ones(&[2, 3]);
    /// let w = Tensor::<f32>::ones(&[4, 3]);
    /// let b = Tensor::<f32>::full(&[4], 0.5);
    /// let y = x.linear(&w, Some(&b))?;
    /// assert_eq!(y.shape(), &[2, 4]);
    /// assert_eq!(y.to_vec()[0], 3.5);
    /// assert_eq!(
    ///     Tensor::<f32>::ones(&[2, 5]).linear(&w, None).unwrap_err().to_string(),
    ///     "linear: input has 5 features but weight expects 3 (input [2, 5], weight [4, 3])"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn linear(&self, weight: &Tensor<T>, bias: Option<&Tensor<T>>) -> Result<Tensor<T>> {
        check(self, weight, bias)?;
        let (x, n) = rows(self);
        let x = matrix(&x, n);
        let w = weight.as_array().into_dimensionality::<Ix2>().expect("2-D");
        let b = bias.map(Tensor::contiguous);
        // The bias is the starting value of each row; the product is added onto it.
        let mut y = new_matrix(x.nrows(), w.nrows(), |y| match &b {
            Some(b) => {
                let b = b.as_slice().expect("contiguous");
                y.chunks_exact_mut(b.len().max(1))
                    .for_each(|row| row.copy_from_slice(b));
            }
            None => y.fill(T::zero()),
        });
        gemm(x, w.t(), y.view_mut(), bias.is_some());
        let mut shape = self.shape().to_vec();
        *shape.last_mut().expect("checked rank") = w.nrows();
        Tensor::from_array(y.into_dyn())
            .reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
    }
}

/// Gradients of `linear` given `grad_output` `[..., out]`. `needs` = `[input, weight, bias]`.
///
/// # Errors
/// When the shapes are inconsistent with a `linear` of `input` and `weight`.
///
/// ```
/// use ferrite_tensor::{linear_backward, Tensor};
/// let x = Tensor::<f64>::ones(&[2, 3]);
/// let w = Tensor::<f64>::full(&[1, 3], 2.0);
/// let g = Tensor::<f64>::ones(&[2, 1]);
/// let grads = linear_backward(&x, &w, &g, [true, false, false])?;
/// assert_eq!(grads.input.unwrap().to_vec(), vec![2.0; 6]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn linear_backward<T: Float>(
    input: &Tensor<T>,
    weight: &Tensor<T>,
    grad_output: &Tensor<T>,
    needs: [bool; 3],
) -> Result<LinearGrads<T>> {
    check(input, weight, None)?;
    let mut expected = input.shape().to_vec();
    *expected.last_mut().expect("checked rank") = weight.shape()[0];
    if grad_output.shape() != expected.as_slice() {
        return Err(TensorError::shape(
            "linear_backward",
            format!(
                "expected grad_output of shape {expected:?}, found {:?}",
                grad_output.shape()
            ),
        ));
    }
    let (g, n) = rows(grad_output);
    let g = matrix(&g, n);
    let w = weight.as_array().into_dimensionality::<Ix2>().expect("2-D");
    let input_grad = if needs[0] {
        let mut gx = new_matrix(g.nrows(), w.ncols(), |_| ());
        gemm(g, w, gx.view_mut(), false);
        Some(
            Tensor::from_array(gx.into_dyn()).reshape(
                &input
                    .shape()
                    .iter()
                    .map(|&d| d as isize)
                    .collect::<Vec<_>>(),
            )?,
        )
    } else {
        None
    };
    let weight_grad = if needs[1] {
        let (x, n) = rows(input);
        let mut gw = new_matrix(w.nrows(), w.ncols(), |_| ());
        gemm(g.t(), matrix(&x, n), gw.view_mut(), false);
        Some(Tensor::from_array(gw.into_dyn()))
    } else {
        None
    };
    let bias_grad = if needs[2] {
        Some(Tensor::from_array(g.sum_axis(Axis(0)).into_dyn()))
    } else {
        None
    };
    Ok(LinearGrads {
        input: input_grad,
        weight: weight_grad,
        bias: bias_grad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_in_features_give_the_bias_and_zero_gradients() {
        // As torch.nn.functional.linear: [5, 0] x [3, 0]^T + b is b on every row.
        let x = Tensor::<f64>::zeros(&[5, 0]);
        let w = Tensor::<f64>::zeros(&[3, 0]);
        let b = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap();
        let y = x.linear(&w, Some(&b)).unwrap();
        assert_eq!(y.shape(), &[5, 3]);
        assert_eq!(y.to_vec(), [1.0, 2.0, 3.0].repeat(5));
        let y = x.linear(&w, None).unwrap();
        assert_eq!(y.to_vec(), vec![0.0; 15]);
        // Leading dims are kept: [2, 4, 0] -> [2, 4, 3].
        let y = Tensor::<f64>::zeros(&[2, 4, 0])
            .linear(&w, Some(&b))
            .unwrap();
        assert_eq!(y.shape(), &[2, 4, 3]);

        let g = Tensor::<f64>::ones(&[5, 3]);
        let grads = linear_backward(&x, &w, &g, [true, true, true]).unwrap();
        assert_eq!(grads.input.unwrap().shape(), &[5, 0]);
        assert_eq!(grads.weight.unwrap().shape(), &[3, 0]);
        assert_eq!(grads.bias.unwrap().to_vec(), vec![5.0; 3]);
    }

    #[test]
    fn an_empty_batch_gives_an_empty_output() {
        let w = Tensor::<f32>::ones(&[3, 2]);
        let y = Tensor::<f32>::zeros(&[0, 2]).linear(&w, None).unwrap();
        assert_eq!(y.shape(), &[0, 3]);
        let grads = linear_backward(
            &Tensor::zeros(&[0, 2]),
            &w,
            &Tensor::zeros(&[0, 3]),
            [true; 3],
        )
        .unwrap();
        assert_eq!(grads.input.unwrap().shape(), &[0, 2]);
        assert_eq!(grads.weight.unwrap().to_vec(), vec![0.0; 6]);
        assert_eq!(grads.bias.unwrap().to_vec(), vec![0.0; 3]);
    }
}
