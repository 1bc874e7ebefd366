//! `Dropout`: random zeroing during training, PyTorch's `nn.Dropout`. The mask is drawn by
//! `ferrite_tensor::dropout_mask`, the op is [`Var::dropout`]; the layer owns `p`, the mode
//! and the generator.

use std::marker::PhantomData;
use std::sync::Mutex;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Rng, TensorError, seeded_rng};
use rand::RngCore;

use crate::Module;
use crate::module::TrainingFlag;

/// Zeroes each element with probability `p` during training and scales the survivors by
/// `1 / (1 - p)`, so that the expected value is unchanged; the identity in evaluation mode.
/// Like `torch.nn.Dropout(p)`.
///
/// The layer owns its random generator, seeded at construction, so that a run is
/// reproducible: the same seed and the same sequence of calls give the same masks. The
/// generator sits behind a mutex because [`Module::forward`] takes `&self`. The element
/// type `T` is only there so that `dropout.eval()` knows which [`Module`] is meant.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Dropout, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let mut drop = Dropout::new(0.5, 42)?;
/// let x = Var::new(Tensor::<f32>::ones(&[1000]));
/// let y = drop.forward(&x)?.value().to_vec();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // dropped, or scaled by 1 / (1 - p)
///
/// drop.eval();
/// assert_eq!(drop.forward(&x)?.value(), x.value()); // identity in evaluation mode
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Dropout<T: Float = f32> {
    p: f64,
    training: TrainingFlag,
    rng: Mutex<Rng>,
    _element: PhantomData<fn() -> T>,
}

impl<T: Float> std::fmt::Debug for Dropout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dropout")
            .field("p", &self.p)
            .field("training", &self.training)
            .finish_non_exhaustive()
    }
}

impl<T: Float> Default for Dropout<T> {
    /// `p = 0.5` (PyTorch's default), generator seeded with 0.
    fn default() -> Self {
        Dropout {
            p: 0.5,
            training: TrainingFlag::default(),
            rng: Mutex::new(seeded_rng(0)),
            _element: PhantomData,
        }
    }
}

