//! Thread-local switches: gradient recording (`no_grad`) and anomaly detection.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// True unless inside [`no_grad`] on this thread.
///
/// ```
/// use ferrite_autograd::{is_grad_enabled, no_grad};
/// assert!(is_grad_enabled());
/// no_grad(|| assert!(!is_grad_enabled()));
/// ```
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` without recording ops (like `with torch.no_grad():`): results of ops inside
/// require no gradient and hold no graph. Evaluation and optimizer updates use it.
///
/// ```
/// use ferrite_autograd::{no_grad, Var};
/// use ferrite_tensor::Tensor;
/// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
/// let y = no_grad(|| w.exp())?;
/// assert!(!y.requires_grad());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Runs `f` with gradient recording on, even inside [`no_grad`] (`torch.enable_grad()`).
///
/// ```
/// use ferrite_autograd::{enable_grad, no_grad, Var};
/// use ferrite_tensor::Tensor;
/// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
/// let y = no_grad(|| enable_grad(|| w.exp()))?;
/// assert!(y.requires_grad());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let _recording = GradModeGuard::enable();
    f()
}

/// Turns gradient recording on until dropped, then restores the previous state.
pub(crate) struct GradModeGuard {
    previous: bool,
}

impl GradModeGuard {
    pub(crate) fn enable() -> Self {
        GradModeGuard {
            previous: GRAD_ENABLED.with(|g| g.replace(true)),
        }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Disables gradient recording on this thread until dropped (the guard form of [`no_grad`]).
///
/// ```
/// use ferrite_autograd::{is_grad_enabled, NoGradGuard};
/// {
///     let _g = NoGradGuard::new();
///     assert!(!is_grad_enabled());
/// }
/// assert!(is_grad_enabled());
/// ```
#[derive(Debug)]
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables recording; the previous state comes back when the guard drops.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// True inside [`detect_anomaly`] on this thread.
///
/// ```
/// assert!(!ferrite_autograd::is_anomaly_enabled());
/// ```
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Runs `f` with anomaly detection (like `torch.autograd.detect_anomaly`): the first op whose
/// forward output or backward gradient contains NaN or infinity fails with an error naming the
/// op and its input shapes. Slower: every result is scanned.
///
/// ```
/// use ferrite_autograd::{detect_anomaly, Var};
/// use ferrite_tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::full(&[1], -1.0));
/// let err = detect_anomaly(|| x.log()).unwrap_err();
/// assert!(err.to_string().contains("'log'"));
/// ```
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    let previous = ANOMALY.with(|a| a.replace(true));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ANOMALY.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}
