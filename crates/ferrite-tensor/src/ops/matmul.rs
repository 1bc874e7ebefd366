//! Matrix products with `torch.matmul`'s semantics (1-D operands, batch dims broadcast),
//! and their backward. Every product is a call of [`gemm()`]: a batch whose right operand is
//! a plain matrix is folded into one large product, other batches are one product per
//! matrix (spread over threads when there are many).

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::gemm::{gemm, gemm_serial};
use crate::{Float, Result, Tensor, TensorError, broadcast_shapes, buffer};

/// The shapes of one `torch.matmul`: operands seen as stacks of matrices (a 1-D `a` as
/// `[1, k]`, a 1-D `b` as `[k, 1]`), their batch dims broadcast together.
struct Plan {
    n: usize,
    k: usize,
    m: usize,
    /// The broadcast batch shape.
    batch: Vec<usize>,
    /// For each batch dim, how many matrices of `a` (of `b`) one step moves over: 0 where
    /// that operand is broadcast.
    a_strides: Vec<usize>,
    b_strides: Vec<usize>,
    /// The number of matrices each operand holds.
    a_count: usize,
    b_count: usize,
    /// Whether `b` is one matrix (no batch dims), so the batch folds into `a`'s rows.
    foldable: bool,
    out_shape: Vec<usize>,
}

/// How many matrices of an operand with batch dims `own` one step along each dim of the
/// broadcast `batch` moves over (0 for a broadcast or missing dim).
fn batch_strides(own: &[usize], batch: &[usize]) -> Vec<usize> {
    let lead = batch.len() - own.len();
    let mut strides = vec![0; batch.len()];
    let mut step = 1;
    for j in (0..own.len()).rev() {
        if own[j] != 1 {
            strides[lead + j] = step;
        }
        step *= own[j];
    }
    strides
}

impl Plan {
    fn new(a: &[usize], b: &[usize]) -> Result<Plan> {
        if a.is_empty() || b.is_empty() {
            return Err(TensorError::invalid(
                "matmul",
                format!("both operands need at least one dimension, found shapes {a:?} and {b:?}"),
            ));
        }
        let a2: Vec<usize> = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b2: Vec<usize> = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        let (n, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, m) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return Err(TensorError::shape(
                "matmul",
                format!("cannot multiply shapes {a:?} and {b:?}: inner sizes {k} and {k2} differ"),
            ));
        }
        let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
        let batch = broadcast_shapes(ab, bb).ok_or_else(|| {
            TensorError::shape(
                "matmul",
                format!(
                    "cannot multiply shapes {a:?} and {b:?}: batch dims {ab:?} and {bb:?} cannot be broadcast together"
                ),
            )
        })?;
        let mut out_shape = batch.clone();
        if a.len() > 1 {
            out_shape.push(n);
        }
        if b.len() > 1 {
            out_shape.push(m);
        }
        Ok(Plan {
            n,
            k,
            m,
            a_strides: batch_strides(ab, &batch),
            b_strides: batch_strides(bb, &batch),
            a_count: ab.iter().product(),
            b_count: bb.iter().product(),
            foldable: bb.is_empty(),
            batch,
            out_shape,
        })
    }

    fn batch_count(&self) -> usize {
        self.batch.iter().product()
    }

    /// The matrix of each operand that batch entry `i` (row-major) uses.
    fn operands_of(&self, i: usize) -> (usize, usize) {
        let (mut rest, mut ia, mut ib) = (i, 0, 0);
        for d in (0..self.batch.len()).rev() {
            let c = rest % self.batch[d];
            rest /= self.batch[d];
            ia += c * self.a_strides[d];
            ib += c * self.b_strides[d];
        }
        (ia, ib)
    }
}

/// One operand of a batched product: `count` row-major `rows x cols` matrices, used
/// transposed when `t`.
#[derive(Clone, Copy)]
struct Stack<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    t: bool,
}