impl<T: Float> Dropout<T> {
    /// Drops with probability `p`, drawing masks from a generator seeded with `seed`.
    /// The layer starts in training mode.
    ///
    /// # Errors
    /// When `p` is not in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_nn::Dropout;
    /// assert_eq!(Dropout::<f32>::new(0.2, 0)?.p(), 0.2);
    /// assert!(Dropout::<f32>::new(1.5, 0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(TensorError::invalid(
                "Dropout",
                format!("the drop probability p must be between 0 and 1, found {p}"),
            ));
        }
        Ok(Dropout {
            p,
            training: TrainingFlag::default(),
            rng: Mutex::new(seeded_rng(seed)),
            _element: PhantomData,
        })
    }

    /// Like [`Dropout::new`], seeding the layer's generator from `rng` (so one seed for a
    /// whole model reproduces every layer).
    ///
    /// # Errors
    /// When `p` is not in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_nn::Dropout;
    /// use ferrite_tensor::seeded_rng;
    /// let drop = Dropout::<f32>::from_rng(0.1, &mut seeded_rng(7))?;
    /// assert_eq!(drop.p(), 0.1);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_rng(p: f64, rng: &mut Rng) -> Result<Self> {
        Self::new(p, rng.next_u64())
    }

    /// The drop probability.
    ///
    /// ```
    /// use ferrite_nn::Dropout;
    /// assert_eq!(Dropout::<f32>::default().p(), 0.5);
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl<T: Float> Module<T> for Dropout<T> {
    /// In training mode, `x · mask` with a fresh mask of `1 / (1 - p)` (probability `1 - p`)
    /// and 0 (probability `p`); backward is `grad · mask`. In evaluation mode, or when
    /// `p = 0`, the input itself.
    ///
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if !self.training.get() {
            return Ok(input.clone());
        }
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        input.dropout(self.p, &mut rng)
    }

    fn type_name(&self) -> &'static str {
        "Dropout"
    }

    fn describe(&self) -> String {
        format!("Dropout(p={:?}, inplace=False)", self.p)
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModuleExt;
    use ferrite_tensor::Tensor;

    fn run(drop: &Dropout<f64>, x: &Var<f64>) -> Vec<f64> {
        drop.forward(x).unwrap().value().to_vec()
    }

    #[test]
    fn drops_a_fraction_p_and_preserves_the_mean() {
        let n = 100_000;
        let x = Var::new(Tensor::<f64>::full(&[n], 3.0));
        for p in [0.1, 0.5, 0.8] {
            let y = run(&Dropout::new(p, 1).unwrap(), &x);
            let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
            // Binomial standard deviation sqrt(p(1-p)/n) <= 0.0016: 5 sigma is 0.008.
            assert!((dropped - p).abs() < 0.008, "p = {p}: dropped {dropped}");
            let survivors = 3.0 / (1.0 - p);
            assert!(y.iter().all(|&v| v == 0.0 || (v - survivors).abs() < 1e-12));
            let mean = y.iter().sum::<f64>() / n as f64;
            assert!(
                (mean - 3.0).abs() < 0.05 * 3.0 / (1.0 - p),
                "p = {p}: mean {mean}"
            );
        }
    }

    #[test]
    fn backward_uses_the_same_mask() {
        let x = Var::parameter(Tensor::<f64>::full(&[64], 2.0));
        let drop = Dropout::new(0.25, 3).unwrap();
        let y = drop.forward(&x).unwrap();
        let kept: Vec<bool> = y.value().to_vec().iter().map(|&v| v != 0.0).collect();
        y.sum_all().unwrap().backward().unwrap();
        let g = x.grad().unwrap().to_vec();
        for (k, gi) in kept.iter().zip(g) {
            assert_eq!(gi, if *k { 1.0 / 0.75 } else { 0.0 });
        }
    }

    #[test]
    fn eval_mode_and_p_zero_are_the_identity() {
        let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0, 3.0], &[3]).unwrap());
        let drop = Dropout::new(0.9, 0).unwrap();
        drop.eval();
        assert!(!drop.is_training());
        assert_eq!(drop.forward(&x).unwrap().id(), x.id());
        let zero = Dropout::new(0.0, 0).unwrap();
        assert_eq!(run(&zero, &x), vec![1.0, -2.0, 3.0]);
        drop.train();
        assert!(drop.is_training());
    }

    #[test]
    fn p_one_gives_zeros() {
        let x = Var::parameter(Tensor::<f64>::full(&[10], 5.0));
        let drop = Dropout::new(1.0, 0).unwrap();
        let y = drop.forward(&x).unwrap();
        assert_eq!(y.value().to_vec(), vec![0.0; 10]);
        y.sum_all().unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec(), vec![0.0; 10]);
    }

    #[test]
    fn same_seed_same_masks() {
        let x = Var::new(Tensor::<f64>::ones(&[256]));
        let (a, b, c) = (
            Dropout::new(0.5, 9).unwrap(),
            Dropout::new(0.5, 9).unwrap(),
            Dropout::new(0.5, 10).unwrap(),
        );
        let (a1, a2) = (run(&a, &x), run(&a, &x));
        assert_eq!(a1, run(&b, &x));
        assert_eq!(a2, run(&b, &x));
        assert_ne!(a1, a2, "successive calls draw new masks");
        assert_ne!(a1, run(&c, &x));
        let mut r1 = seeded_rng(5);
        let mut r2 = seeded_rng(5);
        assert_eq!(
            run(&Dropout::from_rng(0.5, &mut r1).unwrap(), &x),
            run(&Dropout::from_rng(0.5, &mut r2).unwrap(), &x)
        );
    }

    #[test]
    fn refuses_p_outside_unit_interval() {
        for p in [-0.1, 1.01, f64::NAN] {
            let err = Dropout::<f32>::new(p, 0).unwrap_err();
            assert_eq!(err.op(), "Dropout");
        }
        assert_eq!(
            Dropout::<f32>::default().describe(),
            "Dropout(p=0.5, inplace=False)"
        );
    }
}
