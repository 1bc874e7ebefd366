//! Random generators: seeded ones to pass around, and the calling thread's default one
//! that layers draw their initial weights from (PyTorch's `torch.manual_seed`).

use std::cell::RefCell;

/// The random generator used for every seeded draw in ferrite (ChaCha8: fast, portable,
/// and the same stream on every platform).
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`: the same seed gives the same numbers everywhere.
///
/// ```
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let a = Tensor::<f64>::randn(&[2], &mut seeded_rng(42));
/// let b = Tensor::<f64>::randn(&[2], &mut seeded_rng(42));
/// assert_eq!(a, b);
/// ```
pub fn seeded_rng(seed: u64) -> Rng {
    use rand::SeedableRng;
    Rng::seed_from_u64(seed)
}

thread_local! {
    /// The default generator of this thread: `seeded_rng(0)` until `manual_seed` is called.
    static DEFAULT_RNG: RefCell<Rng> = RefCell::new(seeded_rng(0));
}

/// Re-seeds the calling thread's default generator, like `torch.manual_seed(seed)`: the
/// layers built afterwards on this thread (`Linear::new`, `Conv2d::new`, ...) draw the same
/// initial weights for the same seed. Each thread has its own default generator, starting
/// as `seeded_rng(0)`, so tests running in parallel do not disturb each other.
///
/// ```
/// use ferrite_tensor::{manual_seed, with_default_rng, Tensor};
/// manual_seed(7);
/// let a = with_default_rng(|rng| Tensor::<f32>::randn(&[3], rng));
/// manual_seed(7);
/// let b = with_default_rng(|rng| Tensor::<f32>::randn(&[3], rng));
/// assert_eq!(a, b);
/// ```
pub fn manual_seed(seed: u64) {
    DEFAULT_RNG.with(|rng| *rng.borrow_mut() = seeded_rng(seed));
}

/// Runs `f` with the calling thread's default generator (see [`manual_seed`]).
///
/// # Panics
/// When called again from inside `f` (the generator is borrowed for the duration of `f`).
///
/// ```
/// use ferrite_tensor::{manual_seed, seeded_rng, with_default_rng, Tensor};
/// manual_seed(3);
/// let drawn = with_default_rng(|rng| Tensor::<f64>::rand(&[2], rng));
/// assert_eq!(drawn, Tensor::<f64>::rand(&[2], &mut seeded_rng(3)));
/// ```
pub fn with_default_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    DEFAULT_RNG.with(|rng| f(&mut rng.borrow_mut()))
}