impl<'a, T: Float> Stack<'a, T> {
    /// The (rows, cols) of each matrix as used (after the transpose).
    fn dim(&self) -> (usize, usize) {
        if self.t {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    fn matrix(&self, i: usize) -> ArrayView2<'a, T> {
        let len = self.rows * self.cols;
        let v = ArrayView2::from_shape((self.rows, self.cols), &self.data[i * len..(i + 1) * len])
            .expect("slice holds the matrix");
        if self.t { v.reversed_axes() } else { v }
    }
}

/// A zeroed buffer when the product accumulates into it or has an empty inner dim (then
/// gemm writes nothing), otherwise one it will overwrite. Returns it with the `accumulate`
/// flag to pass to gemm.
fn output_buffer<T: Float>(len: usize, inner: usize, accumulate: bool) -> (Vec<T>, bool) {
    if accumulate || inner == 0 {
        (buffer::zeros(len), true)
    } else {
        (buffer::for_overwrite(len), false)
    }
}

/// `c[pick_c(i)] (+)= a[pick_a(i)] @ b[pick_b(i)]` for every batch entry `i`, with
/// `pick(i)` giving the matrices each of the three uses. Without accumulation every `c`
/// matrix is written once, so many small products run in parallel, one per thread.
fn batched<T: Float>(
    a: Stack<'_, T>,
    b: Stack<'_, T>,
    c: &mut [T],
    count: usize,
    pick: impl Fn(usize) -> [usize; 3] + Sync,
    accumulate: bool,
) {
    let (rows, cols) = (a.dim().0, b.dim().1);
    let len = rows * cols;
    if len == 0 || count == 0 {
        return;
    }
    let product = |i: usize, ci: &mut [T], serial: bool| {
        let [ia, ib, _] = pick(i);
        let ci = ArrayViewMut2::from_shape((rows, cols), ci).expect("slice holds the matrix");
        if serial {
            gemm_serial(a.matrix(ia), b.matrix(ib), ci, accumulate);
        } else {
            gemm(a.matrix(ia), b.matrix(ib), ci, accumulate);
        }
    };
    // Below this many multiply-adds a thread's start-up costs more than the products.
    const PARALLEL_WORK: usize = 1 << 15;
    let work = count * len * a.dim().1;
    if !accumulate && count > 1 && count >= rayon::current_num_threads() && work >= PARALLEL_WORK {
        // Without accumulation the i-th product writes the i-th matrix of `c`.
        c.par_chunks_mut(len).enumerate().for_each(|(i, ci)| {
            debug_assert_eq!(pick(i)[2], i);
            product(i, ci, true)
        });
    } else {
        for i in 0..count {
            let ic = pick(i)[2];
            product(i, &mut c[ic * len..(ic + 1) * len], false);
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Matrix product like `torch.matmul`.
    ///
    /// - `[k] @ [k]` is the dot product, a 0-d result;
    /// - `[n, k] @ [k, m]` is `[n, m]`;
    /// - a 1-D left operand is a row `[1, k]`, a 1-D right operand a column `[k, 1]`, and
    ///   that dim is removed from the result;
    /// - operands with more dims are stacks of matrices whose batch dims (all but the last
    ///   two) broadcast: `[2, 1, 3, 4] @ [5, 4, 2]` is `[2, 5, 3, 2]`.
    ///
    /// # Errors
    /// When an operand is 0-d, the inner sizes differ, or the batch dims do not broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::<f32>::from_vec(vec![1.0, 1.0], &[2, 1])?;
    /// assert_eq!(a.matmul(&b)?.to_vec(), vec![3.0, 7.0]);
    /// let v = Tensor::<f32>::ones(&[2]);
    /// assert_eq!(v.matmul(&v)?.shape(), &[] as &[usize]);
    /// let batch = Tensor::<f32>::ones(&[4, 1, 3, 2]);
    /// assert_eq!(batch.matmul(&Tensor::ones(&[5, 2, 6]))?.shape(), &[4, 5, 3, 6]);
    /// assert!(Tensor::<f32>::scalar(1.0).matmul(&v).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let p = Plan::new(self.shape(), other.shape())?;
        let (a, b) = (self.row_major(), other.row_major());
        let count = p.batch_count();
        let (mut c, accumulate) = output_buffer(count * p.n * p.m, p.k, false);
        if p.foldable {
            // b is one matrix: the whole batch of a is one [count * n, k] matrix.
            let rows = count * p.n;
            let a = ArrayView2::from_shape((rows, p.k), &a[..]).expect("contiguous");
            let b = ArrayView2::from_shape((p.k, p.m), &b[..]).expect("contiguous");
            let c = ArrayViewMut2::from_shape((rows, p.m), &mut c[..]).expect("numel matches");
            gemm(a, b, c, accumulate);
        } else {
            let sa = stack(&a, p.n, p.k, false);
            let sb = stack(&b, p.k, p.m, false);
            batched(
                sa,
                sb,
                &mut c,
                count,
                |i| {
                    let (ia, ib) = p.operands_of(i);
                    [ia, ib, i]
                },
                accumulate,
            );
        }
        Tensor::from_vec(c, &p.out_shape)
    }
}

fn stack<T>(data: &[T], rows: usize, cols: usize, t: bool) -> Stack<'_, T> {
    Stack {
        data,
        rows,
        cols,
        t,
    }
}

/// Gradients of [`Tensor::matmul`]; a field is `None` when not requested.
///
/// ```
/// use ferrite_tensor::{matmul_backward, Tensor};
/// let a = Tensor::<f64>::ones(&[2, 3]);
/// let b = Tensor::<f64>::ones(&[3]);
/// let grads = matmul_backward(&a, &b, &Tensor::ones(&[2]), [true, true])?;
/// assert_eq!(grads.b.unwrap().to_vec(), vec![2.0; 3]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MatmulGrads<T: Float> {
    /// Gradient with respect to the left operand, its shape.
    pub a: Option<Tensor<T>>,
    /// Gradient with respect to the right operand, its shape.
    pub b: Option<Tensor<T>>,
}

