//! Dropout's kernels, like PyTorch's `native_dropout` and `feature_dropout`: a random mask of
//! `1 / (1 - p)` (kept) and 0 (dropped), per element or per channel, and the input times
//! the mask. The backward of both is `grad · mask`.

use rand::Rng as _;

use crate::{Float, Result, Rng, Tensor, TensorError, checked_numel};

const OP: &str = "dropout";

fn check_p(op: &'static str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TensorError::invalid(
            op,
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
    mask(OP, shape, p, rng)
}

/// [`dropout_mask`], with errors naming `op`.
fn mask<T: Float>(op: &'static str, shape: &[usize], p: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    check_p(op, p)?;
    let numel = checked_numel(op, shape)?;
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

/// The mask of [`Tensor::dropout2d`] for an input of `shape` (at least 2 dims): one draw per
/// `(n, c)` pair, as [`dropout_mask`] draws them, in a mask of shape `[N, C, 1, ..., 1]`
/// that broadcasts over the rest.
///
/// # Errors
/// When `p` is not in `[0, 1]`, or the shape has fewer than 2 dims (unless `p = 1` or the
/// shape is empty: PyTorch then returns before looking at the dims).
///
/// ```
/// use ferrite_tensor::{dropout2d_mask, seeded_rng};
/// let mask = dropout2d_mask::<f32>(&[4, 3, 5, 5], 0.5, &mut seeded_rng(0))?;
/// assert_eq!(mask.shape(), &[4, 3, 1, 1]);
/// assert!(dropout2d_mask::<f32>(&[7], 0.5, &mut seeded_rng(0)).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn dropout2d_mask<T: Float>(shape: &[usize], p: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    check_p("dropout2d", p)?;
    // PyTorch returns before looking at the dims when nothing is drawn.
    let draws = p != 1.0 && !shape.contains(&0);
    if shape.len() < 2 && draws {
        return Err(TensorError::shape(
            "dropout2d",
            format!("expected an input with at least 2 dims [N, C, ...], found shape {shape:?}"),
        ));
    }
    let mut channels = vec![1; shape.len()];
    let lead = shape.len().min(2);
    channels[..lead].copy_from_slice(&shape[..lead]);
    mask("dropout2d", &channels, p, rng)
}

impl<T: Float> Tensor<T> {
    /// Zeroes whole channels: each `[n, c]` slice of an `[N, C, ...]` input is zeroed with
    /// probability `p`, the others scaled by `1 / (1 - p)`, like
    /// `F.dropout2d(input, p, training=True)` (PyTorch's `feature_dropout`) without
    /// autograd. Returns the output and the `[N, C, 1, ...]` mask it was multiplied by
    /// ([`dropout2d_mask`]): `dinput = grad · mask` (broadcast).
    ///
    /// As PyTorch does today, the first two dims are always `N` and `C`: a 3-D input is
    /// `[N, C, L]` (PyTorch warns that this will change to an unbatched `[C, H, W]`).
    ///
    /// # Shapes
    /// - input: `[N, C, ...]` (at least 2 dims)
    /// - output: the input's shape; mask: `[N, C, 1, ...]`
    ///
    /// # Errors
    /// When the input has fewer than 2 dims or `p` is not in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Tensor::<f64>::ones(&[2, 8, 3, 3]);
    /// let (y, mask) = x.dropout2d(0.5, &mut seeded_rng(1))?;
    /// // Each channel is all zeros or all twos.
    /// for channel in y.to_vec().chunks(9) {
    ///     assert!(channel.iter().all(|&v| v == channel[0]) && (channel[0] == 0.0 || channel[0] == 2.0));
    /// }
    /// assert_eq!(mask.shape(), &[2, 8, 1, 1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn dropout2d(&self, p: f64, rng: &mut Rng) -> Result<(Tensor<T>, Tensor<T>)> {
        let mask = dropout2d_mask(self.shape(), p, rng)?;
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

    #[test]
    fn dropout2d_zeroes_whole_channels_of_any_rank_from_2() {
        let x = Tensor::<f64>::full(&[50, 40, 2, 3], 3.0);
        let (y, mask) = x.dropout2d(0.3, &mut seeded_rng(2)).unwrap();
        assert_eq!(mask.shape(), &[50, 40, 1, 1]);
        let dropped = mask.to_vec().iter().filter(|&&m| m == 0.0).count() as f64 / 2000.0;
        // Binomial standard deviation sqrt(0.21 / 2000) = 0.0102: 5 sigma is 0.05.
        assert!((dropped - 0.3).abs() < 0.05, "dropped {dropped}");
        for (channel, m) in y.to_vec().chunks(6).zip(mask.to_vec()) {
            assert!(channel.iter().all(|&v| v == 3.0 * m));
        }
        // 3-D is [N, C, L] (PyTorch's feature_dropout), 2-D is [N, C].
        let (_, m3) = Tensor::<f64>::ones(&[2, 3, 4])
            .dropout2d(0.5, &mut seeded_rng(0))
            .unwrap();
        assert_eq!(m3.shape(), &[2, 3, 1]);
        let (_, m2) = Tensor::<f64>::ones(&[2, 3])
            .dropout2d(0.5, &mut seeded_rng(0))
            .unwrap();
        assert_eq!(m2.shape(), &[2, 3]);
        // The same draws as an element-wise mask of N·C elements.
        let flat = dropout_mask::<f64>(&[6], 0.5, &mut seeded_rng(0)).unwrap();
        assert_eq!(m2.to_vec(), flat.to_vec());
        let err = Tensor::<f64>::ones(&[4])
            .dropout2d(0.5, &mut seeded_rng(0))
            .unwrap_err();
        assert_eq!(err.op(), "dropout2d");
        let err = Tensor::<f64>::ones(&[2, 2])
            .dropout2d(1.5, &mut seeded_rng(0))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "dropout2d: the drop probability p must be between 0 and 1, found 1.5"
        );
    }
}
