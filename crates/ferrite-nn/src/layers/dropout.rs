//! `Dropout` and `Dropout2d`: random zeroing during training, PyTorch's `nn.Dropout` and
//! `nn.Dropout2d`. The masks are drawn by `ferrite_tensor::dropout_mask` and
//! `dropout2d_mask`, the ops are [`Var::dropout`] and [`Var::dropout2d`]; the layers own `p`,
//! the mode and, when seeded, a generator.

use std::marker::PhantomData;
use std::sync::Mutex;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Rng, TensorError, seeded_rng, with_default_rng};

use crate::Module;
use crate::module::TrainingFlag;

/// What both dropout layers hold: `p`, the mode, and where the masks come from.
struct Dropping {
    p: f64,
    training: TrainingFlag,
    /// The layer's own generator (`with_seed`), behind a mutex because [`Module::forward`]
    /// takes `&self`; `None`: the default generator of the thread calling `forward`.
    rng: Option<Mutex<Rng>>,
}

impl Dropping {
    fn new(p: f64) -> Self {
        Dropping {
            p,
            training: TrainingFlag::default(),
            rng: None,
        }
    }

    /// `drop(input, p, generator)` in training mode, the input itself in evaluation mode;
    /// a `p` outside `[0, 1]` is refused in both, naming `layer`.
    fn forward<T: Float>(
        &self,
        layer: &'static str,
        input: &Var<T>,
        drop: fn(&Var<T>, f64, &mut Rng) -> Result<Var<T>>,
    ) -> Result<Var<T>> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(TensorError::invalid(
                layer,
                format!(
                    "the drop probability p must be between 0 and 1, found {}",
                    self.p
                ),
            ));
        }
        if !self.training.get() {
            return Ok(input.clone());
        }
        match &self.rng {
            Some(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                drop(input, self.p, &mut rng)
            }
            None => with_default_rng(|rng| drop(input, self.p, rng)),
        }
    }
}

impl std::fmt::Debug for Dropping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dropping")
            .field("p", &self.p)
            .field("training", &self.training)
            .field("seeded", &self.rng.is_some())
            .finish()
    }
}

/// Zeroes each element with probability `p` during training and scales the survivors by
/// `1 / (1 - p)`, so that the expected value is unchanged; the identity in evaluation mode.
/// Like `torch.nn.Dropout(p)`.
///
/// The masks come from the default generator of the thread calling `forward`, as PyTorch's
/// come from its global generator: after [`manual_seed`](ferrite_tensor::manual_seed), a
/// run is reproducible. [`Dropout::with_seed`] gives the layer a generator of its own
/// instead, unaffected by any other draw. The element type `T` is only there so that
/// `dropout.eval()` knows which [`Module`] is meant.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Dropout, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(42);
/// let drop = Dropout::new(0.5);
/// let x = Var::new(Tensor::<f32>::ones(&[1000]));
/// let y = drop.forward(&x)?.value().to_vec();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // dropped, or scaled by 1 / (1 - p)
///
/// drop.eval();
/// assert_eq!(drop.forward(&x)?.value(), x.value()); // identity in evaluation mode
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Dropout<T: Float = f32> {
    state: Dropping,
    _element: PhantomData<fn() -> T>,
}

impl<T: Float> Default for Dropout<T> {
    /// `p = 0.5`, PyTorch's default.
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl<T: Float> Dropout<T> {
    /// Drops with probability `p`, in training mode. A `p` outside `[0, 1]` is not refused
    /// here: [`forward`](Module::forward) returns the error (naming `Dropout` and `p`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Dropout, Module};
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Dropout::<f32>::new(0.2).p(), 0.2);
    /// let err = Dropout::<f32>::new(1.5).forward(&Var::new(Tensor::ones(&[2]))).unwrap_err();
    /// assert_eq!(err.to_string(), "Dropout: the drop probability p must be between 0 and 1, found 1.5");
    /// ```
    pub fn new(p: f64) -> Self {
        Dropout {
            state: Dropping::new(p),
            _element: PhantomData,
        }
    }

