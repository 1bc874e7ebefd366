//! The fully-connected layer's kernel: `y = x W^T + b`, and its backward.

use ndarray::{Array2, Axis, Ix2};

use crate::gemm::gemm;
use crate::{Float, Result, Tensor, TensorError};

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

/// `x` as a `[rows, in]` matrix.
fn rows<T: Float>(x: &Tensor<T>) -> Array2<T> {
    let features = x.shape()[x.ndim() - 1];
    let n = x.numel() / features.max(1);
    x.contiguous()
        .into_array()
        .into_shape_with_order((n, features))
        .expect("numel matches")
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
        let x = rows(self);
        let w = weight.as_array().into_dimensionality::<Ix2>().expect("2-D");
        let mut y = Array2::<T>::zeros((x.nrows(), w.nrows()));
        if let Some(b) = bias {
            let b = b
                .as_array()
                .into_dimensionality::<ndarray::Ix1>()
                .expect("1-D");
            y.axis_iter_mut(Axis(0)).for_each(|mut row| row.assign(&b));
        }
        gemm(x.view(), w.t(), y.view_mut(), bias.is_some());
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
    let g = rows(grad_output);
    let w = weight.as_array().into_dimensionality::<Ix2>().expect("2-D");
    let input_grad = if needs[0] {
        let mut gx = Array2::<T>::zeros((g.nrows(), w.ncols()));
        gemm(g.view(), w, gx.view_mut(), false);
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
        let x = rows(input);
        let mut gw = Array2::<T>::zeros((w.nrows(), w.ncols()));
        gemm(g.t(), x.view(), gw.view_mut(), false);
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
