//! The one place where matrix products are computed. `matmul`, `linear` and the convolution
//! kernels all call [`gemm()`] (or [`gemm_serial`] from inside their own parallel loops), so a
//! faster GEMM speeds up every one of them.
//!
//! `f32` and `f64` products run on the `gemm` crate (packed, cache-blocked, with AVX2/FMA
//! micro-kernels chosen at run time). It splits the work over rows and columns of the output
//! only, never over the inner dimension, and its blocking depends only on the shapes: every
//! output element is accumulated in the same order whatever the number of threads, so results
//! are bit-identical with 1, 2 or more threads (checked by the tests below).

use std::any::TypeId;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::Float;

/// `c = a @ b` (or `c += a @ b` when `accumulate`), for 2-D views of any strides, using the
/// threads of the current rayon pool for large products.
///
/// # Panics
/// When the inner dimensions or the output shape disagree (an internal invariant: callers
/// check user shapes first).
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[1.0f32, 0.0], [0.0, 1.0]];
/// let mut c = ndarray::Array2::<f32>::zeros((2, 2));
/// ferrite_tensor::gemm::gemm(a.view(), b.view(), c.view_mut(), false);
/// assert_eq!(c, a);
/// ```
pub fn gemm<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>, accumulate: bool) {
    gemm_with(a, b, c, accumulate, gemm::Parallelism::Rayon(0));
}

/// [`gemm()`] on the calling thread only: for products computed inside a parallel loop (one
/// image of a batch per task), where splitting each product again would only add overhead.
///
/// # Panics
/// As [`gemm()`].
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f64, 2.0]];
/// let b = array![[3.0f64], [4.0]];
/// let mut c = ndarray::Array2::<f64>::from_elem((1, 1), 1.0);
/// ferrite_tensor::gemm::gemm_serial(a.view(), b.view(), c.view_mut(), true);
/// assert_eq!(c[[0, 0]], 12.0);
/// ```
pub fn gemm_serial<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    gemm_with(a, b, c, accumulate, gemm::Parallelism::None);
}

// The crate's only `unsafe` block (the crate denies `unsafe_code` everywhere else).
#[allow(unsafe_code)]
fn gemm_with<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: cannot multiply {:?} by {:?} into {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    let supported =
        TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>();
    if !supported {
        // `Float` is only implemented for f32 and f64 in this crate; any other type takes the
        // generic (slower) path.
        let beta = if accumulate { T::one() } else { T::zero() };
        ndarray::linalg::general_mat_mul(T::one(), &a, &b, beta, &mut c);
        return;
    }
    if m == 0 || n == 0 {
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let (a_ptr, b_ptr, c_ptr) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY:
    // - `T` is f32 or f64 (checked above), the types `gemm::gemm` supports.
    // - `a` is an `m x k` view: for every `i < m`, `p < k` the element at
    //   `a_ptr + i * a_rs + p * a_cs` is inside its allocation (that is what a valid ndarray
    //   view with these dims and strides guarantees); likewise `b` (`k x n`) and `c` (`m x n`),
    //   which are exactly the offsets `gemm` reads or writes. When `k == 0` nothing of `a` or
    //   `b` is read.
    // - `c` comes from an `ArrayViewMut2`, a unique borrow: no other live reference (in
    //   particular not `a` or `b`, which are shared borrows) points into it, and a mutable
    //   view never has two indices mapping to the same element, so the writes do not alias.
    // - `read_dst = accumulate`: when false the old contents of `c` are ignored (`alpha` is
    //   unused), when true `c = 1 * c + 1 * a @ b`.
    // - The call returns only after every write is done (its rayon tasks are joined), so the
    //   borrows outlive all accesses.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c_ptr,
            c_cs,
            c_rs,
            accumulate,
            a_ptr,
            a_cs,
            a_rs,
            b_ptr,
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ShapeBuilder};

    use super::*;

    fn lcg(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    #[test]
    fn matches_a_naive_product_for_every_layout() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (70, 130, 65), (5, 0, 4)] {
            let a = Array2::from_shape_vec((m, k), lcg(1, m * k)).unwrap();
            let b = Array2::from_shape_vec((k, n), lcg(2, k * n)).unwrap();
            let expected = naive(&a, &b);
            // Column-major copies exercise the other strides.
            let a_f = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let b_f = Array2::from_shape_vec((k, n).f(), b.t().iter().copied().collect()).unwrap();
            for (av, bv) in [(a.view(), b.view()), (a_f.view(), b_f.view())] {
                let mut c = Array2::from_elem((m, n), f64::NAN);
                gemm(av, bv, c.view_mut(), false);
                let err = (&c - &expected).iter().fold(0.0f64, |e, v| e.max(v.abs()));
                assert!(err < 1e-12, "{m}x{k}x{n}: {err}");
                let mut acc = Array2::from_elem((m, n), 1.0);
                gemm_serial(av, bv, acc.view_mut(), true);
                let err = (&acc - &expected)
                    .iter()
                    .fold(0.0f64, |e, v| e.max((v - 1.0).abs()));
                assert!(err < 1e-12, "{m}x{k}x{n} accumulate: {err}");
            }
            let mut ct = Array2::from_elem((n, m), f64::NAN);
            gemm(b.t(), a.t(), ct.view_mut(), false);
            let err = (&ct.t() - &expected)
                .iter()
                .fold(0.0f64, |e, v| e.max(v.abs()));
            assert!(err < 1e-12, "{m}x{k}x{n} transposed: {err}");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let (m, k, n) = (300, 700, 260);
        let a: Vec<f32> = lcg(3, m * k).into_iter().map(|v| v as f32).collect();
        let b: Vec<f32> = lcg(4, k * n).into_iter().map(|v| v as f32).collect();
        let a = Array2::from_shape_vec((m, k), a).unwrap();
        let b = Array2::from_shape_vec((k, n), b).unwrap();
        let run = |threads: usize, transposed: bool| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut c = Array2::<f32>::zeros((m, n));
                if transposed {
                    let mut ct = Array2::<f32>::zeros((n, m));
                    gemm(b.t(), a.t(), ct.view_mut(), false);
                    c.assign(&ct.t());
                } else {
                    gemm(a.view(), b.view(), c.view_mut(), false);
                }
                c
            })
        };
        for transposed in [false, true] {
            let one = run(1, transposed);
            let serial = {
                let mut c = Array2::<f32>::zeros((m, n));
                if transposed {
                    let mut ct = Array2::<f32>::zeros((n, m));
                    gemm_serial(b.t(), a.t(), ct.view_mut(), false);
                    c.assign(&ct.t());
                } else {
                    gemm_serial(a.view(), b.view(), c.view_mut(), false);
                }
                c
            };
            assert_eq!(one, serial);
            for threads in [2, 3, 4] {
                assert_eq!(one, run(threads, transposed), "{threads} threads");
            }
        }
    }
}