    /// Gives the layer its own generator, seeded with `seed`: the same seed and the same
    /// sequence of calls give the same masks, whatever else draws random numbers.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Dropout, Module};
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::ones(&[64]));
    /// let (a, b) = (Dropout::new(0.5).with_seed(9), Dropout::new(0.5).with_seed(9));
    /// assert_eq!(a.forward(&x)?.value(), b.forward(&x)?.value());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.state.rng = Some(Mutex::new(seeded_rng(seed)));
        self
    }

    /// The drop probability.
    ///
    /// ```
    /// use ferrite_nn::Dropout;
    /// assert_eq!(Dropout::<f32>::default().p(), 0.5);
    /// ```
    pub fn p(&self) -> f64 {
        self.state.p
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
        self.state
            .forward("Dropout", input, |x, p, rng| x.dropout(p, rng))
    }

    fn type_name(&self) -> &'static str {
        "Dropout"
    }

    fn describe(&self) -> String {
        format!("Dropout(p={:?}, inplace=False)", self.state.p)
    }

    fn set_training(&self, training: bool) {
        self.state.training.set(training);
    }

    fn is_training(&self) -> bool {
        self.state.training.get()
    }
}

/// Zeroes whole channels during training: each `[n, c]` feature map of an `[N, C, H, W]`
/// input is zeroed with probability `p`, the others scaled by `1 / (1 - p)`; the identity
/// in evaluation mode. Like `torch.nn.Dropout2d(p)`, with the same generators as
/// [`Dropout`].
///
/// The first two dims are always `N` and `C`, as in PyTorch today: a 3-D input is read as
/// `[N, C, L]` (PyTorch warns that it will read it as an unbatched `[C, H, W]` in a future
/// release; for that, `unsqueeze(0)` the input first). Inputs with other than 3 or 4 dims
/// work as in PyTorch (where they are deprecated), except that fewer than 2 dims are refused.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Dropout2d, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// let drop = Dropout2d::new(0.5);
/// let y = drop.forward(&Var::new(Tensor::<f32>::ones(&[2, 16, 4, 4])))?.value().to_vec();
/// for map in y.chunks(16) {
///     assert!(map.iter().all(|&v| v == 0.0) || map.iter().all(|&v| v == 2.0));
/// }
/// drop.eval();
/// let x = Var::new(Tensor::<f32>::ones(&[2, 16, 4, 4]));
/// assert_eq!(drop.forward(&x)?.id(), x.id());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct Dropout2d<T: Float = f32> {
    state: Dropping,
    _element: PhantomData<fn() -> T>,
}

impl<T: Float> Default for Dropout2d<T> {
    /// `p = 0.5`, PyTorch's default.
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl<T: Float> Dropout2d<T> {
    /// Drops channels with probability `p`, in training mode. A `p` outside `[0, 1]` is
    /// not refused here: [`forward`](Module::forward) returns the error (naming
    /// `Dropout2d` and `p`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Dropout2d, Module};
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Dropout2d::<f32>::new(0.2).p(), 0.2);
    /// let err = Dropout2d::<f32>::new(-1.0).forward(&Var::new(Tensor::ones(&[1, 2, 2, 2]))).unwrap_err();
    /// assert_eq!(err.op(), "Dropout2d");
    /// ```
    pub fn new(p: f64) -> Self {
        Dropout2d {
            state: Dropping::new(p),
            _element: PhantomData,
        }
    }

    /// Gives the layer its own generator, seeded with `seed` (as [`Dropout::with_seed`]).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Dropout2d, Module};
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::ones(&[4, 8, 2, 2]));
    /// let (a, b) = (Dropout2d::new(0.5).with_seed(3), Dropout2d::new(0.5).with_seed(3));
    /// assert_eq!(a.forward(&x)?.value(), b.forward(&x)?.value());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.state.rng = Some(Mutex::new(seeded_rng(seed)));
        self
    }

    /// The probability of dropping a channel.
    ///
    /// ```
    /// use ferrite_nn::Dropout2d;
    /// assert_eq!(Dropout2d::<f32>::default().p(), 0.5);
    /// ```
    pub fn p(&self) -> f64 {
        self.state.p
    }
}

