//! Dropout's kernel, like PyTorch's `native_dropout`: a random mask of `1 / (1 - p)` (kept)
//! and 0 (dropped), and the input times the mask. The backward is `grad · mask`.

use rand::Rng as _;

use crate::{Float, Result, Rng, Tensor, TensorError, checked_numel};

const OP: &str = "dropout";

fn check_p(p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TensorError::invalid(
            OP,
            format!("the drop probability p must be between 0 and 1, found {p}"),
        ));
    }
    Ok(())
}

/// A dropout mask of `shape`: each element is `1 / (1 - p)` with probability `1 - p` and 0
/// with probability `p`, one draw of `rng` per element in row-major order (none when
/// `p = 1`, where the mask is all zeros, so that `x · mask` keeps NaN as PyTorch does).
///
/// # Errors
/// When `p` is not in `[0, 1]`, or the shape has too many elements.
///
/// ```
/// use ferrite_tensor::{dropout_mask, seeded_rng};
/// let mask = dropout_mask::<f32>(&[1000], 0.5, &mut seeded_rng(0))?;
/// assert!(mask.to_vec().iter().all(|&m| m == 0.0 || m == 2.0));
/// assert!(dropout_mask::<f32>(&[2], 1.5, &mut seeded_rng(0)).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn dropout_mask<T: Float>(shape: &[usize], p: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    check_p(p)?;
    let numel = checked_numel(OP, shape)?;
    let keep = 1.0 - p;
    if keep == 0.0 {
        return Tensor::try_zeros(shape);
    }
    let scale = T::of(1.0 / keep);
    let data = (0..numel)
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                T::zero()
            }
        })
        .collect();
    Tensor::from_vec(data, shape)
}

impl<T: Float> Tensor<T> {
    /// Zeroes each element with probability `p` and scales the survivors by `1 / (1 - p)`,
    /// like `F.dropout(input, p, training=True)` without autograd. Returns the output and
    /// the mask it was multiplied by ([`dropout_mask`]), which is also the gradient's
    /// factor: `dinput = grad · mask`.
    ///
    /// # Shapes
    /// Any shape; the output and the mask have the input's shape.
    ///
    /// # Errors
    /// When `p` is not in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Tensor::<f64>::full(&[4], 3.0);
    /// let (y, mask) = x.dropout(0.25, &mut seeded_rng(1))?;
    /// assert_eq!(y, x.mul(&mask)?);
    /// assert!(y.to_vec().iter().all(|&v| v == 0.0 || v == 4.0));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn dropout(&self, p: f64, rng: &mut Rng) -> Result<(Tensor<T>, Tensor<T>)> {
        let mask = dropout_mask(self.shape(), p, rng)?;
        Ok((self.mul(&mask)?, mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    #[test]
    fn drops_a_fraction_p_and_scales_the_rest() {
        let n = 100_000;
        for p in [0.1, 0.5, 0.8] {
            let mask = dropout_mask::<f64>(&[n], p, &mut seeded_rng(1))
                .unwrap()
                .to_vec();
            let dropped = mask.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
            // Binomial standard deviation sqrt(p(1-p)/n) <= 0.0016: 5 sigma is 0.008.
            assert!((dropped - p).abs() < 0.008, "p = {p}: dropped {dropped}");
            assert!(mask.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - p)));
        }
    }

    #[test]
    fn p_one_is_all_zeros_and_keeps_nan() {
        let x = Tensor::<f64>::from_vec(vec![f64::NAN, 1.0], &[2]).unwrap();
        let (y, mask) = x.dropout(1.0, &mut seeded_rng(0)).unwrap();
        assert_eq!(mask.to_vec(), vec![0.0, 0.0]);
        assert!(y.to_vec()[0].is_nan() && y.to_vec()[1] == 0.0);
    }

    #[test]
    fn same_generator_state_same_mask() {
        let (mut a, mut b) = (seeded_rng(3), seeded_rng(3));
        let m1 = dropout_mask::<f32>(&[64], 0.5, &mut a).unwrap();
        assert_eq!(m1, dropout_mask(&[64], 0.5, &mut b).unwrap());
        assert_ne!(m1, dropout_mask(&[64], 0.5, &mut a).unwrap());
    }

    #[test]
    fn refuses_p_outside_the_unit_interval() {
        for p in [-0.1, 1.01, f64::NAN] {
            let err = dropout_mask::<f32>(&[2], p, &mut seeded_rng(0)).unwrap_err();
            assert_eq!(err.op(), "dropout");
        }
        assert!(dropout_mask::<f32>(&[usize::MAX, 2], 0.5, &mut seeded_rng(0)).is_err());
    }
}