/// Gradients of `a.matmul(b)` given `grad_output` (the result's shape): `g @ bᵀ` and
/// `aᵀ @ g`, summed over the batch dims each operand was broadcast along. `needs` =
/// `[a, b]`.
///
/// # Errors
/// When `a` and `b` cannot be multiplied, or `grad_output` does not have the result's shape.
///
/// ```
/// use ferrite_tensor::{matmul_backward, Tensor};
/// let a = Tensor::<f64>::ones(&[4, 2, 3]);
/// let b = Tensor::<f64>::full(&[3, 5], 2.0);
/// let grads = matmul_backward(&a, &b, &Tensor::ones(&[4, 2, 5]), [true, true])?;
/// assert_eq!(grads.a.unwrap().to_vec(), vec![10.0; 24]);
/// assert_eq!(grads.b.unwrap().to_vec(), vec![8.0; 15]); // summed over the batch
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn matmul_backward<T: Float>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    grad_output: &Tensor<T>,
    needs: [bool; 2],
) -> Result<MatmulGrads<T>> {
    let p = Plan::new(a.shape(), b.shape())?;
    if grad_output.shape() != p.out_shape.as_slice() {
        return Err(TensorError::shape(
            "matmul_backward",
            format!(
                "expected grad_output of shape {:?}, found {:?}",
                p.out_shape,
                grad_output.shape()
            ),
        ));
    }
    let (av, bv, g) = (a.row_major(), b.row_major(), grad_output.row_major());
    let grad_a = if needs[0] {
        let ga = grad_of_a(&p, &bv, &g);
        Some(Tensor::from_vec(ga, a.shape())?)
    } else {
        None
    };
    let grad_b = if needs[1] {
        let gb = grad_of_b(&p, &av, &g);
        Some(Tensor::from_vec(gb, b.shape())?)
    } else {
        None
    };
    Ok(MatmulGrads {
        a: grad_a,
        b: grad_b,
    })
}

/// `g @ bᵀ` for every batch entry, summed into the matrices of `a` it came from.
fn grad_of_a<T: Float>(p: &Plan, b: &[T], g: &[T]) -> Vec<T> {
    let count = p.batch_count();
    let accumulate = p.a_count != count;
    let (mut ga, accumulate) = output_buffer(p.a_count * p.n * p.k, p.m, accumulate);
    if p.foldable {
        let rows = count * p.n;
        let g = ArrayView2::from_shape((rows, p.m), g).expect("contiguous");
        let b = ArrayView2::from_shape((p.k, p.m), b).expect("contiguous");
        let c = ArrayViewMut2::from_shape((rows, p.k), &mut ga[..]).expect("numel matches");
        gemm(g, b.t(), c, accumulate);
    } else {
        batched(
            stack(g, p.n, p.m, false),
            stack(b, p.k, p.m, true),
            &mut ga,
            count,
            |i| {
                let (ia, ib) = p.operands_of(i);
                [i, ib, ia]
            },
            accumulate,
        );
    }
    ga
}