impl<T: Float> Module<T> for Dropout2d<T> {
    /// In training mode, `x · mask` with a fresh `[N, C, 1, 1]` mask of `1 / (1 - p)`
    /// (probability `1 - p`) and 0 (probability `p`); backward is `grad · mask`. In
    /// evaluation mode, or when `p = 0`, the input itself.
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]` (or `[N, C, L]`; at least 2 dims)
    /// - output: the input's shape
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        self.state
            .forward("Dropout2d", input, |x, p, rng| x.dropout2d(p, rng))
    }

    fn type_name(&self) -> &'static str {
        "Dropout2d"
    }

    fn describe(&self) -> String {
        format!("Dropout2d(p={:?}, inplace=False)", self.state.p)
    }

    fn set_training(&self, training: bool) {
        self.state.training.set(training);
    }

    fn is_training(&self) -> bool {
        self.state.training.get()
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
            let y = run(&Dropout::new(p).with_seed(1), &x);
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
        let drop = Dropout::new(0.25).with_seed(3);
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
        let drop = Dropout::new(0.9);
        drop.eval();
        assert!(!drop.is_training());
        assert_eq!(drop.forward(&x).unwrap().id(), x.id());
        let zero = Dropout::new(0.0);
        assert_eq!(run(&zero, &x), vec![1.0, -2.0, 3.0]);
        drop.train();
        assert!(drop.is_training());
    }

    #[test]
    fn p_one_gives_zeros() {
        let x = Var::parameter(Tensor::<f64>::full(&[10], 5.0));
        let drop = Dropout::new(1.0);
        let y = drop.forward(&x).unwrap();
        assert_eq!(y.value().to_vec(), vec![0.0; 10]);
        y.sum_all().unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec(), vec![0.0; 10]);
    }

    #[test]
    fn same_seed_same_masks() {
        let x = Var::new(Tensor::<f64>::ones(&[256]));
        let (a, b, c) = (
            Dropout::new(0.5).with_seed(9),
            Dropout::new(0.5).with_seed(9),
            Dropout::new(0.5).with_seed(10),
        );
        let (a1, a2) = (run(&a, &x), run(&a, &x));
        assert_eq!(a1, run(&b, &x));
        assert_eq!(a2, run(&b, &x));
        assert_ne!(a1, a2, "successive calls draw new masks");
        assert_ne!(a1, run(&c, &x));
        // Without a seed of its own, the layer draws from the thread's default generator.
        ferrite_tensor::manual_seed(5);
        let first = run(&Dropout::new(0.5), &x);
        ferrite_tensor::manual_seed(5);
        assert_eq!(first, run(&Dropout::new(0.5), &x));
        ferrite_tensor::manual_seed(5);
        let expected = ferrite_tensor::dropout_mask::<f64>(&[256], 0.5, &mut seeded_rng(5));
        assert_eq!(first, expected.unwrap().to_vec());
    }

    #[test]
    fn refuses_p_outside_unit_interval() {
        let x = Var::new(Tensor::<f32>::ones(&[2, 2, 1, 1]));
        for p in [-0.1, 1.01, f64::NAN] {
            let drop = Dropout::<f32>::new(p);
            assert_eq!(drop.forward(&x).unwrap_err().op(), "Dropout");
            drop.eval(); // refused in both modes, as PyTorch refuses it at construction
            assert_eq!(drop.forward(&x).unwrap_err().op(), "Dropout");
            let drop2d = Dropout2d::<f32>::new(p);
            assert_eq!(drop2d.forward(&x).unwrap_err().op(), "Dropout2d");
        }
        assert_eq!(
            Dropout::<f32>::default().describe(),
            "Dropout(p=0.5, inplace=False)"
        );
        assert_eq!(
            Dropout2d::<f32>::new(0.2).describe(),
            "Dropout2d(p=0.2, inplace=False)"
        );
    }

    #[test]
    fn dropout2d_zeroes_channels_and_backward_uses_the_mask() {
        let x = Var::parameter(Tensor::<f64>::full(&[8, 16, 3, 3], 2.0));
        let drop = Dropout2d::new(0.25).with_seed(4);
        let y = drop.forward(&x).unwrap();
        let values = y.value().to_vec();
        y.sum_all().unwrap().backward().unwrap();
        let g = x.grad().unwrap().to_vec();
        for (map, grads) in values.chunks(9).zip(g.chunks(9)) {
            let kept = map[0] != 0.0;
            assert!(
                map.iter()
                    .all(|&v| v == if kept { 2.0 / 0.75 } else { 0.0 })
            );
            assert!(
                grads
                    .iter()
                    .all(|&v| v == if kept { 1.0 / 0.75 } else { 0.0 })
            );
        }
        // A 3-D input is [N, C, L]: rows of L are kept or dropped together.
        let rows = run2d(&Dropout2d::new(0.5).with_seed(1), &[4, 5, 6]);
        for row in rows.chunks(6) {
            assert!(row.iter().all(|&v| v == row[0]));
        }
        let err = Dropout2d::<f64>::new(0.5)
            .forward(&Var::new(Tensor::ones(&[5])))
            .unwrap_err();
        assert_eq!(err.op(), "dropout2d");
        drop.eval();
        assert_eq!(drop.forward(&x).unwrap().id(), x.id());
    }

    fn run2d(drop: &Dropout2d<f64>, shape: &[usize]) -> Vec<f64> {
        let x = Var::new(Tensor::<f64>::ones(shape));
        drop.forward(&x).unwrap().value().to_vec()
    }
}
