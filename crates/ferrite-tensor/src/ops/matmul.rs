//! Matrix products: 2-D, batched 3-D and mixed ranks, like `torch.matmul` for ranks 1 to 3.

use ndarray::{Array3, Axis, Ix2, Ix3};

use crate::gemm::gemm;
use crate::{Float, Result, Tensor, TensorError, buffer};

impl<T: Float> Tensor<T> {
    /// Matrix product like `torch.matmul` for operands of rank 1, 2 or 3.
    ///
    /// `[n, k] @ [k, m] -> [n, m]`; `[b, n, k] @ [b, k, m] -> [b, n, m]`, where a batch of 1 or a
    /// 2-D operand is broadcast over the other's batch; a 1-D operand is treated as a row
    /// (left) or column (right) vector and that dim is removed from the result.
    ///
    /// # Shapes
    /// - `self`: `[n, k]`, `[b, n, k]` or `[k]`
    /// - `other`: `[k, m]`, `[b, k, m]` or `[k]`
    ///
    /// # Errors
    /// When the inner dims differ, a batch cannot be broadcast, or a rank is 0 or above 3.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::<f32>::from_vec(vec![1.0, 1.0], &[2, 1])?;
    /// assert_eq!(a.matmul(&b)?.to_vec(), vec![3.0, 7.0]);
    /// let batch = Tensor::<f32>::ones(&[5, 3, 2]);
    /// assert_eq!(batch.matmul(&a)?.shape(), &[5, 3, 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let (ra, rb) = (self.ndim(), other.ndim());
        let mismatch = || {
            TensorError::shape(
                "matmul",
                format!(
                    "cannot multiply shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            )
        };
        if ra == 0 || rb == 0 || ra > 3 || rb > 3 {
            return Err(TensorError::invalid(
                "matmul",
                format!(
                    "operands must have 1 to 3 dimensions, found shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        // Promote 1-D operands to matrices, remembering which dims to drop afterwards.
        let a = if ra == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rb == 1 {
            other.unsqueeze(1)?
        } else {
            other.clone()
        };
        let (a3, b3) = (to_batched(&a), to_batched(&b));
        let (ba, n, k) = a3.dim();
        let (bb, k2, m) = b3.dim();
        if k != k2 {
            return Err(mismatch());
        }
        let batch = match (ba, bb) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(mismatch()),
        };
        // Every element is written by its (non-accumulating) product.
        let mut out = Array3::from_shape_vec((batch, n, m), buffer::for_overwrite(batch * n * m))
            .expect("numel matches");
        for (i, mut c) in out.axis_iter_mut(Axis(0)).enumerate() {
            let ai = a3.index_axis(Axis(0), if ba == 1 { 0 } else { i });
            let bi = b3.index_axis(Axis(0), if bb == 1 { 0 } else { i });
            gemm(ai, bi, c.view_mut(), false);
        }
        let mut shape: Vec<usize> = Vec::new();
        if a.ndim() == 3 || b.ndim() == 3 {
            shape.push(batch);
        }
        if ra != 1 {
            shape.push(n);
        }
        if rb != 1 {
            shape.push(m);
        }
        let out = out.into_dyn();
        Tensor::from_array(out).reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
    }
}

/// A view of a 2-D or 3-D tensor as `[batch, rows, cols]`.
fn to_batched<T: Float>(t: &Tensor<T>) -> ndarray::ArrayView3<'_, T> {
    let v = t.as_array();
    if v.ndim() == 2 {
        v.into_dimensionality::<Ix2>()
            .expect("rank 2")
            .insert_axis(Axis(0))
    } else {
        v.into_dimensionality::<Ix3>().expect("rank 3")
    }
}