/// `aᵀ @ g` for every batch entry, summed into the matrices of `b` it came from; with a
/// single matrix `b` that sum is one product over the folded batch.
fn grad_of_b<T: Float>(p: &Plan, a: &[T], g: &[T]) -> Vec<T> {
    let count = p.batch_count();
    let accumulate = p.b_count != count;
    if p.foldable {
        let rows = count * p.n;
        let (mut gb, accumulate) = output_buffer(p.k * p.m, rows, false);
        let a = ArrayView2::from_shape((rows, p.k), a).expect("contiguous");
        let g = ArrayView2::from_shape((rows, p.m), g).expect("contiguous");
        let c = ArrayViewMut2::from_shape((p.k, p.m), &mut gb[..]).expect("numel matches");
        gemm(a.t(), g, c, accumulate);
        return gb;
    }
    let (mut gb, accumulate) = output_buffer(p.b_count * p.k * p.m, p.n, accumulate);
    batched(
        stack(a, p.n, p.k, true),
        stack(g, p.n, p.m, false),
        &mut gb,
        count,
        |i| {
            let (ia, ib) = p.operands_of(i);
            [ia, i, ib]
        },
        accumulate,
    );
    gb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    /// `torch.matmul` written as loops over the broadcast batch of promoted operands.
    fn naive(a: &Tensor<f64>, b: &Tensor<f64>) -> Vec<f64> {
        let p = Plan::new(a.shape(), b.shape()).unwrap();
        let (av, bv) = (a.to_vec(), b.to_vec());
        let mut out = Vec::new();
        for i in 0..p.batch_count() {
            let (ia, ib) = p.operands_of(i);
            for r in 0..p.n {
                for c in 0..p.m {
                    let s: f64 = (0..p.k)
                        .map(|q| {
                            av[ia * p.n * p.k + r * p.k + q] * bv[ib * p.k * p.m + q * p.m + c]
                        })
                        .sum();
                    out.push(s);
                }
            }
        }
        out
    }

    #[test]
    fn matches_loops_for_every_kind_of_operand() {
        let shapes: [(&[usize], &[usize], &[usize]); 9] = [
            (&[3], &[3], &[]),
            (&[3], &[3, 4], &[4]),
            (&[2, 3], &[3], &[2]),
            (&[3], &[2, 3, 4], &[2, 4]),
            (&[2, 3, 4], &[4], &[2, 3]),
            (&[2, 1, 3, 4], &[5, 4, 2], &[2, 5, 3, 2]),
            (&[6, 3, 4], &[6, 4, 2], &[6, 3, 2]),
            (&[2, 0, 3], &[3, 4], &[2, 0, 4]),
            (&[2, 3, 0], &[1, 0, 4], &[2, 3, 4]),
        ];
        let mut rng = seeded_rng(7);
        for (sa, sb, want) in shapes {
            let a = Tensor::<f64>::randn(sa, &mut rng);
            let b = Tensor::<f64>::randn(sb, &mut rng);
            let c = a.matmul(&b).unwrap();
            assert_eq!(c.shape(), want, "{sa:?} @ {sb:?}");
            for (x, y) in c.to_vec().iter().zip(naive(&a, &b)) {
                assert!((x - y).abs() < 1e-12, "{sa:?} @ {sb:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn gradients_are_summed_over_broadcast_batches() {
        let a = Tensor::<f64>::ones(&[2, 1, 2, 3]);
        let b = Tensor::<f64>::ones(&[4, 3, 5]);
        let g = Tensor::<f64>::ones(&[2, 4, 2, 5]);
        let grads = matmul_backward(&a, &b, &g, [true, true]).unwrap();
        // Each element of a meets 4 batches of b, 5 columns each.
        assert_eq!(grads.a.unwrap().to_vec(), vec![20.0; 12]);
        // Each element of b meets 2 batches of a, 2 rows each.
        assert_eq!(grads.b.unwrap().to_vec(), vec![4.0; 60]);
        let none = matmul_backward(&a, &b, &g, [false, false]).unwrap();
        assert!(none.a.is_none() && none.b.is_none());
    }
}
